"""The append-only audit trail; an incident's timeline is its audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import audit_events


async def record_event(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    kind: str,
    text: str,
    incident_seq: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event inside the caller's transaction."""
    await conn.execute(
        audit_events.insert().values(
            at=at,
            actor=actor,
            kind=kind,
            incident_seq=incident_seq,
            text=text,
            detail=detail or {},
        )
    )


async def has_event(conn: AsyncConnection, incident_seq: int, kind: str, text_prefix: str) -> bool:
    """Whether the incident's trail holds a ``kind`` event whose text starts so."""
    query = (
        sa.select(audit_events.c.seq)
        .where(
            audit_events.c.incident_seq == incident_seq,
            audit_events.c.kind == kind,
            audit_events.c.text.startswith(text_prefix, autoescape=True),
        )
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None
