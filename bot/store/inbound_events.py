"""The inbound-event journal (integrations' webhooks): each event once, by event and delivery
id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import inbound_events, webhook_deliveries


async def _insert_ignoring(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], unique: list[str]
) -> bool:
    """Insert unless the unique key exists; True when inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=unique)
    result = await conn.execute(stmt)
    return result.rowcount == 1


async def journal_event(
    conn: AsyncConnection,
    *,
    source: str,
    event_id: str,
    delivery_id: str | None,
    event_type: str,
    payload: dict[str, Any],
    at: datetime,
) -> int | None:
    """Journal an inbound event; its journal number, or None when its event id or delivery
    id was seen before."""
    seen = False
    for key in (f"event:{event_id}", *([f"delivery:{delivery_id}"] if delivery_id else [])):
        inserted = await _insert_ignoring(
            conn,
            webhook_deliveries,
            {"source": source, "delivery_id": key, "received_at": at},
            ["source", "delivery_id"],
        )
        seen = seen or not inserted
    if seen:
        return None
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(inbound_events)
        .values(
            source=source,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            received_at=at,
        )
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(inbound_events.c.seq)
    )
    seq: int | None = (await conn.execute(stmt)).scalar()
    return seq


_UNPROCESSED = (
    sa.select(inbound_events.c.seq, inbound_events.c.source, inbound_events.c.payload)
    .where(inbound_events.c.processed_at.is_(None))
    .order_by(inbound_events.c.seq)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


async def unprocessed_events(
    conn: AsyncConnection, limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """The oldest unprocessed inbound events (number, source, payload), in arrival order."""
    found = await conn.execute(_UNPROCESSED, {"limit": limit})
    return [(int(seq), source, payload) for seq, source, payload in found]


async def mark_event_processed(conn: AsyncConnection, seq: int, at: datetime) -> None:
    """The engine has taken the event."""
    await conn.execute(
        inbound_events.update().where(inbound_events.c.seq == seq).values(processed_at=at)
    )


async def max_event_seq(conn: AsyncConnection) -> int:
    """The newest journaled inbound event (0 when none)."""
    found = (await conn.execute(sa.select(sa.func.max(inbound_events.c.seq)))).scalar()
    return int(found or 0)


async def remember_delivery(conn: AsyncConnection, source: str, key: str, at: datetime) -> bool:
    """Record an inbound delivery by its key; False when it was taken before."""
    return await _insert_ignoring(
        conn,
        webhook_deliveries,
        {"source": source, "delivery_id": key, "received_at": at},
        ["source", "delivery_id"],
    )
