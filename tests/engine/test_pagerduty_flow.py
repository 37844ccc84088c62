"""PagerDuty both ways, against a fake PagerDuty over TLS: escalations page once,
Medic's resolution resolves PagerDuty, PagerDuty's resolution resolves Medic, no echo."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.runtime import RUNTIME

from enginekit import RecordingNarrator, detail, write_playbooks
from fakes.pagerduty import FakePagerDuty
from fakes.slack import FakeSlack
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from pagerdutykit import PD_TOKEN, ROUTING_KEY
from payloads import BASE_TIME, am_alert, am_payload
from slackkit import FAST, command, slack_section

SECRET = "pd-webhook-secret-77"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

GUARDED = """
name: guarded
match: ['alertname="Guarded"']
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 5m, on_timeout: escalate, prompt: "restart?"}
  - id: verify
    uses: incident.escalate
    with: {reason: "APR-1 got no decision in time: restart?"}
"""


async def _medic(
    start_medic: StartMedic,
    url: str,
    tmp_path: Path,
    pagerduty: FakePagerDuty,
    slack: dict[str, Any] | None = None,
) -> tuple[Any, RecordingNarrator, ManualClock]:
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    settings = make_settings(
        url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=GUARDED))]},
        server={"api_token": API_TOKEN},
        slack=slack or {"approvers": ["U1"]},
        pagerduty={
            "enabled": True,
            "api_url": pagerduty.url,
            "events_url": pagerduty.url,
            "api_token": PD_TOKEN,
            "from_email": "medic@example.com",
            "routing_key": ROUTING_KEY,
            "webhook_secrets": [SECRET],
        },
    )
    client = await start_medic(
        settings,
        clock=clock,
        narrators=[narrator],
        tls=pagerduty.client_tls(),
        slack_timing=FAST,
    )
    return client, narrator, clock


def _events(pagerduty: FakePagerDuty) -> list[tuple[str, str]]:
    return [
        (r.json["event_action"], r.json["dedup_key"])
        for r in pagerduty.requests
        if r.path == "/v2/enqueue"
    ]


async def _settle(client: Any) -> None:
    """Wait for the side effects Medic started after its commits."""
    await client.server.app[RUNTIME].background.idle()


def _signed(kind: str, incident_key: str) -> dict[str, Any]:
    body = {
        "event": {
            "id": f"ev-{kind}",
            "event_type": f"incident.{kind}",
            "resource_type": "incident",
            "occurred_at": "2026-11-24T03:06:00Z",
            "agent": {"id": "PUSR1", "type": "user_reference", "summary": "Ana"},
            "data": {
                "id": "PDINC1",
                "number": 7,
                "incident_key": incident_key,
                "title": "paged by Medic",
                "status": kind,
            },
        }
    }
    raw = json.dumps(body).encode()
    signature = "v1=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"data": raw, "headers": {"X-PagerDuty-Signature": signature}}


async def _escalated(client: Any, narrator: RecordingNarrator, clock: ManualClock) -> str:
    """Fire, let the consent time out (escalate → page); return the dedup key paged."""
    payload = am_payload(am_alert("fp1", alertname="Guarded"))
    assert (
        await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
    ).status == 200
    await narrator.wait_for("approval_requested")
    clock.advance(timedelta(minutes=6))
    change = await narrator.wait_for("incident", lambda c: "ESCALATED" in c.text)
    assert change.text.endswith("(PagerDuty paged)")
    timeline = (await detail(client))["timeline"]
    (paged,) = [t["text"] for t in timeline if t["kind"] == "pagerduty.paged"]
    return paged.split("dedup key ")[1].rstrip(")")


async def test_consent_timeout_pages_once(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, pagerduty: FakePagerDuty
) -> None:
    """An approval timing out with ``on_timeout: escalate`` pages PagerDuty (dedup key
    medic/<install>/INC-1); the same reason escalated again does not page twice."""
    client, narrator, clock = await _medic(start_medic, sqlite_url, tmp_path, pagerduty)
    key = await _escalated(client, narrator, clock)
    assert key.startswith("medic/")
    assert key.endswith("/INC-1")
    run = (await detail(client))["runs"][0]
    assert (
        await client.post(
            f"/api/approvals/{run['approvals'][0]['id']}",
            json={"decision": "approve", "user": "U1"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    ).status == 200
    await narrator.run_end("RUN-1", "succeeded")
    assert _events(pagerduty) == [("trigger", key)]
    (trigger,) = [r for r in pagerduty.requests if r.path == "/v2/enqueue"]
    assert trigger.json["payload"]["severity"] == "critical"
    assert trigger.json["payload"]["custom_details"]["medic_incident_id"] == "INC-1"


async def test_medic_resolution_resolves_pagerduty_without_echo(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, pagerduty: FakePagerDuty
) -> None:
    """The alert resolving resolves the Medic incident, which resolves what it paged;
    PagerDuty's own resolved webhook coming back changes nothing and sends nothing."""
    client, narrator, clock = await _medic(start_medic, sqlite_url, tmp_path, pagerduty)
    key = await _escalated(client, narrator, clock)
    assert (await client.post("/webhooks/pagerduty", **_signed("triggered", key))).status == 202
    resolved = am_alert("fp1", alertname="Guarded", status="resolved", ends_at=BASE_TIME)
    await client.post("/webhooks/alertmanager", json=am_payload(resolved), headers=bearer())
    assert (await detail(client))["incident"]["status"] == "resolved"
    await _settle(client)
    assert _events(pagerduty) == [("trigger", key), ("resolve", key)]
    assert (await client.post("/webhooks/pagerduty", **_signed("resolved", key))).status == 202
    body = await detail(client)
    await _settle(client)
    assert _events(pagerduty) == [("trigger", key), ("resolve", key)]
    assert body["incident"]["status"] == "resolved"


