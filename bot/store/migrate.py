"""Bring the store's schema to this release's head revision (Alembic), or refuse.

Every replica migrates at startup; on PostgreSQL an advisory lock makes replicas that start
together migrate one after the other (the later ones find nothing to do). A store migrated
by a newer Medic (a revision this release does not know) is refused: running older code on
a newer schema could lose data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import PermanentError, StoreRefused
from bot.store import locks
from bot.store.locks import hold_until_commit
from bot.store.schema import metadata

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaTooNew(StoreRefused):
    """The store was migrated by a newer Medic."""


@dataclass(frozen=True, slots=True)
class _Scripts:
    config: Config
    directory: ScriptDirectory
    head: str
    known: frozenset[str]


def _load_scripts() -> _Scripts:
    """Read every revision file (blocking file I/O: run in a worker thread)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    directory = ScriptDirectory.from_config(config)
    known = frozenset(script.revision for script in directory.walk_revisions())
    head = directory.get_current_head()
    if head is None:
        raise PermanentError(f"no migrations found in {MIGRATIONS}")
    return _Scripts(config, directory, head, known)


async def upgrade_to_head(conn: AsyncConnection) -> str:
    """Migrate inside ``conn``'s transaction; return the head revision now applied."""
    scripts = await asyncio.to_thread(_load_scripts)
    await hold_until_commit(conn, locks.MIGRATION)
    await conn.run_sync(_upgrade, scripts)
    return scripts.head


def _upgrade(conn: sa.Connection, scripts: _Scripts) -> None:
    current = MigrationContext.configure(conn).get_current_heads()
    unknown = [revision for revision in current if revision not in scripts.known]
    if unknown:
        raise SchemaTooNew(
            f"the store's schema is at revision {', '.join(unknown)}, newer than this Medic "
            f"knows (its newest is {scripts.head}): a newer Medic migrated it; run that "
            "version or newer"
        )

    def steps(revision: Any, _context: MigrationContext) -> Any:
        # Alembic's own recipe for upgrading from code, without env.py.
        return scripts.directory._upgrade_revs(scripts.head, revision)

    with EnvironmentContext(
        scripts.config, scripts.directory, fn=steps, destination_rev=scripts.head
    ) as environment:
        environment.configure(connection=conn, target_metadata=metadata, fn=steps)
        with environment.begin_transaction():
            environment.run_migrations()


async def current_revision(conn: AsyncConnection) -> tuple[str, ...]:
    """The revisions recorded in the store (empty before the first migration)."""
    return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
