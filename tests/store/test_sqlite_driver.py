"""SQLite through aiosqlite: one trip to the connection's thread per statement, with the
same results, row counts, ids, errors and transactions as the stock adapter."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.errors import StoreRefused
from bot.store import Database
from bot.store.schema import switches

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call aiosqlite sends to a connection's thread, by function name."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


def _row(name: str) -> dict[str, Any]:
    return {"name": name, "value": {"on": True}, "changed_at": NOW, "changed_by": "t"}


async def test_a_read_is_one_trip(db: Database, trips: list[str]) -> None:
    """A query on a pooled connection is one trip to its thread (the stock adapter makes
    four: open a cursor, execute, fetch, close; plus four more for a ping per checkout)."""
    async with db.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the pool holds a connection now
    trips.clear()
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(sa.literal(7)))).scalar() == 7
    assert trips == ["_run_statement"]


async def test_writes_report_counts_ids_and_rows(db: Database) -> None:
    """Inserts give their ids, updates their row counts, executemany writes every row, and
    a read sees all of it in the same transaction and after the commit."""
    async with db.begin() as conn:
        inserted = await conn.execute(switches.insert().values(**_row("a")))
        assert inserted.inserted_primary_key is not None
        await conn.execute(switches.insert(), [_row("b"), _row("c")])
        changed = await conn.execute(
            switches.update().where(switches.c.name.in_(["a", "b"])).values(changed_by="u")
        )
        assert changed.rowcount == 2
        none = await conn.execute(
            switches.update().where(switches.c.name == "x").values(changed_by="z")
        )
        assert none.rowcount == 0
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(switches.c.name, switches.c.changed_by).order_by(switches.c.name)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("a", "u"), ("b", "u"), ("c", "t")]


async def test_a_refused_write_raises_and_rolls_back(db: Database) -> None:
    """A constraint violation leaves the store as ``StoreRefused`` (SQLAlchemy's
    IntegrityError its cause), and the transaction's earlier writes are rolled back; the
    connection goes on working."""
    async with db.begin() as conn:
        await conn.execute(switches.insert().values(**_row("kept")))

    async def lost_then_duplicate() -> None:
        async with db.begin() as conn:
            await conn.execute(switches.insert().values(**_row("lost")))
            await conn.execute(switches.insert().values(**_row("kept")))

    with pytest.raises(StoreRefused) as refused:
        await lost_then_duplicate()
    assert isinstance(refused.value.__cause__, IntegrityError)
    async with db.connect() as conn:
        names = list((await conn.execute(sa.select(switches.c.name))).scalars())
    assert names == ["kept"]


async def test_a_cancelled_statement_is_waited_for(sqlite_url: str) -> None:
    """A task cancelled (even again and again) while its statement runs on the connection's
    thread ends only once the statement has: no statement outlives the task that started
    it (at shutdown, one that did would finish after the event loop closed, and its answer
    would be lost with an error in the thread)."""
    running, release, finished = threading.Event(), threading.Event(), threading.Event()

    def held() -> int:
        running.set()
        release.wait(30)
        finished.set()
        return 1

    database = Database(sqlite_url)
    sa.event.listen(
        database.engine.sync_engine,
        "connect",
        lambda connection, _record: connection.create_function("held", 0, held),
    )
    await database.create_schema()
    try:

        async def query() -> None:
            async with database.connect() as conn:
                await conn.execute(sa.text("SELECT held()"))

        task = asyncio.create_task(query())
        assert await asyncio.to_thread(running.wait, 30)
        for _ in range(5):  # cancelled again while it waits: still no statement left behind
            task.cancel()
            await asyncio.sleep(0)
        _, pending = await asyncio.wait([task], timeout=0.2)
        assert pending == {task}, "the task ended while its statement still ran"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()
    finally:
        release.set()
        await database.close()