async def test_pagerduty_resolution_is_not_echoed(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, pagerduty: FakePagerDuty
) -> None:
    """Acknowledged then resolved in PagerDuty: the Medic incident follows (acknowledged,
    resolved) and Medic sends nothing back to PagerDuty."""
    client, narrator, clock = await _medic(start_medic, sqlite_url, tmp_path, pagerduty)
    key = await _escalated(client, narrator, clock)
    statuses = []
    for kind in ("triggered", "acknowledged", "resolved"):
        assert (await client.post("/webhooks/pagerduty", **_signed(kind, key))).status == 202
        statuses.append((await detail(client))["incident"]["status"])
    await _settle(client)
    assert statuses == ["open", "acknowledged", "resolved"]
    assert _events(pagerduty) == [("trigger", key)]
    rest = [r for r in pagerduty.requests if r.path.startswith("/incidents")]
    assert rest == []


async def test_slack_ack_and_resolve_act_on_the_linked_pagerduty_incident(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    pagerduty: FakePagerDuty,
    fake_slack: FakeSlack,
) -> None:
    """An incident opened by PagerDuty: ``/incident ack`` and ``/incident resolve`` in its
    Slack channel set the PagerDuty incident acknowledged, then resolved (REST, with From)."""
    client, _, _ = await _medic(
        start_medic, sqlite_url, tmp_path, pagerduty, slack=slack_section(fake_slack)
    )
    assert (
        await client.post("/webhooks/pagerduty", **_signed("triggered", "not-medic"))
    ).status == 202
    channel = await fake_slack.wait_for(
        lambda: next((c for c in fake_slack.channels.values() if c.pins), None),
        "the incident channel",
        30,
    )
    await command(client, "ack", user="U0APPROVER", channel=channel.id)
    await _settle(client)
    await command(client, "resolve fixed upstream", user="U0APPROVER", channel=channel.id)
    await _settle(client)
    updates = [r for r in pagerduty.requests if r.method == "PUT"]
    assert [(r.path, r.json["incident"]["status"]) for r in updates] == [
        ("/incidents/PDINC1", "acknowledged"),
        ("/incidents/PDINC1", "resolved"),
    ]
    assert all({k.lower(): v for k, v in r.headers.items()}["from"] for r in updates)
    body = await detail(client)
    assert body["incident"]["status"] == "resolved"
    kinds = [t["kind"] for t in body["timeline"]]
    assert "pagerduty.acknowledge" in kinds
    assert "pagerduty.resolve" in kinds
