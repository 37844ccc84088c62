"""The store's schema is versioned with Alembic: built, upgraded and guarded at startup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import Database
from bot.store.migrate import SchemaTooNew, current_revision
from bot.store.schema import metadata

from harness.medic import serve_refused

RELEASE_DUMPS = Path(__file__).parent.parent / "data" / "store-v1"
NEWER_REVISION = "9999_from_the_future"


def _differences(sync: sa.Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(sync), metadata)


async def _schema_state(db: Database) -> tuple[list[Any], tuple[str, ...], list[int]]:
    """What differs from ``schema.py``, the Alembic revision, the legacy version rows."""
    async with db.connect() as conn:
        differences = await conn.run_sync(_differences)
        revision = await current_revision(conn)
        versions = (await conn.execute(sa.text("SELECT version FROM schema_version"))).scalars()
        return differences, revision, sorted(versions)


async def _load_release_store(db: Database) -> None:
    """Create the store exactly as the release before Alembic did, with an incident and a
    run in it."""
    dump = (RELEASE_DUMPS / f"{db.backend}.sql").read_text()
    statements = [s for s in dump.split(";\n") if s.strip() and not s.lstrip().startswith("--")]
    at = datetime(2026, 11, 30, 12, tzinfo=UTC).replace(tzinfo=None)
    async with db.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)
        await conn.execute(
            sa.text(
                "INSERT INTO incidents (title, severity, status, group_key, created_at,"
                " updated_at, commander) VALUES ('disk full', 'sev2', 'open', 'k', :at, :at,"
                " 'medic')"
            ),
            {"at": at},
        )
        for fingerprint, status in (("a1", "firing"), ("a2", "resolved"), ("a3", "firing")):
            await conn.execute(
                sa.text(
                    "INSERT INTO incident_alerts (incident_seq, source, fingerprint, status,"
                    " starts_at, labels, annotations, updated_at) VALUES (1, 'alertmanager',"
                    " :fingerprint, :status, :at, '{}', '{}', :at)"
                ),
                {"fingerprint": fingerprint, "status": status, "at": at},
            )
        await conn.execute(
            sa.text(
                "INSERT INTO runs (incident_seq, playbook, status, started_by, params,"
                " created_at, updated_at) VALUES (1, 'clean', 'running', 'medic', '{}', :at, :at)"
            ),
            {"at": at},
        )


async def test_a_new_store_gets_exactly_the_schema_of_this_release(store_url: str) -> None:
    """A fresh store is migrated to the head revision and matches ``schema.py`` table for
    table, column for column; starting again (a restart) changes nothing."""
    for _ in range(2):
        db = Database(store_url)
        await db.create_schema()
        await db.close()
    db = Database(store_url)
    differences, revision, versions = await _schema_state(db)
    await db.close()
    assert differences == []
    assert revision == ("0007",)
    assert versions == [1, 2]


async def test_a_store_made_by_the_release_before_alembic_is_upgraded(store_url: str) -> None:
    """The store the previous release created (its DDL, kept in tests/data) is adopted and
    upgraded in place: its incidents and runs are kept, each incident's alerts (and those
    still firing) are counted onto it, and the result is this release's schema."""
    db = Database(store_url)
    await _load_release_store(db)
    await db.create_schema()
    differences, revision, versions = await _schema_state(db)
    async with db.connect() as conn:
        incident = (
            await conn.execute(sa.text("SELECT title, alert_count, firing_count FROM incidents"))
        ).one()
        run = (await conn.execute(sa.text("SELECT playbook, owner FROM runs"))).one()
    await db.close()
    assert differences == []
    assert revision == ("0007",)
    assert versions == [1, 2]
    assert tuple(incident) == ("disk full", 3, 2)
    assert tuple(run) == ("clean", None)


async def test_a_store_migrated_by_a_newer_medic_is_refused(store_url: str) -> None:
    """A schema revision this release does not know means a newer Medic migrated the
    store: startup stops with an error that says so, and the store is left untouched."""
    db = Database(store_url)
    await db.create_schema()
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER_REVISION}
        )
    with pytest.raises(SchemaTooNew, match=f"revision {NEWER_REVISION}, newer than this Medic"):
        await db.create_schema()
    async with db.connect() as conn:
        assert await current_revision(conn) == (NEWER_REVISION,)
    await db.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    """Several replicas migrating a new PostgreSQL store at the same moment all succeed
    (an advisory lock makes them take turns) and leave one schema at the head."""
    dbs = [Database(postgres_url) for _ in range(4)]
    await asyncio.gather(*(db.create_schema() for db in dbs))
    differences, revision, versions = await _schema_state(dbs[0])
    for db in dbs:
        await db.close()
    assert (differences, revision, versions) == ([], ("0007",), [1, 2])


def test_medic_serve_refuses_a_newer_schema_with_a_clear_error(tmp_path: Path) -> None:
    """``medic serve`` on a store a newer Medic migrated exits 1 at startup and prints why."""
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    asyncio.run(_stamp_newer(url))
    done = serve_refused(url)
    assert done.returncode == 1
    assert f"revision {NEWER_REVISION}, newer than this Medic" in done.stderr


async def _stamp_newer(url: str) -> None:
    db = Database(url)
    await db.create_schema()
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER_REVISION}
        )
    await db.close()


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    """SQLite stores use write-ahead logging."""
    db = Database(sqlite_url)
    await db.create_schema()
    async with db.connect() as conn:
        mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar()
    await db.close()
    assert mode == "wal"
