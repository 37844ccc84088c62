"""POST /webhooks/alertmanager: auth, limits, validation, durability, duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medickit import AM_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload, sample

URL = "/webhooks/alertmanager"


@pytest.mark.parametrize(
    ("headers", "detail_part"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer wrong-token"}, "does not match"),
        ({"Authorization": f"Basic {AM_TOKEN}"}, "missing"),
        ({"Authorization": f"Bearer {AM_TOKEN}x"}, "does not match"),
    ],
    ids=["none", "wrong", "wrong-scheme", "token-prefix"],
)
async def test_refuses_missing_or_wrong_bearer_token(
    start_medic: StartMedic, sqlite_url: str, headers: dict[str, str], detail_part: str
) -> None:
    """Without the configured bearer token the body is refused with 401 and nothing is stored."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.post(URL, json=am_payload(am_alert("fp1")), headers=headers)
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "unauthorized"
    assert detail_part in body["detail"]
    listing = await (await client.get("/api/incidents")).json()
    assert listing == {"incidents": []}


async def test_accepts_the_right_bearer_token(start_medic: StartMedic, sqlite_url: str) -> None:
    """The right token gets 200 with the counts, and the alert is an incident."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.post(URL, json=sample("real-am-0.25-firing"), headers=bearer())
    assert response.status == 200
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    listing = await (await client.get("/api/incidents")).json()
    assert [i["title"] for i in listing["incidents"]] == ["Always firing test alert"]


async def test_no_token_configured_means_open(start_medic: StartMedic, sqlite_url: str) -> None:
    """With ``alertmanager.bearer_token`` unset the webhook needs no header."""
    client = await start_medic(make_settings(sqlite_url, alertmanager={"bearer_token": None}))
    response = await client.post(URL, json=am_payload(am_alert("fp1")))
    assert response.status == 200


async def test_body_over_the_limit_is_413(start_medic: StartMedic, sqlite_url: str) -> None:
    """A body over ``server.max_body_bytes`` is refused with 413 in the JSON error shape."""
    client = await start_medic(make_settings(sqlite_url, server={"max_body_bytes": 2048}))
    payload = am_payload(am_alert("fp1", padding="x" * 4096))
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


async def test_body_over_the_limit_without_content_length_is_413(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A chunked body (no Content-Length) is cut off at the limit too."""
    client = await start_medic(make_settings(sqlite_url, server={"max_body_bytes": 2048}))
    raw = json.dumps(am_payload(am_alert("fp1", padding="x" * 4096))).encode()

    async def chunks() -> Any:
        for start in range(0, len(raw), 1000):
            yield raw[start : start + 1000]

    response = await client.post(URL, data=chunks(), headers=bearer())
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


