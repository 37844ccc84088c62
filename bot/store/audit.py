"""The append-only audit trail; an incident's timeline is its audit events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import audit_events, runs, steps


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
        _INSERT,
        {
            "at": at,
            "actor": actor,
            "kind": kind,
            "incident_seq": incident_seq,
            "text": text,
            "detail": detail or {},
        },
    )


_INSERT = audit_events.insert()  # built once: the columns come from the parameters


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


async def details_of(
    conn: AsyncConnection, incident_seq: int, kinds: Sequence[str]
) -> list[dict[str, Any]]:
    """The ``detail`` of each of the incident's audit events of ``kinds``, oldest first."""
    query = (
        sa.select(audit_events.c.detail)
        .where(audit_events.c.incident_seq == incident_seq, audit_events.c.kind.in_(list(kinds)))
        .order_by(audit_events.c.seq)
    )
    return [dict(detail) for (detail,) in await conn.execute(query)]


async def real_step_outputs(
    conn: AsyncConnection, incident_seq: int, action: str
) -> list[dict[str, Any]]:
    """The outputs of the incident's steps of ``action`` that really ran and succeeded."""
    query = (
        sa.select(steps.c.output)
        .join(runs, runs.c.seq == steps.c.run_seq)
        .where(
            runs.c.incident_seq == incident_seq,
            steps.c.action == action,
            steps.c.status == "succeeded",
            steps.c.dry_run.is_(False),
        )
    )
    return [dict(output) for (output,) in await conn.execute(query) if output]


async def latest_seq(conn: AsyncConnection) -> int:
    """The newest audit event's number (0 when none)."""
    found = (await conn.execute(sa.select(sa.func.max(audit_events.c.seq)))).scalar()
    return int(found or 0)


async def changes_after(
    conn: AsyncConnection, seq: int, limit: int
) -> list[tuple[int, int | None]]:
    """Up to ``limit`` audit events after ``seq``, oldest first: (number, incident number)."""
    query = (
        sa.select(audit_events.c.seq, audit_events.c.incident_seq)
        .where(audit_events.c.seq > seq)
        .order_by(audit_events.c.seq)
        .limit(limit)
    )
    return [(int(found), incident) for found, incident in await conn.execute(query)]
