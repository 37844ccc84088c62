"""POST /webhooks/pagerduty: signatures (rotation, forged, missing), journal before 202,
duplicates, and the incident life cycle PagerDuty → Medic."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from bot.store import Database
from bot.store.switches import INSTALL, read_switch

from enginekit import RecordingNarrator, detail
from medickit import StartMedic, make_settings

URL = "/webhooks/pagerduty"
SECRET_OLD = "pd-secret-old-1f2e"
SECRET_NEW = "pd-secret-new-9a8b"
SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "samples" / "pagerduty"


def _event(kind: str, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / "webhook-v3-incident-triggered.json").read_text())
    body = copy.deepcopy(body)
    body["event"]["event_type"] = f"incident.{kind}"
    body["event"]["id"] = f"ev-{kind}-{data.pop('suffix', '')}"
    body["event"]["data"].update(data)
    if kind != "triggered":
        body["event"]["agent"] = {"id": "PUSR001", "type": "user_reference", "summary": "Ana"}
    return body


def _signed(body: dict[str, Any], *secrets: str, webhook_id: str | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    signature = ",".join(
        "v1=" + hmac.new(s.encode(), raw, hashlib.sha256).hexdigest() for s in secrets
    )
    headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}
    if webhook_id is not None:
        headers["X-Webhook-Id"] = webhook_id
    return {"data": raw, "headers": headers}


def _settings(url: str) -> Any:
    return make_settings(url, pagerduty={"webhook_secrets": [SECRET_OLD, SECRET_NEW]})


@pytest.mark.parametrize(
    ("secrets", "status", "error"),
    [
        ((), 400, "unauthorized"),
        (("not-our-secret",), 403, "forbidden"),
    ],
    ids=["missing", "forged"],
)
async def test_unsigned_or_forged_deliveries_are_refused_and_not_stored(
    start_medic: StartMedic, sqlite_url: str, secrets: tuple[str, ...], status: int, error: str
) -> None:
    """A missing signature is 400, a bad one 403; nothing is journaled (the same event,
    signed, is then new)."""
    client = await start_medic(_settings(sqlite_url))
    body = _event("triggered", suffix="x")
    request = _signed(body, *secrets)
    request["headers"] = {k: v for k, v in request["headers"].items() if v != ""}
    refused = await client.post(URL, **request)
    assert (refused.status, (await refused.json())["error"]) == (status, error)
    accepted = await client.post(URL, **_signed(body, SECRET_NEW))
    assert (accepted.status, await accepted.json()) == (202, {"accepted": 1, "duplicates": 0})


@pytest.mark.parametrize(
    "secrets",
    [(SECRET_OLD,), (SECRET_NEW,), ("wrong", SECRET_NEW)],
    ids=["old-secret", "new-secret", "one-of-several-v1"],
)
async def test_any_v1_entry_under_any_secret_is_valid(
    start_medic: StartMedic, sqlite_url: str, secrets: tuple[str, ...]
) -> None:
    """Secret rotation: every configured secret is tried against every v1 entry."""
    client = await start_medic(_settings(sqlite_url))
    response = await client.post(URL, **_signed(_event("triggered", suffix="r"), *secrets))
    assert response.status == 202


async def test_duplicates_by_webhook_id_or_event_id_across_restart(
    start_medic: StartMedic, store_url: str
) -> None:
    """At-least-once delivery: the same X-Webhook-Id or event id is accepted and ignored,
    also after a restart."""
    settings = _settings(store_url)
    first = await start_medic(settings)
    body = _event("triggered", suffix="d")
    assert (await (await first.post(URL, **_signed(body, SECRET_NEW, webhook_id="w1"))).json())[
        "accepted"
    ] == 1
    await first.close()
    second = await start_medic(settings)
    same_delivery = await second.post(URL, **_signed(body, SECRET_NEW, webhook_id="w1"))
    same_event = await second.post(URL, **_signed(body, SECRET_NEW, webhook_id="w2"))
    assert [await r.json() for r in (same_delivery, same_event)] == [
        {"accepted": 0, "duplicates": 1}
    ] * 2
    incidents = (await (await second.get("/api/incidents")).json())["incidents"]
    assert len(incidents) == 1


async def test_invalid_signed_body_is_400(start_medic: StartMedic, sqlite_url: str) -> None:
    """A signed body that is not a v3 event is 400 naming the field."""
    client = await start_medic(_settings(sqlite_url))
    response = await client.post(URL, **_signed({"event": {"id": "x"}}, SECRET_NEW))
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_payload")
    assert "event.event_type" in body["detail"]


async def test_pagerduty_life_cycle_drives_the_medic_incident(
    start_medic: StartMedic, store_url: str
) -> None:
    """triggered opens a Medic incident (an alert of source pagerduty) linked to the
    PagerDuty incident; acknowledged, annotated, resolved, reopened follow in its status and
    timeline."""
    narrator = RecordingNarrator()
    client = await start_medic(_settings(store_url), narrators=[narrator])
    steps = [
        ("triggered", {}, "open"),
        ("acknowledged", {"status": "acknowledged"}, "acknowledged"),
        ("annotated", {"content": "looking at the rollout"}, "acknowledged"),
        ("resolved", {"status": "resolved"}, "resolved"),
        ("reopened", {"status": "triggered"}, "open"),
    ]
    seen = []
    for kind, data, _ in steps:
        assert (await client.post(URL, **_signed(_event(kind, **data), SECRET_NEW))).status == 202
        seen.append((await detail(client))["incident"]["status"])  # reads wait for the engine

    assert seen == [status for _, _, status in steps]
    body = await detail(client)
    (alert,) = body["alerts"]
    assert (alert["source"], alert["fingerprint"]) == ("pagerduty", "Q2K8XZ0ABCDEF")
    texts = [t["text"] for t in body["timeline"] if t["actor"] == "pagerduty"]
    assert "Acknowledged in PagerDuty (#4211) by Ana" in texts
    assert "PagerDuty note by Ana: looking at the rollout" in texts
    assert "Resolved in PagerDuty (#4211) by Ana" in texts


async def test_triggered_with_medic_dedup_key_links_the_existing_incident(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A PagerDuty incident Medic paged (incident key medic/<install>/INC-n) attaches to
    that Medic incident instead of opening another."""
    client = await start_medic(_settings(sqlite_url))
    await client.post(
        "/webhooks/alertmanager",
        json={
            "version": "4",
            "groupKey": "g",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "X"},
                    "startsAt": "2026-11-24T03:00:00Z",
                    "fingerprint": "fpx",
                }
            ],
        },
        headers={"Authorization": "Bearer am-token-5f1b0c9e"},
    )
    db = Database(sqlite_url)
    async with db.connect() as conn:
        state = await read_switch(conn, INSTALL)
    await db.close()
    assert state is not None
    key = f"medic/{state.value['id']}/INC-1"
    body = _event("triggered", suffix="own", incident_key=key)
    assert (await client.post(URL, **_signed(body, SECRET_NEW))).status == 202
    listing = (await (await client.get("/api/incidents")).json())["incidents"]
    assert [i["id"] for i in listing] == ["INC-1"]
    timeline = [t["text"] for t in (await detail(client))["timeline"]]
    assert "PagerDuty incident #4211 opened for this incident" in timeline


