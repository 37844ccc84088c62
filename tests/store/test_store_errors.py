"""The store's errors leave it as Medic's own: ``StoreUnavailable`` when the store is away
(may work later), ``StoreRefused`` when it rejects the work; never a driver's error, whether
from a read connection, a transaction or the SQLite writer thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.errors import StoreRefused, StoreUnavailable
from bot.store import Database
from bot.store.schema import switches

from harness.postgres import PostgresServer

AT = datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server this test may stop."""
    with PostgresServer().start(tmp_path) as server:
        yield server


async def test_a_stopped_postgres_is_store_unavailable(own_postgres: PostgresServer) -> None:
    """With the server gone, reads and transactions raise ``StoreUnavailable`` (the driver's
    error kept as its cause, its name in the message)."""
    db = Database(own_postgres.url)
    await db.create_schema()
    own_postgres.stop(mode="immediate")
    try:
        with pytest.raises(StoreUnavailable) as read:
            async with db.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        with pytest.raises(StoreUnavailable):
            async with db.begin() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await db.close()
    assert read.value.__cause__ is not None
    assert "unavailable" in str(read.value)


ROW = {"name": "dup", "value": {"secret": "s3cr3t"}, "changed_by": "t", "changed_at": AT}


def _insert_twice(conn: sa.Connection) -> None:
    conn.execute(switches.insert().values(**ROW))
    conn.execute(switches.insert().values(**ROW))


async def _insert_twice_async(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(switches.insert().values(**ROW))
        await conn.execute(switches.insert().values(**ROW))


async def _write_without_waiting(db: Database) -> None:
    async with db.begin() as conn:
        await conn.exec_driver_sql("PRAGMA busy_timeout=0")
        await conn.execute(
            switches.insert().values(name="x", value={}, changed_by="t", changed_at=AT)
        )


async def test_rejected_data_is_store_refused(tmp_path: Path) -> None:
    """A constraint the data breaks raises ``StoreRefused`` from a transaction and from the
    SQLite writer thread, naming only the error's type (no statement, no values)."""
    db = Database(f"sqlite:///{tmp_path / 'medic.db'}")
    await db.create_schema()
    try:
        with pytest.raises(StoreRefused) as refused:
            await _insert_twice_async(db)
        with pytest.raises(StoreRefused):
            await db.run_transaction(_insert_twice)
    finally:
        await db.close()
    assert isinstance(refused.value.__cause__, sa.exc.IntegrityError)
    assert "s3cr3t" not in str(refused.value)
    assert "INSERT" not in str(refused.value)


async def test_a_locked_sqlite_store_is_store_unavailable(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock makes a write ``StoreUnavailable``."""
    path = tmp_path / "medic.db"
    db = Database(f"sqlite:///{path}")
    await db.create_schema()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            await _write_without_waiting(db)
    finally:
        holder.rollback()
        holder.close()
        await db.close()
