"""Intake: dedup each alert against the journal and group it into an incident.

Runs in the engine after the journal committed the alert; the alert's effect on its
incident and the alert's ``processed_at`` commit together, so after a crash an alert is
either fully taken or still waiting in the journal. Until playbook
matching lands, alerts group by their sender's group key (Alertmanager's
``groupKey``), which DESIGN §6 keeps as the rule for alerts no playbook matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine.events import IncidentChange, IncidentChangeKind
from bot.models import Alert, AlertStatus, IncidentStatus, Severity
from bot.store import incidents as incident_store
from bot.store import journal
from bot.store.audit import record_event

_SEVERITY_BY_LABEL = {
    "emergency": Severity.SEV1,
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "error": Severity.SEV2,
    "high": Severity.SEV2,
    "major": Severity.SEV2,
    "warning": Severity.SEV3,
    "minor": Severity.SEV3,
}
_TARGET_LABELS = ("namespace", "deployment", "node", "instance", "job")


@dataclass(slots=True)
class IntakeResult:
    """The incident changes a batch made, narrated once it commits."""

    changes: list[IncidentChange] = field(default_factory=list)


def severity_of(alert: Alert) -> Severity:
    """Map the alert's ``severity`` label onto sev1..sev4 (unknown = sev4)."""
    return _SEVERITY_BY_LABEL.get(alert.labels.get("severity", "").lower(), Severity.SEV4)


def title_of(alert: Alert) -> str:
    """``summary`` annotation, else the alert name and where it fires."""
    summary = alert.annotations.get("summary", "").strip()
    if summary:
        return summary[:200]
    where = ", ".join(f"{k}={alert.labels[k]}" for k in _TARGET_LABELS if k in alert.labels)
    name = alert.labels.get("alertname", "alert")
    return f"{name} ({where})" if where else name


def describe(alert: Alert) -> str:
    """One line naming the alert for the timeline."""
    return f"{alert.labels.get('alertname', 'alert')} [{alert.fingerprint}] {alert.status.value}"


async def take_alert(
    conn: AsyncConnection, alert_id: int, alert: Alert, now: datetime, result: IntakeResult
) -> None:
    """Group one journaled alert into its incident, in the caller's transaction."""
    if alert.status is AlertStatus.FIRING:
        seq = await _take_firing(conn, alert_id, alert, now, result)
    else:
        seq = await _take_resolved(conn, alert, now, result)
    await journal.mark_processed(conn, alert_id, seq, now)


async def _take_firing(
    conn: AsyncConnection, alert_id: int, alert: Alert, now: datetime, result: IntakeResult
) -> int | None:
    if await journal.resolution_seen(conn, alert, before_id=alert_id):
        return None  # a late copy of a firing whose resolution already arrived
    incident = await incident_store.find_open_incident(conn, alert.group_key)
    if incident is None:
        previous = await incident_store.last_resolved_seq(conn, alert.group_key)
        incident = await incident_store.open_incident(
            conn,
            title=title_of(alert),
            severity=severity_of(alert),
            group_key=alert.group_key,
            at=now,
            previous_seq=previous,
        )
        text = f"Incident opened by {describe(alert)}"
        if previous is not None:
            text += f" (fired again after INC-{previous} resolved)"
        await _change(
            conn, incident=incident, kind=IncidentChangeKind.OPENED, text=text, now=now, alert=alert
        )
        await incident_store.save_alert_state(conn, incident.seq, alert, exists=False, at=now)
        await _announce(
            conn, result=result, incident=incident, kind=IncidentChangeKind.OPENED, text=text
        )
        return incident.seq
    state = await incident_store.alert_state(conn, incident.seq, alert)
    if state is not None and state.starts_at > alert.starts_at:
        return incident.seq  # older than what the incident already knows
    if state is not None and state.status is AlertStatus.FIRING:
        return incident.seq  # already firing in this incident
    await incident_store.save_alert_state(
        conn, incident.seq, alert, exists=state is not None, at=now
    )
    await incident_store.touch(conn, incident.seq, now)
    text = f"Alert joined: {describe(alert)}"
    await _change(
        conn, incident=incident, kind=IncidentChangeKind.UPDATED, text=text, now=now, alert=alert
    )
    await _announce(
        conn, result=result, incident=incident, kind=IncidentChangeKind.UPDATED, text=text
    )
    return incident.seq


async def _take_resolved(
    conn: AsyncConnection, alert: Alert, now: datetime, result: IntakeResult
) -> int | None:
    incident = await incident_store.find_open_incident(conn, alert.group_key)
    if incident is None:
        incident = await incident_store.find_incident_holding(conn, alert)
    if incident is None:
        return None
    state = await incident_store.alert_state(conn, incident.seq, alert)
    if state is None or state.status is AlertStatus.RESOLVED or state.starts_at > alert.starts_at:
        return incident.seq
    await incident_store.save_alert_state(conn, incident.seq, alert, exists=True, at=now)
    await incident_store.touch(conn, incident.seq, now)
    text = f"Alert resolved: {describe(alert)}"
    await _change(
        conn, incident=incident, kind=IncidentChangeKind.UPDATED, text=text, now=now, alert=alert
    )
    if (
        incident.status is not IncidentStatus.RESOLVED
        and await incident_store.firing_count(conn, incident.seq) == 0
    ):
        await _resolve_incident(conn, result, incident, now)
    else:
        await _announce(
            conn, result=result, incident=incident, kind=IncidentChangeKind.UPDATED, text=text
        )
    return incident.seq


async def _resolve_incident(
    conn: AsyncConnection,
    result: IntakeResult,
    incident: incident_store.IncidentRow,
    now: datetime,
) -> None:
    """Every alert of the incident has resolved: so has the incident."""
    await incident_store.set_status(conn, incident.seq, IncidentStatus.RESOLVED, now)
    text = "Incident resolved: all its alerts have resolved"
    await record_event(
        conn, at=now, actor="medic", kind="incident.resolved", text=text, incident_seq=incident.seq
    )
    resolved = replace(incident, status=IncidentStatus.RESOLVED)
    await _announce(
        conn, result=result, incident=resolved, kind=IncidentChangeKind.RESOLVED, text=text
    )


async def _change(
    conn: AsyncConnection,
    *,
    incident: incident_store.IncidentRow,
    kind: IncidentChangeKind,
    text: str,
    now: datetime,
    alert: Alert,
) -> None:
    """Record the alert's effect on the timeline."""
    event_kind = "incident.opened" if kind is IncidentChangeKind.OPENED else f"alert.{alert.status}"
    await record_event(
        conn,
        at=now,
        actor=alert.source.value,
        kind=event_kind,
        text=text,
        incident_seq=incident.seq,
        detail={"fingerprint": alert.fingerprint, "labels": alert.labels},
    )


async def _announce(
    conn: AsyncConnection,
    *,
    result: IntakeResult,
    incident: incident_store.IncidentRow,
    kind: IncidentChangeKind,
    text: str,
) -> None:
    """Queue a narration of the change, sent once the transaction commits."""
    result.changes.append(
        IncidentChange(
            kind=kind,
            incident_seq=incident.seq,
            title=incident.title,
            severity=incident.severity,
            status=incident.status,
            alert_count=await incident_store.alert_count(conn, incident.seq),
            text=text,
        )
    )
