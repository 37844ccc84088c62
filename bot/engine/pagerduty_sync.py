"""Medic → PagerDuty: page on escalation (once per incident and reason), and resolve what
Medic paged (or the linked PagerDuty incident) when Medic resolves the incident. A
resolution that came from PagerDuty is never sent back (no echo)."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
import structlog

from bot.engine.deps import EngineDeps
from bot.engine.pagerduty_events import dedup_key
from bot.errors import MedicError
from bot.store import incidents as incident_store
from bot.store.audit import record_event
from bot.store.schema import audit_events, runs, steps
from responders.pagerduty.client import PagerDutyClient

log = structlog.get_logger(__name__)
PAGED = "pagerduty.paged"
PAGING = "pagerduty.paging"
PAGE_ACTION = "pagerduty.page"


def client_of(deps: EngineDeps) -> PagerDutyClient | None:
    """The shared PagerDuty client when the integration is enabled."""
    client = deps.clients.get("pagerduty")
    return client if isinstance(client, PagerDutyClient) else None


async def page_escalation(deps: EngineDeps, incident_seq: int, reason: str) -> bool:
    """Page PagerDuty about an escalation, once per incident and reason; True when a page
    stands (sent now or before). The intent is committed to the audit trail before the page
    goes out, so a page is never sent without a trace, nor sent again for the same reason
    after a crash in between."""
    client = client_of(deps)
    if client is None:
        return False
    async with deps.db.connect() as conn:
        if reason in {p["reason"] for p in await _pages(conn, incident_seq)}:
            return True
    key = dedup_key(deps.install, incident_seq)
    await _record(
        deps,
        incident_seq,
        PAGING,
        f"Paging PagerDuty (dedup key {key}): {reason}",
        {"reason": reason, "dedup_key": key, "routing_key_name": None},
    )
    try:
        await client.trigger(
            client.routing_key_for(None),
            key,
            summary=f"[INC-{incident_seq}] {reason}",
            severity="critical",
            source="medic",
            custom_details={"medic_incident_id": f"INC-{incident_seq}", "reason": reason},
            links=_links(deps, incident_seq),
        )
    except MedicError as err:
        await _record(deps, incident_seq, "pagerduty.failed", f"Paging PagerDuty failed: {err}")
        return False
    await _record(
        deps,
        incident_seq,
        PAGED,
        f"Paged PagerDuty (dedup key {key})",
        {"reason": reason, "dedup_key": key, "routing_key_name": None},
    )
    return True


async def resolve_remote(deps: EngineDeps, incident_seq: int) -> None:
    """Medic resolved the incident: resolve what it paged, or the linked PagerDuty incident."""
    await _set_remote(deps, incident_seq, "resolved")


async def acknowledge_remote(deps: EngineDeps, incident_seq: int) -> None:
    """A human acknowledged in Medic (``/incident ack``): acknowledge what Medic paged, or the
    linked PagerDuty incident."""
    await _set_remote(deps, incident_seq, "acknowledged")


async def _set_remote(
    deps: EngineDeps, incident_seq: int, status: Literal["acknowledged", "resolved"]
) -> None:
    client = client_of(deps)
    if client is None:
        return
    async with deps.db.connect() as conn:
        paged = {(p["routing_key_name"], p["dedup_key"]) for p in await _pages(conn, incident_seq)}
        linked = await incident_store.pagerduty_link(conn, incident_seq)
    send = client.resolve if status == "resolved" else client.acknowledge
    verb = "Resolving" if status == "resolved" else "Acknowledging"
    try:
        for routing_key_name, key in sorted(paged, key=str):
            await send(client.routing_key_for(routing_key_name), key)
        if linked is not None and not paged:
            await client.set_status(linked, status)
    except MedicError as err:
        await _record(deps, incident_seq, "pagerduty.failed", f"{verb} in PagerDuty failed: {err}")
        return
    if paged or linked is not None:
        kind = "pagerduty.resolve" if status == "resolved" else "pagerduty.acknowledge"
        await _record(deps, incident_seq, kind, f"{status.capitalize()} in PagerDuty as well")


async def _pages(conn: Any, incident_seq: int) -> list[dict[str, Any]]:
    """Every page Medic sent for the incident: escalations and real pagerduty.page steps."""
    found: list[dict[str, Any]] = []
    escalations = await conn.execute(
        sa.select(audit_events.c.detail).where(
            audit_events.c.incident_seq == incident_seq,
            audit_events.c.kind.in_([PAGED, PAGING]),
        )
    )
    found += [dict(detail) for (detail,) in escalations]
    page_steps = await conn.execute(
        sa.select(steps.c.output)
        .join(runs, runs.c.seq == steps.c.run_seq)
        .where(
            runs.c.incident_seq == incident_seq,
            steps.c.action == PAGE_ACTION,
            steps.c.status == "succeeded",
            steps.c.dry_run.is_(False),
        )
    )
    found += [
        {
            "reason": "",
            "dedup_key": out["dedup_key"],
            "routing_key_name": out.get("routing_key_name"),
        }
        for (out,) in page_steps
        if out and out.get("dedup_key")
    ]
    return found


def _links(deps: EngineDeps, incident_seq: int) -> list[dict[str, str]]:
    public = deps.settings.server.public_url
    if public is None:
        return []
    return [
        {
            "href": f"{public.rstrip('/')}/api/incidents/INC-{incident_seq}",
            "text": f"Medic INC-{incident_seq}",
        }
    ]


async def _record(
    deps: EngineDeps,
    incident_seq: int,
    kind: str,
    text: str,
    detail: dict[str, Any] | None = None,
) -> None:
    async with deps.db.begin() as conn:
        await record_event(
            conn,
            at=deps.clock.now(),
            actor="medic",
            kind=kind,
            text=text,
            incident_seq=incident_seq,
            detail=detail,
        )
