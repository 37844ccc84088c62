"""Transaction-scoped advisory locks: PostgreSQL serializes replicas with them; on SQLite
(one replica, one writer at a time) they are no-ops."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from bot.store.database import Database

# Keys are fixed 64-bit numbers (ASCII of a short name) so every replica agrees on them.
MIGRATION = 0x6D656469632D6D69  # "medic-mi": replicas migrate one after the other
INTAKE = 0x6D656469632D696E  # "medic-in": one replica at a time groups alerts into incidents
RUN_SLOTS = 0x6D656469632D736C  # "medic-sl": max_concurrent_runs slots are taken one at a time


async def hold_until_commit(conn: AsyncConnection, key: int) -> None:
    """Wait for the advisory lock ``key``; it is released when ``conn``'s transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def key_of(name: str) -> int:
    """A stable 64-bit advisory-lock key for a name (an action, a target)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


@asynccontextmanager
async def held(db: Database, name: str) -> AsyncIterator[None]:
    """Hold the advisory lock of ``name`` across several transactions: replicas take turns
    in the block. It lives on a connection of its own, so a replica that dies releases it
    with that connection. On SQLite (one replica) it is a no-op."""
    if db.backend != "postgresql":
        yield
        return
    key = key_of(name)
    async with db.connect() as conn:
        await conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            await conn.commit()
