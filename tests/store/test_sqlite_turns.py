"""SQLite write transactions of one Medic take turns, first come first served, instead of
polling SQLite's lock with sleeps; nesting and the journal writer keep working."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.store import Database
from bot.store.schema import switches

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
WAITERS = 6


def _insert(name: str) -> sa.Insert:
    return switches.insert().values(name=name, value={}, changed_at=NOW, changed_by="t")


async def _yield_often() -> None:
    """Let every other task run until it waits on something outside the loop's queue."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_writers_commit_in_arrival_order(db: Database) -> None:
    """While one transaction holds SQLite's write lock, the ones that arrive meanwhile
    commit after it in the order they arrived (SQLite's own busy polling has no order:
    whichever connection's growing sleep ends first wins)."""
    committed: list[str] = []
    wrote, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.begin() as conn:
            await conn.execute(_insert("first"))
            wrote.set()
            await release.wait()
        committed.append("first")

    async def later(name: str) -> None:
        async with db.begin() as conn:
            await conn.execute(_insert(name))
        committed.append(name)

    holder = asyncio.create_task(first())
    await wrote.wait()
    names = [f"w{i}" for i in range(WAITERS)]
    waiters = []
    for name in names:
        waiters.append(asyncio.create_task(later(name)))
        await _yield_often()
    release.set()
    await asyncio.gather(holder, *waiters)
    assert committed == ["first", *names]


async def test_a_nested_transaction_in_the_same_task_goes_on(db: Database) -> None:
    """A transaction opened inside another one of the same task (or a task it starts)
    does not wait for its own turn; both commit."""
    async with db.begin() as outer:
        await outer.execute(sa.select(switches.c.name))

        async def inner(name: str) -> None:
            async with db.begin() as conn:
                await conn.execute(_insert(name))

        await inner("nested")
        await asyncio.gather(asyncio.create_task(inner("child")))
    async with db.connect() as conn:
        names = set((await conn.execute(sa.select(switches.c.name))).scalars())
    assert names == {"nested", "child"}


async def test_journal_writer_and_transactions_share_the_turns(db: Database) -> None:
    """Units of work on the writer thread and async transactions, many at once, all
    commit."""

    def unit(name: str) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            conn.execute(_insert(name))

        return work

    async def transaction(name: str) -> None:
        async with db.begin() as conn:
            await conn.execute(_insert(name))

    await asyncio.gather(
        *(db.run_transaction(unit(f"u{i}")) for i in range(20)),
        *(transaction(f"t{i}") for i in range(20)),
    )
    async with db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(switches))).scalar()
    assert count == 40