async def test_bodies_over_aiohttp_default_are_accepted(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """aiohttp's own 1 MiB cap is raised to ``server.max_body_bytes`` (10 MiB by default)."""
    client = await start_medic(make_settings(sqlite_url))
    alerts = [am_alert(f"fp{n}", padding="y" * 3000) for n in range(500)]
    payload = am_payload(*alerts)
    assert len(json.dumps(payload)) > 1024 * 1024
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 200
    assert await response.json() == {"accepted": 500, "duplicates": 0}


async def test_invalid_json_is_400(start_medic: StartMedic, sqlite_url: str) -> None:
    """A body that is not JSON gets 400 ``invalid_json`` saying where."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.post(URL, data=b'{"version": "4",', headers=bearer())
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_json"
    assert "line 1" in body["detail"]


def _without(key: str) -> dict[str, Any]:
    payload = am_payload(am_alert("fp1"))
    del payload[key]
    return payload


def _alert_with(**changes: Any) -> dict[str, Any]:
    alert = am_alert("fp1")
    alert.update(changes)
    return am_payload(alert)


def _alert_without(key: str) -> dict[str, Any]:
    alert = am_alert("fp1")
    del alert[key]
    return am_payload(alert)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "<body>"),
        (_without("version"), "version"),
        ({**am_payload(am_alert("fp1")), "version": "3"}, "version"),
        (_without("groupKey"), "groupKey"),
        (_without("alerts"), "alerts"),
        ({**am_payload(am_alert("fp1")), "alerts": []}, "alerts"),
        ({**am_payload(am_alert("fp1")), "alerts": "nope"}, "alerts"),
        (_alert_without("startsAt"), "alerts.0.startsAt"),
        (_alert_with(startsAt="yesterday"), "alerts.0.startsAt"),
        (_alert_with(startsAt="2026-11-24T03:00:00"), "alerts.0.startsAt"),
        (_alert_with(status="burning"), "alerts.0.status"),
        (_alert_without("labels"), "alerts.0.labels"),
        (_alert_with(labels={"alertname": 7}), "alerts.0.labels.alertname"),
        (_alert_with(annotations=["x"]), "alerts.0.annotations"),
        (_alert_with(fingerprint=""), "alerts.0.fingerprint"),
        (_alert_with(labels={"alertname": "a\x00b"}), "groupLabels.alertname"),
        (_alert_with(generatorURL="http://x/\x00"), "alerts.0.generatorURL"),
    ],
    ids=[
        "not-an-object",
        "no-version",
        "wrong-version",
        "no-groupKey",
        "no-alerts",
        "empty-alerts",
        "alerts-not-list",
        "no-startsAt",
        "bad-startsAt",
        "naive-startsAt",
        "bad-status",
        "no-labels",
        "label-not-string",
        "annotations-not-object",
        "empty-fingerprint",
        "nul-in-label",
        "nul-in-generator-url",
    ],
)
async def test_schema_errors_are_400_naming_the_field(
    start_medic: StartMedic, sqlite_url: str, payload: Any, field: str
) -> None:
    """Each schema error gets 400 ``invalid_payload`` naming the bad field; nothing is stored."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_payload"
    assert body["detail"].startswith(f"{field}:") or f"; {field}:" in body["detail"]
    assert (await (await client.get("/api/incidents")).json()) == {"incidents": []}


async def test_one_bad_alert_rejects_the_whole_delivery(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A delivery is never half-applied: one invalid alert rejects its good siblings too."""
    client = await start_medic(make_settings(sqlite_url))
    bad = am_alert("fp2")
    bad["startsAt"] = "not a time"
    response = await client.post(URL, json=am_payload(am_alert("fp1"), bad), headers=bearer())
    assert response.status == 400
    assert (await (await client.get("/api/incidents")).json()) == {"incidents": []}


async def test_unknown_fields_are_accepted(start_medic: StartMedic, sqlite_url: str) -> None:
    """Fields of newer Alertmanager versions (notification_reason, routeLabels) are accepted."""
    client = await start_medic(make_settings(sqlite_url))
    payload = am_payload(am_alert("fp1"))
    payload["notification_reason"] = "new_alerts"
    payload["routeLabels"] = {"team": "sre"}
    payload["alerts"][0]["someFutureField"] = 1
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 200


async def test_duplicates_are_counted_and_ignored(start_medic: StartMedic, store_url: str) -> None:
    """The same (fingerprint, startsAt, status) from an HA peer or a repeat is ignored."""
    client = await start_medic(make_settings(store_url))
    payload = am_payload(am_alert("fp1"), am_alert("fp2"))
    first = await client.post(URL, json=payload, headers=bearer())
    again = await client.post(URL, json=payload, headers=bearer())
    mixed = await client.post(
        URL, json=am_payload(am_alert("fp1"), am_alert("fp3")), headers=bearer()
    )
    assert await first.json() == {"accepted": 2, "duplicates": 0}
    assert await again.json() == {"accepted": 0, "duplicates": 2}
    assert await mixed.json() == {"accepted": 1, "duplicates": 1}
    listing = (await (await client.get("/api/incidents")).json())["incidents"]
    assert [(i["id"], i["alert_count"]) for i in listing] == [("INC-1", 3)]
    metrics = await (await client.get("/metrics")).text()
    assert 'medic_alerts_duplicate_total{source="alertmanager"} 3.0' in metrics
    assert 'medic_alerts_received_total{source="alertmanager"} 6.0' in metrics


async def test_duplicates_are_ignored_across_a_restart(
    start_medic: StartMedic, store_url: str
) -> None:
    """Dedup is in the store, so a restarted Medic still recognises a re-sent alert."""
    settings = make_settings(store_url)
    first = await start_medic(settings)
    assert (await first.post(URL, json=am_payload(am_alert("fp1")), headers=bearer())).status == 200
    await first.close()
    second = await start_medic(settings)
    response = await second.post(URL, json=am_payload(am_alert("fp1")), headers=bearer())
    assert await response.json() == {"accepted": 0, "duplicates": 1}
    listing = (await (await second.get("/api/incidents")).json())["incidents"]
    assert [(i["id"], i["alert_count"]) for i in listing] == [("INC-1", 1)]


async def test_rejections_are_counted_by_reason(start_medic: StartMedic, sqlite_url: str) -> None:
    """``medic_deliveries_rejected_total`` counts refusals per reason."""
    client = await start_medic(make_settings(sqlite_url))
    await client.post(URL, json=am_payload(am_alert("fp1")))
    await client.post(URL, data=b"{", headers=bearer())
    await client.post(URL, json={"version": "4"}, headers=bearer())
    metrics = await (await client.get("/metrics")).text()
    for reason in ("unauthorized", "invalid_json", "invalid_payload"):
        line = f'medic_deliveries_rejected_total{{reason="{reason}",source="alertmanager"}} 1.0'
        assert line in metrics


async def test_tokens_never_reach_the_logs(
    start_medic: StartMedic, sqlite_url: str, log_stream: Any, tmp_path: Path
) -> None:
    """Neither the configured token nor a presented wrong one appears in any log line."""
    client = await start_medic(make_settings(sqlite_url))
    wrong = "presented-wrong-secret-31337"
    await client.post(URL, json=am_payload(am_alert("fp1")), headers=bearer())
    await client.post(URL, json=am_payload(am_alert("fp2")), headers=bearer(wrong))
    logs = log_stream.getvalue()
    assert '"accepted": 1' in logs
    assert '"event": "webhook.rejected"' in logs
    assert AM_TOKEN not in logs
    assert wrong not in logs
