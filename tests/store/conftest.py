"""Fixtures shared by the store's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import Database


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite store, file-backed (so it has the writer thread too)."""
    database = Database(sqlite_url)
    await database.create_schema()
    yield database
    await database.close()
