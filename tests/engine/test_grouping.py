"""Alerts group into incidents by Alertmanager's groupKey until playbooks match."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from medickit import StartMedic, bearer, make_settings
from payloads import BASE_TIME, am_alert, am_payload

URL = "/webhooks/alertmanager"
OTHER_GROUP = '{}:{alertname="DiskSpaceLow"}'


async def _incidents(client: Any) -> list[dict[str, Any]]:
    listing: dict[str, list[dict[str, Any]]] = await (await client.get("/api/incidents")).json()
    return listing["incidents"]


async def _post(client: Any, *alerts: dict[str, Any], group_key: str | None = None) -> Any:
    keys = {} if group_key is None else {"group_key": group_key}
    payload = am_payload(*alerts, **keys)
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 200
    return await response.json()


async def test_same_group_key_is_one_incident(start_medic: StartMedic, store_url: str) -> None:
    """Alerts of one group, in several deliveries, share one incident; another group, another."""
    client = await start_medic(make_settings(store_url))
    await _post(client, am_alert("fp1", instance="a"))
    await _post(client, am_alert("fp2", instance="b"))
    await _post(client, am_alert("fp9", alertname="DiskSpaceLow"), group_key=OTHER_GROUP)
    incidents = await _incidents(client)
    assert [(i["id"], i["alert_count"], i["status"]) for i in incidents] == [
        ("INC-2", 1, "open"),
        ("INC-1", 2, "open"),
    ]


async def test_incident_resolves_when_all_its_alerts_have(
    start_medic: StartMedic, store_url: str, narration: Any
) -> None:
    """One resolved alert updates the incident; the last one resolves it."""
    client = await start_medic(make_settings(store_url))
    await _post(client, am_alert("fp1"), am_alert("fp2"))
    ended = BASE_TIME + timedelta(minutes=5)
    await _post(client, am_alert("fp1", status="resolved", ends_at=ended), am_alert("fp2"))
    (incident,) = await _incidents(client)
    assert incident["status"] == "open"
    await _post(client, am_alert("fp2", status="resolved", ends_at=ended))
    (incident,) = await _incidents(client)
    assert incident["status"] == "resolved"
    detail = await (await client.get("/api/incidents/INC-1")).json()
    assert {(a["fingerprint"], a["status"]) for a in detail["alerts"]} == {
        ("fp1", "resolved"),
        ("fp2", "resolved"),
    }
    assert [t["kind"] for t in detail["timeline"]] == [
        "incident.opened",
        "alert.firing",
        "alert.resolved",
        "alert.resolved",
        "incident.resolved",
    ]


async def test_firing_again_opens_a_new_incident_linking_the_old(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """After its incident resolved, the same alert firing again (new startsAt) opens a new one
    (flap reopening off: ``tests/engine/test_flapping.py`` has the window)."""
    client = await start_medic(make_settings(sqlite_url, playbooks={"flap_window": "0s"}))
    await _post(client, am_alert("fp1"))
    await _post(
        client, am_alert("fp1", status="resolved", ends_at=BASE_TIME + timedelta(minutes=1))
    )
    await _post(client, am_alert("fp1", starts_at=BASE_TIME + timedelta(hours=1)))
    incidents = await _incidents(client)
    assert [(i["id"], i["status"], i["previous"]) for i in incidents] == [
        ("INC-2", "open", "INC-1"),
        ("INC-1", "resolved", None),
    ]


async def test_late_firing_copy_after_resolution_changes_nothing(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """An HA peer's late firing copy of an episode already resolved neither reopens nor
    creates an incident."""
    client = await start_medic(make_settings(sqlite_url))
    await _post(
        client, am_alert("fp1", status="resolved", ends_at=BASE_TIME + timedelta(minutes=1))
    )
    answer = await _post(client, am_alert("fp1"))
    assert answer == {"accepted": 1, "duplicates": 0}
    assert await _incidents(client) == []


async def test_an_ignored_alert_opens_no_incident(start_medic: StartMedic, sqlite_url: str) -> None:
    """Watchdog (ignored by the kubernetes catalogue) is accepted and journaled but opens no
    incident; an alert beside it in the same delivery still does."""
    client = await start_medic(make_settings(sqlite_url, playbooks={"catalogues": ["kubernetes"]}))
    answer = await _post(
        client, am_alert("fp-dog", alertname="Watchdog", severity="none"), am_alert("fp1")
    )
    assert answer == {"accepted": 2, "duplicates": 0}
    incidents = await _incidents(client)
    assert [(i["id"], i["title"]) for i in incidents] == [("INC-1", "HighErrorRate is firing")]


async def test_late_resolution_of_an_older_episode_keeps_the_new_incident_open(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A resolved notification for an older startsAt does not resolve a newer firing."""
    client = await start_medic(make_settings(sqlite_url))
    newer = BASE_TIME + timedelta(hours=1)
    await _post(client, am_alert("fp1", starts_at=newer))
    await _post(
        client, am_alert("fp1", status="resolved", ends_at=BASE_TIME + timedelta(minutes=1))
    )
    (incident,) = await _incidents(client)
    assert incident["status"] == "open"


async def test_alert_storm_of_one_group_is_one_incident(
    start_medic: StartMedic, store_url: str, narration: Any
) -> None:
    """1,000 alerts of one group in 50 concurrent deliveries open exactly one incident."""
    client = await start_medic(make_settings(store_url))
    deliveries = [
        am_payload(*[am_alert(f"fp-{d}-{n}", pod=f"p{n}") for n in range(20)]) for d in range(50)
    ]
    answers = await asyncio.gather(
        *[client.post(URL, json=payload, headers=bearer()) for payload in deliveries]
    )
    assert [a.status for a in answers] == [200] * 50
    incidents = await _incidents(client)
    assert [(i["id"], i["alert_count"]) for i in incidents] == [("INC-1", 1000)]


async def test_narration_follows_the_incident(
    start_medic: StartMedic, sqlite_url: str, narration: Any
) -> None:
    """The console narrator prints opened, then resolved, for the incident."""
    client = await start_medic(make_settings(sqlite_url))
    await _post(client, am_alert("fp1"))
    await _post(
        client, am_alert("fp1", status="resolved", ends_at=BASE_TIME + timedelta(minutes=1))
    )
    await client.close()  # stopping drains the narration queue
    lines = narration.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["[INC-1]", "OPENED"], ["[INC-1]", "RESOLVED"]]
