"""Medic → PagerDuty: page on escalation (once per incident and reason), and resolve or
acknowledge what Medic paged (or the linked PagerDuty incident) when Medic does. A
resolution that came from PagerDuty is never sent back (no echo: Medic calls no hook of the
integration that resolved)."""

from __future__ import annotations

from typing import Any, Literal

import structlog

from bot.actions.hooks import HookContext, IncidentDesk
from bot.errors import MedicError
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.events import dedup_key

log = structlog.get_logger(__name__)
PAGED = "pagerduty.paged"
PAGING = "pagerduty.paging"
PAGE_ACTION = "pagerduty.page"


def _client(context: HookContext) -> PagerDutyClient | None:
    client = context.client
    return client if isinstance(client, PagerDutyClient) else None


async def page_escalation(context: HookContext, incident_seq: int, reason: str) -> bool:
    """Page PagerDuty about an escalation, once per incident and reason; True when a page
    stands (sent now or before). The intent is committed to the timeline before the page
    goes out, so a page is never sent without a trace, nor sent again for the same reason
    after a crash in between."""
    client = _client(context)
    if client is None:
        return False
    desk = context.desk
    if reason in {p["reason"] for p in await _pages(desk, incident_seq)}:
        return True
    key = dedup_key(desk.install, incident_seq)
    detail = {"reason": reason, "dedup_key": key, "routing_key_name": None}
    await desk.record(incident_seq, PAGING, f"Paging PagerDuty (dedup key {key}): {reason}", detail)
    try:
        await client.trigger(
            client.routing_key_for(None),
            key,
            summary=f"[INC-{incident_seq}] {reason}",
            severity="critical",
            source="medic",
            custom_details={"medic_incident_id": f"INC-{incident_seq}", "reason": reason},
            links=_links(context, incident_seq),
        )
    except MedicError as err:
        await desk.record(incident_seq, "pagerduty.failed", f"Paging PagerDuty failed: {err}")
        return False
    await desk.record(incident_seq, PAGED, f"Paged PagerDuty (dedup key {key})", detail)
    return True


async def resolve_remote(context: HookContext, incident_seq: int, _actor: str) -> None:
    """Medic resolved the incident: resolve what it paged, or the linked PagerDuty incident."""
    await _set_remote(context, incident_seq, "resolved")


async def acknowledge_remote(context: HookContext, incident_seq: int, _actor: str) -> None:
    """A human acknowledged in Medic (``/incident ack``): acknowledge what Medic paged, or the
    linked PagerDuty incident."""
    await _set_remote(context, incident_seq, "acknowledged")


async def _set_remote(
    context: HookContext, incident_seq: int, status: Literal["acknowledged", "resolved"]
) -> None:
    client = _client(context)
    if client is None:
        return
    desk = context.desk
    paged = {(p["routing_key_name"], p["dedup_key"]) for p in await _pages(desk, incident_seq)}
    linked = await desk.linked_id(incident_seq)
    send = client.resolve if status == "resolved" else client.acknowledge
    verb = "Resolving" if status == "resolved" else "Acknowledging"
    try:
        for routing_key_name, key in sorted(paged, key=str):
            await send(client.routing_key_for(routing_key_name), key)
        if linked is not None and not paged:
            await client.set_status(linked, status)
    except MedicError as err:
        await desk.record(incident_seq, "pagerduty.failed", f"{verb} in PagerDuty failed: {err}")
        return
    if paged or linked is not None:
        kind = "pagerduty.resolve" if status == "resolved" else "pagerduty.acknowledge"
        await desk.record(incident_seq, kind, f"{status.capitalize()} in PagerDuty as well")


async def _pages(desk: IncidentDesk, incident_seq: int) -> list[dict[str, Any]]:
    """Every page Medic sent for the incident: escalations and real pagerduty.page steps."""
    found = await desk.timeline_details(incident_seq, [PAGED, PAGING])
    found += [
        {
            "reason": "",
            "dedup_key": out["dedup_key"],
            "routing_key_name": out.get("routing_key_name"),
        }
        for out in await desk.step_outputs(incident_seq, PAGE_ACTION)
        if out.get("dedup_key")
    ]
    return found


def _links(context: HookContext, incident_seq: int) -> list[dict[str, str]]:
    public = context.settings.server.public_url
    if public is None:
        return []
    return [
        {
            "href": f"{public.rstrip('/')}/api/incidents/INC-{incident_seq}",
            "text": f"Medic INC-{incident_seq}",
        }
    ]
