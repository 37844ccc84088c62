"""The Alertmanager silences Medic created, and the alerts of incidents that hold one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import Alert, AlertSource, AlertStatus, IncidentStatus
from bot.store.schema import alerts, incident_alerts, incidents, silences


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One silence Medic created for a step of a run on an incident."""

    id: str
    incident_seq: int
    run_seq: int | None
    step_id: str
    matchers: list[str]
    created_at: datetime
    expires_at: datetime
    expired_at: datetime | None = None


def _row(row: Any) -> SilenceRow:
    return SilenceRow(
        id=row["id"],
        incident_seq=row["incident_seq"],
        run_seq=row["run_seq"],
        step_id=row["step_id"],
        matchers=list(row["matchers"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        expired_at=row["expired_at"],
    )


async def insert_silence(conn: AsyncConnection, silence: SilenceRow) -> None:
    """Remember a silence just created."""
    await conn.execute(
        silences.insert().values(
            id=silence.id,
            incident_seq=silence.incident_seq,
            run_seq=silence.run_seq,
            step_id=silence.step_id,
            matchers=silence.matchers,
            created_at=silence.created_at,
            expires_at=silence.expires_at,
            expired_at=silence.expired_at,
        )
    )


async def mark_expired(conn: AsyncConnection, silence_id: str, at: datetime) -> SilenceRow | None:
    """Record that the silence is expired; the row when this call was the one to do so (None
    when Medic does not hold it or it was already marked)."""
    result = await conn.execute(
        silences.update()
        .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
        .values(expired_at=at)
    )
    if result.rowcount != 1:
        return None
    found = await conn.execute(sa.select(silences).where(silences.c.id == silence_id))
    return _row(found.mappings().one())


async def of_incident(conn: AsyncConnection, incident_seq: int) -> list[SilenceRow]:
    """Every silence Medic created for the incident, oldest first."""
    query = (
        sa.select(silences)
        .where(silences.c.incident_seq == incident_seq)
        .order_by(silences.c.created_at, silences.c.id)
    )
    return [_row(row) for row in (await conn.execute(query)).mappings()]


async def held_for_resolved(conn: AsyncConnection) -> list[SilenceRow]:
    """Silences still held (not expired by Medic) whose incident has resolved."""
    query = (
        sa.select(silences)
        .join(incidents, incidents.c.seq == silences.c.incident_seq)
        .where(
            silences.c.expired_at.is_(None),
            incidents.c.status == IncidentStatus.RESOLVED.value,
        )
        .order_by(silences.c.created_at, silences.c.id)
    )
    return [_row(row) for row in (await conn.execute(query)).mappings()]


async def active(conn: AsyncConnection, now: datetime) -> list[SilenceRow]:
    """Silences in force (not expired, not past their end) on unresolved incidents."""
    query = (
        sa.select(silences)
        .join(incidents, incidents.c.seq == silences.c.incident_seq)
        .where(
            silences.c.expired_at.is_(None),
            silences.c.expires_at > now,
            incidents.c.status != IncidentStatus.RESOLVED.value,
        )
        .order_by(silences.c.incident_seq, silences.c.created_at, silences.c.id)
    )
    return [_row(row) for row in (await conn.execute(query)).mappings()]


async def firing_alerts(
    conn: AsyncConnection, incident_seqs: Sequence[int]
) -> dict[int, list[Alert]]:
    """The Alertmanager alerts still firing in each incident, as last journaled (group key
    and generator URL from their newest journal entry)."""
    latest = (
        sa.select(alerts.c.id)
        .where(
            alerts.c.source == incident_alerts.c.source,
            alerts.c.fingerprint == incident_alerts.c.fingerprint,
            alerts.c.incident_seq == incident_alerts.c.incident_seq,
        )
        .order_by(alerts.c.id.desc())
        .limit(1)
        .correlate(incident_alerts)
        .scalar_subquery()
    )
    query = (
        sa.select(
            incident_alerts.c.incident_seq,
            incident_alerts.c.fingerprint,
            incident_alerts.c.starts_at,
            incident_alerts.c.labels,
            incident_alerts.c.annotations,
            alerts.c.group_key,
            alerts.c.generator_url,
        )
        .join(alerts, alerts.c.id == latest)
        .where(
            incident_alerts.c.incident_seq.in_(list(incident_seqs)),
            incident_alerts.c.source == AlertSource.ALERTMANAGER.value,
            incident_alerts.c.status == AlertStatus.FIRING.value,
        )
        .order_by(incident_alerts.c.incident_seq, incident_alerts.c.fingerprint)
    )
    found: dict[int, list[Alert]] = {}
    for row in (await conn.execute(query)).mappings():
        found.setdefault(row["incident_seq"], []).append(
            Alert(
                source=AlertSource.ALERTMANAGER,
                fingerprint=row["fingerprint"],
                status=AlertStatus.FIRING,
                labels=row["labels"],
                annotations=row["annotations"],
                starts_at=row["starts_at"],
                generator_url=row["generator_url"],
                group_key=row["group_key"],
            )
        )
    return found
