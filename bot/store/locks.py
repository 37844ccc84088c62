"""Transaction-scoped advisory locks: PostgreSQL serializes replicas with them; on SQLite
(one replica, one writer at a time) they are no-ops."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# Keys are fixed 64-bit numbers (ASCII of a short name) so every replica agrees on them.
MIGRATION = 0x6D656469632D6D69  # "medic-mi": replicas migrate one after the other
INTAKE = 0x6D656469632D696E  # "medic-in": one replica at a time groups alerts into incidents


async def hold_until_commit(conn: AsyncConnection, key: int) -> None:
    """Wait for the advisory lock ``key``; it is released when ``conn``'s transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
