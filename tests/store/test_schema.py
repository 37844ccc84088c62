"""The store creates the whole data model and records its schema version."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store import Database
from bot.store.schema import SCHEMA_VERSION

TABLES = {
    "schema_version",
    "incidents",
    "alerts",
    "incident_alerts",
    "runs",
    "steps",
    "approvals",
    "approval_decisions",
    "audit_events",
    "webhook_deliveries",
    "switches",
}


async def test_schema_is_created_once_with_its_version(store_url: str) -> None:
    """Creating the schema twice (a restart) keeps one version row and every table."""
    for _ in range(2):
        db = Database(store_url)
        await db.create_schema()
        await db.close()
    db = Database(store_url)
    async with db.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        versions = (await conn.execute(sa.text("SELECT version FROM schema_version"))).all()
    await db.close()
    assert tables >= TABLES
    assert [row[0] for row in versions] == [SCHEMA_VERSION]


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    """SQLite stores use write-ahead logging."""
    db = Database(sqlite_url)
    await db.create_schema()
    async with db.connect() as conn:
        mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
    await db.close()
    assert mode == "wal"