async def test_a_poison_event_is_skipped_and_alerts_still_flow(
    start_medic: StartMedic, sqlite_url: str, log_stream: Any
) -> None:
    """An event whose processing fails every time (an incident key naming an impossible
    Medic incident) is skipped and logged; alerts keep becoming incidents."""
    client = await start_medic(_settings(sqlite_url))
    db = Database(sqlite_url)
    async with db.connect() as conn:
        state = await read_switch(conn, INSTALL)
    await db.close()
    assert state is not None
    poison = _event(
        "triggered", suffix="poison", incident_key=f"medic/{state.value['id']}/INC-" + "9" * 30
    )
    assert (await client.post(URL, **_signed(poison, SECRET_NEW))).status == 202
    await client.post(
        "/webhooks/alertmanager",
        json={
            "version": "4",
            "groupKey": "g",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Y"},
                    "startsAt": "2026-11-24T03:00:00Z",
                    "fingerprint": "fpy",
                }
            ],
        },
        headers={"Authorization": "Bearer am-token-5f1b0c9e"},
    )
    listing = (await (await client.get("/api/incidents")).json())["incidents"]
    assert [(i["id"], i["title"]) for i in listing] == [("INC-1", "Y")]
    skipped = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [e["inbound_event"] for e in skipped if e["event"] == "intake.event_skipped"] == [1]
