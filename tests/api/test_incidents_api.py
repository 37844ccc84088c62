"""GET /api/incidents, /api/incidents/{id}, /healthz, /readyz, /metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from medickit import StartMedic, bearer, make_settings
from payloads import BASE_TIME, am_alert, am_payload, sample

URL = "/webhooks/alertmanager"
LIST_KEYS = {
    "id",
    "title",
    "severity",
    "status",
    "created_at",
    "updated_at",
    "alert_count",
    "playbooks",
    "slack_channel",
}


async def _seed(client: Any) -> None:
    """INC-1 resolved, INC-2 open."""
    for name in ("sla-availability-violation", "sla-availability-violation.resolved"):
        assert (await client.post(URL, json=sample(name), headers=bearer())).status == 200
    assert (await client.post(URL, json=sample("node-high-memory"), headers=bearer())).status == 200


async def test_list_shape_newest_first(start_medic: StartMedic, store_url: str) -> None:
    """The list has every documented field, newest incident first."""
    client = await start_medic(make_settings(store_url))
    await _seed(client)
    body = await (await client.get("/api/incidents")).json()
    assert [i["id"] for i in body["incidents"]] == ["INC-2", "INC-1"]
    assert all(set(i) >= LIST_KEYS for i in body["incidents"])
    first = body["incidents"][1]
    assert first["title"] == "DWCP v3 availability below 99.9% for 5 minutes"
    assert (first["severity"], first["status"], first["alert_count"]) == ("sev1", "resolved", 1)
    assert (first["playbooks"], first["slack_channel"]) == ([], None)


@pytest.mark.parametrize(
    ("status", "ids"),
    [("open", ["INC-2"]), ("resolved", ["INC-1"]), ("acknowledged", []), ("mitigating", [])],
)
async def test_status_filter_is_exact(
    start_medic: StartMedic, sqlite_url: str, status: str, ids: list[str]
) -> None:
    """``?status=`` returns only incidents with exactly that status."""
    client = await start_medic(make_settings(sqlite_url))
    await _seed(client)
    body = await (await client.get("/api/incidents", params={"status": status})).json()
    assert [i["id"] for i in body["incidents"]] == ids


async def test_unknown_status_filter_is_400(start_medic: StartMedic, sqlite_url: str) -> None:
    """A status that does not exist is a 400 naming ``status``."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.get("/api/incidents", params={"status": "closed"})
    assert response.status == 400
    body = await response.json()
    assert (body["error"], body["detail"].split(":")[0]) == ("invalid_payload", "status")


async def test_detail_shape(start_medic: StartMedic, store_url: str) -> None:
    """The detail carries the incident, its alerts, runs and timeline in the documented shape."""
    client = await start_medic(make_settings(store_url))
    await _seed(client)
    body = await (await client.get("/api/incidents/INC-1")).json()
    assert set(body) == {"incident", "alerts", "runs", "timeline"}
    assert body["incident"]["id"] == "INC-1"
    (alert,) = body["alerts"]
    assert {"fingerprint", "status", "labels", "annotations", "starts_at", "source"} <= set(alert)
    assert (alert["fingerprint"], alert["status"], alert["source"]) == (
        "9a5711d875dc387c",
        "resolved",
        "alertmanager",
    )
    assert alert["labels"]["deployment"] == "dwcp-v3"
    assert alert["starts_at"] == "2026-11-24T03:00:00Z"
    assert body["runs"] == []
    assert [set(t) for t in body["timeline"]] == [{"at", "actor", "kind", "text", "via"}] * 3


@pytest.mark.parametrize("incident", ["INC-99", "inc-1", "42", "INC-x"])
async def test_unknown_incident_is_404(
    start_medic: StartMedic, sqlite_url: str, incident: str
) -> None:
    """An id that names no incident is 404 ``not_found``."""
    client = await start_medic(make_settings(sqlite_url))
    await _seed(client)
    response = await client.get(f"/api/incidents/{incident}")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"


async def test_unknown_route_is_json_404(start_medic: StartMedic, sqlite_url: str) -> None:
    """Even an unknown path answers in the JSON error shape."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.get("/api/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"


async def test_wrong_method_is_json_405_naming_the_allowed_ones(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A method a path does not take answers 405 ``method_not_allowed`` in the JSON error
    shape, with the ``Allow`` header HTTP requires (seen failing: the header was dropped
    when the answer was rewritten into the JSON shape)."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.delete(URL)
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(",")) == {"POST"}


async def test_health_and_readiness(start_medic: StartMedic, sqlite_url: str) -> None:
    """``/healthz`` and ``/readyz`` answer 200 on a working store."""
    client = await start_medic(make_settings(sqlite_url))
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    assert await (await client.get("/readyz")).json() == {"status": "ready"}


async def test_metrics_exposition(start_medic: StartMedic, sqlite_url: str) -> None:
    """``/metrics`` is Prometheus text with medic_ names, ingest latency observed."""
    client = await start_medic(make_settings(sqlite_url))
    ended = BASE_TIME + timedelta(minutes=1)
    await client.post(URL, json=am_payload(am_alert("fp1")), headers=bearer())
    await client.post(
        URL, json=am_payload(am_alert("fp1", status="resolved", ends_at=ended)), headers=bearer()
    )
    await client.get("/api/incidents")  # the API waits for intake; /metrics never blocks
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'medic_alerts_received_total{source="alertmanager"} 2.0' in text
    assert 'medic_ingest_latency_seconds_count{source="alertmanager"} 2.0' in text
    assert "medic_incidents_opened_total 1.0" in text
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
    }
    assert all(name.startswith("medic_") for name in names)


async def test_limit_past_the_integer_range_lists_everything(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A ``?limit=`` too large for the store's integers lists every incident (it was a 500,
    found by schemathesis)."""
    client = await start_medic(make_settings(sqlite_url))
    await _seed(client)
    response = await client.get("/api/incidents", params={"limit": "2" * 30})
    assert response.status == 200
    assert [i["id"] for i in (await response.json())["incidents"]] == ["INC-2", "INC-1"]


@pytest.mark.parametrize(
    ("params", "listed"),
    [({"limit": "1"}, [("INC-2", 1)]), ({"status": "resolved", "limit": "5"}, [("INC-1", 1)])],
)
async def test_counts_follow_the_filtered_selection(
    start_medic: StartMedic, store_url: str, params: dict[str, str], listed: list[Any]
) -> None:
    """With ``?limit=`` and ``?status=`` each listed incident still has its own alert count
    (they are read for the same selection as the list)."""
    client = await start_medic(make_settings(store_url))
    await _seed(client)
    body = await (await client.get("/api/incidents", params=params)).json()
    assert [(i["id"], i["alert_count"]) for i in body["incidents"]] == listed
