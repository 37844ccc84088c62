"""The alert journal: each notification once per (source, fingerprint, starts_at, status)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import Alert, AlertStatus
from bot.store.schema import alerts


async def insert_alert(conn: AsyncConnection, alert: Alert, received_at: datetime) -> int | None:
    """Journal ``alert``; return its row id, or None when the same identity is already there."""
    values = {
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
    identity = ["source", "fingerprint", "starts_at", "status"]
    if conn.dialect.name == "postgresql":
        pg_stmt = (
            postgresql.insert(alerts).values(values).on_conflict_do_nothing(index_elements=identity)
        )
        result = await conn.execute(pg_stmt.returning(alerts.c.id))
    else:
        lite_stmt = (
            sqlite.insert(alerts).values(values).on_conflict_do_nothing(index_elements=identity)
        )
        result = await conn.execute(lite_stmt.returning(alerts.c.id))
    alert_id: int | None = result.scalar_one_or_none()
    return alert_id


async def resolution_seen(conn: AsyncConnection, alert: Alert) -> bool:
    """True when the resolved notification of this very firing (same starts_at) is journaled."""
    query = sa.select(alerts.c.id).where(
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
