"""Map journaled PagerDuty webhook events onto Medic incidents (the ``inbound`` hook).

``incident.triggered`` links to the Medic incident that paged it (its incident key is
Medic's dedup key ``medic/<install id>/INC-<n>``) or opens a Medic incident through the
normal intake, as an alert of source ``pagerduty``; acknowledged, resolved, reopened,
escalated and annotated update the linked incident and its timeline. A resolution that came
from PagerDuty is never echoed back to it (Medic calls no ``on_resolved`` hook of the
integration that resolved).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog

from bot.actions.hooks import IncidentRef, IntakeDesk
from bot.models import Alert, AlertSource, AlertStatus, IncidentStatus
from responders.pagerduty.const import SYSTEM
from responders.pagerduty.webhook_models import PagerDutyEvent, PagerDutyWebhook

log = structlog.get_logger(__name__)
_OWN_KEY = re.compile(r"^medic/(?P<install>[0-9a-f]+)/INC-(?P<seq>\d+)$")


def dedup_key(install: str, incident_seq: int) -> str:
    """The incident key Medic pages with: unique to this installation and incident."""
    return f"medic/{install}/INC-{incident_seq}"


async def take_event(desk: IntakeDesk, payload: Mapping[str, Any]) -> None:
    """Map one journaled event (``{"event": {...}}``) onto its incident."""
    event = PagerDutyWebhook.model_validate(payload).event
    with structlog.contextvars.bound_contextvars(pagerduty_event=event.id):
        data = event.data
        pd_id = data.incident.id if data.incident is not None else data.id
        incident = await desk.linked(pd_id)
        if incident is None and event.event_type == "incident.triggered":
            incident = await _link_or_open(desk, event)
        if incident is None:
            log.info("pagerduty.unlinked_event", event_type=event.event_type, incident=pd_id)
            return
        await _apply(desk, event, incident)


async def _link_or_open(desk: IntakeDesk, event: PagerDutyEvent) -> IncidentRef | None:
    data = event.data
    own = _OWN_KEY.match(data.incident_key or "")
    if own is not None and own["install"] == desk.install:
        incident = await desk.incident(int(own["seq"]))
    else:
        incident = await desk.open_from_alert(_as_alert(event))
    if incident is not None:
        await desk.link(incident.seq, data.id)
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


async def _apply(desk: IntakeDesk, event: PagerDutyEvent, incident: IncidentRef) -> None:
    kind = event.event_type.removeprefix("incident.")
    who = event.agent.summary if event.agent is not None else "PagerDuty"
    number = f"#{event.data.number}" if event.data.number else event.data.id
    status = incident.status
    if kind == "resolved" and status is not IncidentStatus.RESOLVED:
        text = f"Resolved in PagerDuty ({number}) by {who}"
        await desk.resolve(incident, actor=SYSTEM, text=text)
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
    await desk.update(incident, status, actor=SYSTEM, kind=f"pagerduty.{kind}", text=text)


_TEXTS = {
    "triggered": "PagerDuty incident {number} opened for this incident",
    "acknowledged": "Acknowledged in PagerDuty ({number}) by {who}",
    "reopened": "Reopened in PagerDuty ({number}) by {who}",
    "escalated": "Escalated in PagerDuty ({number}) to {to}",
    "annotated": "PagerDuty note by {who}: {note}",
}
