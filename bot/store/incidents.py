"""Incident writes: open, find by group key, track each alert's state, change status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import Alert, AlertStatus, IncidentStatus, Severity
from bot.store.schema import incident_alerts, incidents, many


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """The columns the engine needs to decide what an alert does to an incident."""

    seq: int
    title: str
    severity: Severity
    status: IncidentStatus

    def as_context(self) -> dict[str, str]:
        """The incident as templates see it."""
        return {
            "id": f"INC-{self.seq}",
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status.value,
        }


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """The incident's own columns a post-incident report needs beyond its summary."""

    created_at: datetime
    resolved_at: datetime | None
    commander: str
    pagerduty_incident_id: str | None


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert's last known state inside one incident."""

    status: AlertStatus
    starts_at: datetime


def incident_row(row: Sequence[Any]) -> IncidentRow:
    """An :class:`IncidentRow` from a row of :data:`INCIDENT_COLUMNS`."""
    return IncidentRow(
        seq=row[0], title=row[1], severity=Severity(row[2]), status=IncidentStatus(row[3])
    )


INCIDENT_COLUMNS = (incidents.c.seq, incidents.c.title, incidents.c.severity, incidents.c.status)


async def find_open_incident(conn: AsyncConnection, group_key: str) -> IncidentRow | None:
    """The newest not-yet-resolved incident with ``group_key``."""
    query = (
        sa.select(*INCIDENT_COLUMNS)
        .where(
            incidents.c.group_key == group_key,
            incidents.c.status != IncidentStatus.RESOLVED.value,
        )
        .order_by(incidents.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else incident_row(row)


async def find_incident_holding(conn: AsyncConnection, alert: Alert) -> IncidentRow | None:
    """The newest incident that holds ``alert``'s fingerprint, whatever its status."""
    query = (
        sa.select(*INCIDENT_COLUMNS)
        .join(incident_alerts, incident_alerts.c.incident_seq == incidents.c.seq)
        .where(
            incident_alerts.c.source == alert.source.value,
            incident_alerts.c.fingerprint == alert.fingerprint,
        )
        .order_by(incidents.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else incident_row(row)


async def last_resolved_seq(conn: AsyncConnection, group_key: str) -> int | None:
    """The newest resolved incident with ``group_key`` (linked from a reopening)."""
    query = sa.select(sa.func.max(incidents.c.seq)).where(
        incidents.c.group_key == group_key,
        incidents.c.status == IncidentStatus.RESOLVED.value,
    )
    found: int | None = (await conn.execute(query)).scalar()
    return found


async def recently_resolved(
    conn: AsyncConnection, group_key: str, since: datetime
) -> IncidentRow | None:
    """The newest incident with ``group_key`` if it resolved at ``since`` or later (a
    flapping alert reopens it)."""
    query = (
        sa.select(*INCIDENT_COLUMNS)
        .where(
            incidents.c.group_key == group_key,
            incidents.c.status == IncidentStatus.RESOLVED.value,
            incidents.c.resolved_at >= since,
        )
        .order_by(incidents.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else incident_row(row)


async def reopen(conn: AsyncConnection, incident_seq: int, at: datetime) -> None:
    """resolved → open again (a flapping alert fired again)."""
    await conn.execute(
        incidents.update()
        .where(incidents.c.seq == incident_seq)
        .values(status=IncidentStatus.OPEN.value, resolved_at=None, updated_at=at)
    )


async def open_incident(
    conn: AsyncConnection,
    *,
    title: str,
    severity: Severity,
    group_key: str,
    at: datetime,
    previous_seq: int | None,
    commander: str = "medic",
) -> IncidentRow:
    """Insert a new ``open`` incident and return it."""
    result = await conn.execute(
        incidents.insert()
        .values(
            title=title,
            severity=severity.value,
            status=IncidentStatus.OPEN.value,
            group_key=group_key,
            created_at=at,
            updated_at=at,
            commander=commander,
            previous_seq=previous_seq,
        )
        .returning(incidents.c.seq)
    )
    return IncidentRow(
        seq=result.scalar_one(), title=title, severity=severity, status=IncidentStatus.OPEN
    )


async def alert_count(conn: AsyncConnection, incident_seq: int) -> int:
    """The incident's distinct alerts (fingerprints)."""
    return (await alert_counts(conn, [incident_seq])).get(incident_seq, 0)


async def alert_counts(conn: AsyncConnection, incident_seqs: Sequence[int]) -> dict[int, int]:
    """Distinct alerts (fingerprints) of each incident in ``incident_seqs``, as the intake
    keeps them on the incident."""
    if not incident_seqs:
        return {}
    found = await conn.execute(_ALERT_COUNTS, {"seqs": list(incident_seqs)})
    return {seq: int(count) for seq, count in found}


_ALERT_COUNTS = sa.select(incidents.c.seq, incidents.c.alert_count).where(
    incidents.c.seq.in_(many("seqs"))
)


def _held(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(incident_alerts.c.incident_seq == incidents.c.seq, *where)
        .scalar_subquery()
    )


_RECOUNT = incidents.update().values(
    alert_count=_held(), firing_count=_held(incident_alerts.c.status == AlertStatus.FIRING.value)
)


async def recount_open(conn: AsyncConnection) -> None:
    """Count every open incident's alerts, and those still firing, afresh (the intake
    keeps both as it files alerts; this corrects what another release did not keep)."""
    await conn.execute(_RECOUNT.where(incidents.c.status != IncidentStatus.RESOLVED.value))


async def recount(conn: AsyncConnection, incident_seq: int) -> tuple[int, int]:
    """Count one incident's alerts and those still firing afresh, store both, return
    them (alerts, firing)."""
    found = await conn.execute(_RECOUNT_ONE, {"recounted": incident_seq})
    alert_count, firing_count = found.one()
    return int(alert_count), int(firing_count)


_RECOUNT_ONE = _RECOUNT.where(incidents.c.seq == sa.bindparam("recounted")).returning(
    incidents.c.alert_count, incidents.c.firing_count
)


async def set_status(
    conn: AsyncConnection, incident_seq: int, status: IncidentStatus, at: datetime
) -> None:
    """Move the incident to ``status`` (and stamp ``resolved_at`` when it resolves)."""
    values: dict[str, object] = {"status": status.value, "updated_at": at}
    if status is IncidentStatus.RESOLVED:
        values["resolved_at"] = at
    await conn.execute(incidents.update().where(incidents.c.seq == incident_seq).values(values))


async def touch(conn: AsyncConnection, incident_seqs: Sequence[int], at: datetime) -> None:
    """Bump ``updated_at`` of every incident in ``incident_seqs``."""
    if incident_seqs:
        await conn.execute(_TOUCH, {"seqs": list(incident_seqs), "at": at})


_TOUCH = (
    incidents.update()
    .where(incidents.c.seq.in_(many("seqs")))
    .values(updated_at=sa.bindparam("at"))
)


async def get_incident(conn: AsyncConnection, incident_seq: int) -> IncidentRow | None:
    """One incident."""
    query = sa.select(*INCIDENT_COLUMNS).where(incidents.c.seq == incident_seq)
    row = (await conn.execute(query)).first()
    return None if row is None else incident_row(row)


async def set_severity(
    conn: AsyncConnection, incident_seq: int, severity: Severity, at: datetime
) -> None:
    """Change the incident's severity."""
    await conn.execute(
        incidents.update()
        .where(incidents.c.seq == incident_seq)
        .values(severity=severity.value, updated_at=at)
    )


async def find_by_pagerduty(conn: AsyncConnection, pd_incident_id: str) -> IncidentRow | None:
    """The newest incident linked to a PagerDuty incident."""
    query = (
        sa.select(*INCIDENT_COLUMNS)
        .where(incidents.c.pagerduty_incident_id == pd_incident_id)
        .order_by(incidents.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else incident_row(row)


async def link_pagerduty(
    conn: AsyncConnection, incident_seq: int, pd_incident_id: str, at: datetime
) -> None:
    """Remember which PagerDuty incident stands for this one."""
    await conn.execute(
        incidents.update()
        .where(incidents.c.seq == incident_seq)
        .values(pagerduty_incident_id=pd_incident_id, updated_at=at)
    )


async def pagerduty_link(conn: AsyncConnection, incident_seq: int) -> str | None:
    """The linked PagerDuty incident id, if any."""
    query = sa.select(incidents.c.pagerduty_incident_id).where(incidents.c.seq == incident_seq)
    found: str | None = (await conn.execute(query)).scalar()
    return found


async def slack_link(conn: AsyncConnection, incident_seq: int) -> str | None:
    """The incident's Slack channel id, once it has one."""
    query = sa.select(incidents.c.slack_channel).where(incidents.c.seq == incident_seq)
    found: str | None = (await conn.execute(query)).scalar()
    return found


async def first_alert_labels(conn: AsyncConnection, incident_seq: int) -> dict[str, str]:
    """The labels of the incident's first alert (a manual run's default template labels)."""
    query = (
        sa.select(incident_alerts.c.labels)
        .where(incident_alerts.c.incident_seq == incident_seq)
        .order_by(incident_alerts.c.starts_at)
        .limit(1)
    )
    found = (await conn.execute(query)).scalar()
    return dict(found or {})


async def open_incident_seqs(conn: AsyncConnection) -> list[int]:
    """Every incident not resolved, oldest first."""
    query = (
        sa.select(incidents.c.seq)
        .where(incidents.c.status != IncidentStatus.RESOLVED.value)
        .order_by(incidents.c.seq)
    )
    return [int(seq) for (seq,) in await conn.execute(query)]


async def incident_record(conn: AsyncConnection, incident_seq: int) -> IncidentRecord | None:
    """When the incident opened and resolved, its commander and PagerDuty link."""
    query = sa.select(
        incidents.c.created_at,
        incidents.c.resolved_at,
        incidents.c.commander,
        incidents.c.pagerduty_incident_id,
    ).where(incidents.c.seq == incident_seq)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return IncidentRecord(
        created_at=row[0], resolved_at=row[1], commander=row[2], pagerduty_incident_id=row[3]
    )
