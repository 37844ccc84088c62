"""Word between replicas through PostgreSQL's ``LISTEN``/``NOTIFY``: what changed in the
store that other replicas act on at once (the pause, a decided approval, an intake batch,
a freed run slot, runs handed back). A notification is sent in the transaction that makes
the change, so it arrives after its commit and never for a rollback; it may be lost (a
listener reconnecting), so every receiver also polls the store as a fallback. On SQLite
(one replica) nothing is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import STORE_ERRORS, Database

log = structlog.get_logger(__name__)

CHANNEL = "medic"
RECONNECT_S = 1.0


class Topic(StrEnum):
    """What a notification is about; its payload is ``<topic>`` or ``<topic>:<detail>``."""

    PAUSE = "pause"
    APPROVAL = "approval"
    INTAKE = "intake"
    SLOT = "slot"
    RUNS = "runs"


async def announce(conn: AsyncConnection, topic: Topic, detail: str = "") -> None:
    """Tell every listening replica about ``topic`` once ``conn``'s transaction commits."""
    if conn.dialect.name == "postgresql":
        payload = f"{topic}:{detail}" if detail else topic.value
        await conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


def parse(payload: str) -> tuple[Topic, str] | None:
    """A payload's topic and detail; None for one this release does not know."""
    name, _, detail = payload.partition(":")
    try:
        return Topic(name), detail
    except ValueError:
        return None


async def listen(
    db: Database, on_message: Callable[[Topic, str], None], on_connected: Callable[[], None]
) -> None:
    """Listen on :data:`CHANNEL` on a connection of its own until cancelled, reconnecting
    after a loss (``on_connected`` then runs: what was sent meanwhile may be lost)."""
    while True:
        try:
            await _listen_until_lost(db, on_message, on_connected)
        except Exception as err:  # best effort: the receivers poll as well
            level = log.warning if isinstance(err, STORE_ERRORS) else log.exception
            level("peers.listen_failed", error=type(err).__name__)
        await asyncio.sleep(RECONNECT_S)


async def _listen_until_lost(
    db: Database, on_message: Callable[[Topic, str], None], on_connected: Callable[[], None]
) -> None:
    lost = asyncio.Event()

    def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        message = parse(payload)
        if message is not None:
            on_message(*message)

    async with db.engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        raw.add_termination_listener(lambda _conn: lost.set())
        await raw.add_listener(CHANNEL, received)
        on_connected()
        try:
            await lost.wait()
        finally:
            if not raw.is_closed():
                await raw.remove_listener(CHANNEL, received)
