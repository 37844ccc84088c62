"""``Database.run_transaction``: a synchronous unit of work, committed whole or not at all."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.store import Database
from bot.store.schema import switches

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


class _Boom(Exception):
    """Raised by a unit of work half way through."""


def _set_switch(name: str, *, fail: bool = False) -> Callable[[sa.Connection], None]:
    """A unit of work writing one switch row, optionally failing after the write."""

    def work(conn: sa.Connection) -> None:
        conn.execute(
            switches.insert().values(name=name, value={"on": True}, changed_at=NOW, changed_by="t")
        )
        if fail:
            raise _Boom

    return work


async def _switch_names(db: Database) -> list[str]:
    async with db.connect() as conn:
        return list((await conn.execute(sa.select(switches.c.name))).scalars())


async def test_work_is_committed_when_it_returns(store_url: str) -> None:
    """What the work wrote is visible to the async readers once it returns, with its
    return value handed back."""
    db = Database(store_url)
    await db.create_schema()
    try:

        def work(conn: sa.Connection) -> int:
            _set_switch("paused")(conn)
            return 7

        assert await db.run_transaction(work) == 7
        assert await _switch_names(db) == ["paused"]
    finally:
        await db.close()


async def test_work_that_raises_leaves_nothing(store_url: str) -> None:
    """A unit of work that fails half way rolls back: its first write is not kept."""
    db = Database(store_url)
    await db.create_schema()
    try:
        with pytest.raises(_Boom):
            await db.run_transaction(_set_switch("paused", fail=True))
        assert await _switch_names(db) == []
    finally:
        await db.close()


async def test_sqlite_work_runs_off_the_event_loop(sqlite_url: str) -> None:
    """On a SQLite file the whole unit of work runs in the store's writer thread, so the
    event loop never waits on the driver mid-transaction."""
    db = Database(sqlite_url)
    await db.create_schema()
    try:
        ran_in = await db.run_transaction(lambda _conn: threading.current_thread().name)
    finally:
        await db.close()
    assert ran_in.startswith("sqlite-writer")
    assert ran_in != threading.current_thread().name


async def test_in_memory_sqlite_writes_where_it_reads() -> None:
    """An in-memory SQLite database exists once per connection, so its writes go through
    the same connection its reads use (not a writer connection of their own)."""
    db = Database("sqlite:///:memory:")
    await db.create_schema()
    try:
        await db.run_transaction(_set_switch("paused"))
        assert await _switch_names(db) == ["paused"]
    finally:
        await db.close()
