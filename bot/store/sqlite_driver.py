"""aiosqlite with one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter makes each statement four round trips between the event
loop and aiosqlite's connection thread: open a cursor, execute, fetch the rows, close the
cursor. Each trip wakes the loop and, while the loop is busy, waits for the GIL, so under
load a statement costs several milliseconds of latency and most of its CPU is the trips.
This adapter runs the four in one call on the same thread (the connection's own, as
before: one connection is still used by one thread only) and hands back the finished
rows, row count and last row id. Transactions, isolation and errors are aiosqlite's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# What one statement leaves behind: description, rowcount, lastrowid, rows.
_Outcome = tuple[Any, int, int | None, list[Any]]


def _run_statement(
    connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """On the connection's thread: the whole statement, cursor to closed cursor."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose ``execute`` is one trip to the connection's thread, rows included."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False  # nothing stays open between trips

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no driver cursor outlives a trip
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        """The last statement's column description (None when it returned no rows)."""
        return self._description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed (sqlite3's semantics)."""
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        """The row id of the last inserted row."""
        return self._lastrowid  # type: ignore[return-value]  # DB-API allows None

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        """Execute, fetch and close in one trip."""
        return self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        """``executemany`` in one trip."""
        return self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        try:
            outcome: _Outcome = await_(self._one_trip(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)

    async def _one_trip(self, operation: str, parameters: Any, many: bool) -> _Outcome:
        async with self._adapt_connection._execute_mutex:
            connection: Any = self._connection
            trip: asyncio.Future[_Outcome] = asyncio.ensure_future(
                connection._execute(_run_statement, connection, operation, parameters, many)
            )
            try:
                return await asyncio.shield(trip)
            except asyncio.CancelledError:
                await _until_done(trip)
                raise


async def _until_done(trip: asyncio.Future[_Outcome]) -> None:
    """Wait for a statement whose caller was cancelled: it runs on in the connection's
    thread regardless, and must not outlive the task that started it (at shutdown it would
    answer an event loop already closed). Bounded by the statement itself (a lock waits at
    most ``busy_timeout``); further cancellations meanwhile are held back until it ends."""
    while not trip.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([trip])
    if not trip.cancelled():
        trip.exception()  # retrieved: the caller's cancellation is what it reports


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's adapted connection, handing out :class:`OneHopCursor`; commit and
    rollback make no trip when no transaction is open (the pool rolls back every
    connection it takes back, most of them after reads only)."""

    __slots__ = ()
    _cursor_cls = OneHopCursor

    def _in_transaction(self) -> bool:
        connection: Any = self._connection
        raw = connection._connection
        # sqlite3's flag; reading it needs no trip (no statement runs meanwhile: the
        # connection belongs to the caller). A closed connection goes the usual way.
        return raw is None or bool(raw.in_transaction)

    def rollback(self) -> None:
        """Roll back, unless nothing is open."""
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        """Commit, unless nothing is open."""
        if self._in_transaction():
            super().commit()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect uses, with one-trip cursors."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        """An aiosqlite connection whose cursors make one trip per statement."""
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def one_hop_dbapi() -> OneHopDBAPI:
    """The module to pass as ``create_async_engine(..., module=...)`` for SQLite."""
    return OneHopDBAPI(aiosqlite, sqlite3)
