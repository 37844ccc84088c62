"""Map journaled PagerDuty webhook events onto Medic incidents (issue: PagerDuty both ways).

``incident.triggered`` links to the Medic incident that paged it (its incident key is
Medic's dedup key ``medic/<install id>/INC-<n>``) or opens a Medic incident through the
normal intake, as an alert of source ``pagerduty``; acknowledged, resolved, reopened,
escalated and annotated update the linked incident and its timeline. A resolution that came
from PagerDuty is never echoed back to it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine.intake import IntakeResult, resolve_incident, take_batch
from bot.events import IncidentChangeKind
from bot.models import Alert, AlertSource, AlertStatus, IncidentStatus
from bot.playbooks.playbook import PlaybookSet
from bot.store import inbound, journal
from bot.store import incidents as incident_store
from bot.store.audit import record_event
from bot.store.incidents import IncidentRow
from responders.pagerduty.webhook_models import PagerDutyEvent, PagerDutyWebhook

log = structlog.get_logger(__name__)
ACTOR = AlertSource.PAGERDUTY.value
_OWN_KEY = re.compile(r"^medic/(?P<install>[0-9a-f]+)/INC-(?P<seq>\d+)$")


def dedup_key(install: str, incident_seq: int) -> str:
    """The incident key Medic pages with: unique to this installation and incident."""
    return f"medic/{install}/INC-{incident_seq}"


async def take_inbound_events(
    conn: AsyncConnection,
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
    install: str,
    limit: int,
) -> int | None:
    """Process up to ``limit`` journaled PagerDuty events; the last one's number (None when
    there were none)."""
    pending = await inbound.unprocessed_events(conn, limit)
    for seq, payload in pending:
        event = PagerDutyWebhook.model_validate(payload).event
        with structlog.contextvars.bound_contextvars(pagerduty_event=event.id):
            await _take(conn, event, now, result, playbooks, install)
        await inbound.mark_event_processed(conn, seq, now)
    return pending[-1][0] if pending else None


async def _take(
    conn: AsyncConnection,
    event: PagerDutyEvent,
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
    install: str,
) -> None:
    data = event.data
    pd_id = data.incident.id if data.incident is not None else data.id
    incident = await incident_store.find_by_pagerduty(conn, pd_id)
    if incident is None and event.event_type == "incident.triggered":
        incident = await _link_or_open(conn, event, now, result, playbooks, install)
    if incident is None:
        log.info("pagerduty.unlinked_event", event_type=event.event_type, incident=pd_id)
        return
    await _apply(conn, event, incident, now, result, playbooks)


async def _link_or_open(
    conn: AsyncConnection,
    event: PagerDutyEvent,
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
    install: str,
) -> IncidentRow | None:
    data = event.data
    own = _OWN_KEY.match(data.incident_key or "")
    if own is not None and own["install"] == install:
        incident = await incident_store.get_incident(conn, int(own["seq"]))
    else:
        alert = _as_alert(event)
        inserted = await journal.insert_alerts(conn, [alert], now)
        alert_id = inserted.get(journal.identity(alert))
        if alert_id is None:
            return None
        await take_batch(conn, [(alert_id, alert)], now, result, playbooks)
        seq = (await journal.get_alert_incident(conn, alert_id)) if alert_id else None
        incident = None if seq is None else await incident_store.get_incident(conn, seq)
    if incident is not None:
        await incident_store.link_pagerduty(conn, incident.seq, data.id, now)
    return incident


def _as_alert(event: PagerDutyEvent) -> Alert:
    """A PagerDuty incident nobody in Medic paged becomes an alert of source pagerduty."""
    data = event.data
    labels = {"alertname": data.title or f"PagerDuty incident {data.id}"}
    if data.service is not None:
        labels["service"] = data.service.summary
    if data.urgency:
        labels["urgency"] = data.urgency
        labels["severity"] = "critical" if data.urgency == "high" else "warning"
    annotations = {"summary": data.title or labels["alertname"]}
    if data.html_url:
        annotations["pagerduty_url"] = data.html_url
    return Alert(
        source=AlertSource.PAGERDUTY,
        fingerprint=data.id,
        status=AlertStatus.FIRING,
        labels=labels,
        annotations=annotations,
        starts_at=event.occurred_at,
        generator_url=data.html_url,
        group_key=f"pagerduty:{data.incident_key or data.id}",
    )


async def _apply(
    conn: AsyncConnection,
    event: PagerDutyEvent,
    incident: IncidentRow,
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
) -> None:
    kind = event.event_type.removeprefix("incident.")
    who = event.agent.summary if event.agent is not None else "PagerDuty"
    number = f"#{event.data.number}" if event.data.number else event.data.id
    status = incident.status
    if kind == "resolved" and status is not IncidentStatus.RESOLVED:
        await resolve_incident(
            conn,
            incident,
            now,
            result,
            playbooks,
            actor=ACTOR,
            text=f"Resolved in PagerDuty ({number}) by {who}",
        )
        return
    text = _TEXTS.get(kind, "PagerDuty {number}: {kind} by {who}").format(
        number=number,
        who=who,
        kind=kind,
        note=event.data.content or "",
        to=", ".join(a.summary for a in event.data.assignees) or "the next level",
    )
    if kind == "acknowledged" and status is IncidentStatus.OPEN:
        status = IncidentStatus.ACKNOWLEDGED
    elif kind == "reopened" and status is IncidentStatus.RESOLVED:
        status = IncidentStatus.OPEN
    if status is not incident.status:
        await incident_store.set_status(conn, incident.seq, status, now)
    await record_event(
        conn, at=now, actor=ACTOR, kind=f"pagerduty.{kind}", text=text, incident_seq=incident.seq
    )
    result.note(replace(incident, status=status), IncidentChangeKind.UPDATED, text)


_TEXTS = {
    "triggered": "PagerDuty incident {number} opened for this incident",
    "acknowledged": "Acknowledged in PagerDuty ({number}) by {who}",
    "reopened": "Reopened in PagerDuty ({number}) by {who}",
    "escalated": "Escalated in PagerDuty ({number}) to {to}",
    "annotated": "PagerDuty note by {who}: {note}",
}
