"""The alert journal: each notification once per (source, fingerprint, starts_at, status)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import Alert, AlertSource, AlertStatus
from bot.store.schema import alerts, many

Identity = tuple[str, str, datetime, str]
_IDENTITY = ["source", "fingerprint", "starts_at", "status"]


def identity(alert: Alert) -> Identity:
    """The dedup identity of an alert."""
    return (alert.source.value, alert.fingerprint, alert.starts_at, alert.status.value)


async def insert_alerts(
    conn: AsyncConnection, batch: Sequence[Alert], received_at: datetime
) -> dict[Identity, int]:
    """Journal ``batch`` within the caller's transaction (see :func:`journal_alerts`)."""
    return await conn.run_sync(journal_alerts, batch, received_at)


def written(batch: Sequence[Alert]) -> dict[Identity, Alert]:
    """The alert :func:`journal_alerts` writes for each identity of ``batch``: of several
    copies, the last one's values."""
    return {identity(a): a for a in batch}


def journal_alerts(
    conn: sa.Connection, batch: Sequence[Alert], received_at: datetime
) -> dict[Identity, int]:
    """Journal ``batch``; return the row id of every identity that was new.

    Identities already journaled (or repeated within the batch) are skipped by the
    unique constraint, atomically, also against other replicas.
    """
    inserted: dict[Identity, int] = {}
    unique = list(written(batch).values())
    if not unique:
        return inserted
    rows = [_values(a, received_at) for a in unique]
    # executemany: one cached statement, batched by SQLAlchemy ("insertmanyvalues").
    result = conn.execute(_insert_ignoring_duplicates(conn.dialect.name), rows)
    for row_id, source, fingerprint, starts_at, status in result:
        inserted[(source, fingerprint, starts_at, status)] = row_id
    return inserted


def _values(alert: Alert, received_at: datetime) -> dict[str, Any]:
    return {
        "source": alert.source.value,
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generator_url,
        "group_key": alert.group_key,
        "received_at": received_at,
    }


_RETURNED = (
    alerts.c.id,
    alerts.c.source,
    alerts.c.fingerprint,
    alerts.c.starts_at,
    alerts.c.status,
)
_INSERT_IGNORING_DUPLICATES = {
    "postgresql": postgresql.insert(alerts)
    .on_conflict_do_nothing(index_elements=_IDENTITY)
    .returning(*_RETURNED),
    "sqlite": sqlite.insert(alerts)
    .on_conflict_do_nothing(index_elements=_IDENTITY)
    .returning(*_RETURNED),
}


def _insert_ignoring_duplicates(dialect: str) -> Any:
    return _INSERT_IGNORING_DUPLICATES[dialect]


_UNPROCESSED_IDS = (
    sa.select(alerts.c.id)
    .where(alerts.c.processed_at.is_(None))
    .order_by(alerts.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_BY_IDS = sa.select(alerts).where(alerts.c.id.in_(many("ids")))


async def unprocessed(
    conn: AsyncConnection, limit: int, known: Mapping[int, Alert] | None = None
) -> list[tuple[int, Alert]]:
    """The oldest journaled alerts the engine has not processed yet, in arrival order.

    ``known``: alerts this process journaled, by row id, as :func:`as_journaled` made them;
    only the others are read (and decoded) from the journal."""
    ids = list((await conn.execute(_UNPROCESSED_IDS, {"limit": limit})).scalars())
    known = known or {}
    missing = [row_id for row_id in ids if row_id not in known]
    read: dict[int, Alert] = {}
    if missing:
        rows = (await conn.execute(_BY_IDS, {"ids": missing})).mappings()
        read = {row["id"]: alert_from_row(row) for row in rows}
    return [(row_id, known[row_id] if row_id in known else read[row_id]) for row_id in ids]


def as_journaled(alert: Alert) -> Alert:
    """``alert`` as its journal row reads back: its times in UTC."""
    if alert.starts_at.tzinfo is UTC and (alert.ends_at is None or alert.ends_at.tzinfo is UTC):
        return alert
    starts_at = alert.starts_at.astimezone(UTC)
    ends_at = None if alert.ends_at is None else alert.ends_at.astimezone(UTC)
    return alert.model_copy(update={"starts_at": starts_at, "ends_at": ends_at})


async def resolution_seen(conn: AsyncConnection, alert: Alert, before_id: int) -> bool:
    """True when the resolved notification of this very firing (same starts_at) was journaled
    before the alert with id ``before_id``."""
    query = sa.select(alerts.c.id).where(
        alerts.c.id < before_id,
        alerts.c.source == alert.source.value,
        alerts.c.fingerprint == alert.fingerprint,
        alerts.c.starts_at == alert.starts_at,
        alerts.c.status == AlertStatus.RESOLVED.value,
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def mark_processed(
    conn: AsyncConnection, alert_id: int, incident_seq: int | None, at: datetime
) -> None:
    """Record which incident took the alert and that it has been processed."""
    await conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id)
        .values(incident_seq=incident_seq, processed_at=at)
    )


async def get_alert(conn: AsyncConnection, alert_id: int) -> Alert | None:
    """One journaled alert."""
    row = (await conn.execute(sa.select(alerts).where(alerts.c.id == alert_id))).mappings().first()
    return None if row is None else alert_from_row(row)


def alert_from_row(row: Any) -> Alert:
    """The alert a journal row holds."""
    return Alert(
        source=AlertSource(row["source"]),
        fingerprint=row["fingerprint"],
        status=AlertStatus(row["status"]),
        labels=row["labels"],
        annotations=row["annotations"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        generator_url=row["generator_url"],
        group_key=row["group_key"],
    )


async def get_alert_incident(conn: AsyncConnection, alert_id: int) -> int | None:
    """The incident a processed alert went to."""
    query = sa.select(alerts.c.incident_seq).where(alerts.c.id == alert_id)
    found: int | None = (await conn.execute(query)).scalar()
    return found


async def alerts_of_incident(conn: AsyncConnection, incident_seq: int) -> list[Alert]:
    """Every notification the incident took (firing and resolved), in arrival order."""
    query = sa.select(alerts).where(alerts.c.incident_seq == incident_seq).order_by(alerts.c.id)
    return [alert_from_row(row) for row in (await conn.execute(query)).mappings()]
