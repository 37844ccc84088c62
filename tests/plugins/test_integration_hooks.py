"""A third-party integration built only from ``bot.plugins`` uses every hook Medic's own
two-way integrations use: a webhook route journaling through the inbox, an ``inbound``
mapper opening, linking and resolving incidents in the intake transaction, ``on_resolved``
(never for its own resolutions) and a background service started and stopped with Medic."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.http.errors import ErrorCode, HttpError
from bot.integrations import installed_integrations
from bot.models import Alert, AlertSource, AlertStatus
from bot.plugins import (
    HookContext,
    InboundEvent,
    IntakeDesk,
    Integration,
    Route,
    Service,
    inbox_of,
)

from enginekit import detail
from medickit import bearer, make_settings
from payloads import am_alert, am_payload


class Relay:
    """What the ``relay`` integration saw, for the test to read."""

    def __init__(self) -> None:
        self.resolved: list[tuple[int, str]] = []
        self.resolved_seen = asyncio.Event()
        self.service_states: list[str] = []


RELAY = Relay()


async def relay_webhook(request: web.Request) -> web.Response:
    """Journal ``{"id", "kind", "title"}``; 400 without an id."""
    body = await request.json()
    if not body.get("id"):
        raise HttpError(ErrorCode.INVALID_PAYLOAD, "no id")
    fresh = await inbox_of(request).journal(
        "relay", InboundEvent(event_id=body["id"], event_type=body["kind"], payload=body)
    )
    return web.json_response({"fresh": fresh}, status=202)


async def take_relay_event(desk: IntakeDesk, payload: Mapping[str, Any]) -> None:
    """``open`` opens an incident through the normal intake and links it to the relay's
    ``ref``; ``close`` resolves the linked incident."""
    if payload["kind"] == "open":
        alert = Alert(
            source=AlertSource.MANUAL,
            fingerprint=payload["ref"],
            status=AlertStatus.FIRING,
            labels={"alertname": payload["title"]},
            annotations={"summary": payload["title"]},
            starts_at=datetime(2026, 12, 3, tzinfo=UTC),
            group_key=f"relay:{payload['ref']}",
        )
        incident = await desk.open_from_alert(alert)
        assert incident is not None
        await desk.link(incident.seq, payload["ref"])
        return
    linked = await desk.linked(payload["ref"])
    assert linked is not None
    await desk.resolve(linked, actor="relay", text=f"Closed in the relay ({payload['ref']})")


async def relay_resolved(_context: HookContext, incident_seq: int, actor: str) -> None:
    """Remember each resolution Medic tells the relay about."""
    RELAY.resolved.append((incident_seq, actor))
    RELAY.resolved_seen.set()


class RelayService:
    """A background service that only records its lifecycle."""

    async def start(self) -> None:
        """Record."""
        RELAY.service_states.append("started")

    async def stop(self) -> None:
        """Record."""
        RELAY.service_states.append("stopped")


def relay_services(_context: HookContext) -> Sequence[Service]:
    """One recording service."""
    return [RelayService()]


RELAY_INTEGRATION = Integration(
    name="relay",
    routes=[Route("POST", "/webhooks/relay", relay_webhook, summary="The relay's webhook")],
    inbound=take_relay_event,
    on_resolved=relay_resolved,
    services=relay_services,
)


async def test_a_third_party_integration_uses_every_hook(tmp_path: Path) -> None:
    """A relay event opens and links an incident; a repeated delivery is a duplicate; the
    relay's close resolves it without echoing back; an Alertmanager resolution elsewhere is
    told to the relay's ``on_resolved``; a refused delivery is counted under its name; its
    service runs exactly while Medic does."""
    settings = make_settings(f"sqlite:///{tmp_path / 'medic.db'}")
    app = build_app(settings, integrations=[*installed_integrations(), RELAY_INTEGRATION])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert RELAY.service_states == ["started"]
        opened = {"id": "e1", "kind": "open", "ref": "R-7", "title": "Relay down"}
        first = await client.post("/webhooks/relay", json=opened)
        again = await client.post("/webhooks/relay", json=opened)
        assert (first.status, await first.json()) == (202, {"fresh": True})
        assert (again.status, await again.json()) == (202, {"fresh": False})
        assert (await detail(client, "INC-1"))["incident"]["title"] == "Relay down"

        closed = await client.post(
            "/webhooks/relay", json={"id": "e2", "kind": "close", "ref": "R-7"}
        )
        assert closed.status == 202
        relayed = await detail(client, "INC-1")
        assert relayed["incident"]["status"] == "resolved"
        assert "Closed in the relay (R-7)" in [e["text"] for e in relayed["timeline"]]

        firing = am_alert("fp9", alertname="Other")
        for alert in (firing, {**firing, "status": "resolved", "endsAt": firing["startsAt"]}):
            payload = am_payload(alert, group_key='{}:{alertname="Other"}')
            answer = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
            assert answer.status == 200
        async with asyncio.timeout(10):
            await RELAY.resolved_seen.wait()
        assert RELAY.resolved == [(2, "medic")]

        refused = await client.post("/webhooks/relay", json={"kind": "open"})
        assert refused.status == 400
        metrics = await (await client.get("/metrics")).text()
        assert 'medic_deliveries_rejected_total{reason="invalid_payload",source="relay"} 1.0' in (
            metrics
        )
    finally:
        await client.close()
    assert RELAY.service_states == ["started", "stopped"]
