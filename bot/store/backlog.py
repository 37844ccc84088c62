"""What the engine has not taken yet, as a read barrier: a mark of the journals' unprocessed
rows when a read begins, and whether any row up to that mark is still unprocessed.

The mark comes from what is committed, not from id order: an alert acknowledged before the
read began is committed, so it is either processed already or unprocessed with an id at or
below the mark. PostgreSQL hands out ids when rows are inserted and several replicas commit
them in any order, so "processed through id N" says nothing about a smaller id still
uncommitted; a row committed later with an id below the mark only makes a read wait longer.
Partial indexes on the unprocessed rows keep both queries cheap however long the journals.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import alerts, inbound_events


@dataclass(frozen=True, slots=True)
class BacklogMark:
    """The newest unprocessed alert id and inbound event number (0: none)."""

    alert_id: int = 0
    event_seq: int = 0

    @property
    def empty(self) -> bool:
        """Nothing was unprocessed."""
        return self.alert_id == 0 and self.event_seq == 0


async def mark(conn: AsyncConnection) -> BacklogMark:
    """The newest unprocessed rows of both journals, as committed now."""
    newest_alert = (
        sa.select(sa.func.max(alerts.c.id)).where(alerts.c.processed_at.is_(None)).scalar_subquery()
    )
    newest_event = (
        sa.select(sa.func.max(inbound_events.c.seq))
        .where(inbound_events.c.processed_at.is_(None))
        .scalar_subquery()
    )
    row = (await conn.execute(sa.select(newest_alert, newest_event))).one()
    return BacklogMark(int(row[0] or 0), int(row[1] or 0))


async def pending_through(conn: AsyncConnection, through: BacklogMark) -> bool:
    """True while some alert or event at or below ``through`` is unprocessed."""
    alert_left = sa.exists().where(alerts.c.processed_at.is_(None), alerts.c.id <= through.alert_id)
    event_left = sa.exists().where(
        inbound_events.c.processed_at.is_(None), inbound_events.c.seq <= through.event_seq
    )
    return bool((await conn.execute(sa.select(sa.or_(alert_left, event_left)))).scalar())
