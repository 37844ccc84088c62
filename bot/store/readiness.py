"""Can the store commit right now? A real write, the way ingest writes, with a short wait.

``SELECT 1`` answers while SQLite's write lock is held by another process or the disk is
full, although every commit fails then. The probe writes one row (the ``readiness`` switch)
through the same path as the alert journal (:meth:`Database.run_transaction`), waiting at
most ``timeout_s`` for a lock, and commits it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa

from bot.errors import StoreError
from bot.store.database import Database
from bot.store.schema import switches

READINESS = "readiness"
# SQLite's usual wait for the write lock (bot.store.database), restored after the probe.
_SQLITE_BUSY_MS = 5000


async def can_commit(db: Database, at: datetime, timeout_s: float) -> bool:
    """True when a write transaction committed within about ``timeout_s``."""
    wait_ms = max(1, int(timeout_s * 1000))

    def probe(conn: sa.Connection) -> None:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
        else:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{wait_ms}ms'")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{2 * wait_ms}ms'")
        try:
            _touch(conn, at)
        finally:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")

    try:
        async with asyncio.timeout(3 * timeout_s):
            await db.run_transaction(probe)
    except TimeoutError:
        return False
    except StoreError:
        return False
    return True


def _touch(conn: sa.Connection, at: datetime) -> None:
    row = {"value": {"at": at.isoformat()}, "changed_by": "medic", "changed_at": at}
    updated = conn.execute(switches.update().where(switches.c.name == READINESS).values(**row))
    if updated.rowcount == 0:
        conn.execute(switches.insert().values(name=READINESS, **row))
