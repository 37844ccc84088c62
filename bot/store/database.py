"""Open the store: one async engine, sqlite:/// (aiosqlite, WAL) or postgresql:// (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from bot.errors import PermanentError, StoreError, StoreRefused, StoreUnavailable
from bot.store import json_text
from bot.store.migrate import upgrade_to_head
from bot.store.sqlite_driver import one_hop_dbapi

# Raised by drivers when the server is gone: asyncpg raises OSError subclasses directly.
STORE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OperationalError, OSError)
# The subset that may succeed if tried again (the store is unreachable or busy), as opposed
# to data the store refuses (DataError, IntegrityError…), which fails the same way each time.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,  # every pooled connection busy for pool_timeout: the store is "full"
    OSError,
    TimeoutError,
)


def is_transient(err: BaseException) -> bool:
    """True when ``err`` says the store is unreachable (retry later), not that it refused: a
    driver error without a statement came from opening a connection (e.g. PostgreSQL "not
    yet accepting connections" while it recovers)."""
    if isinstance(err, TRANSIENT_ERRORS):
        return True
    return isinstance(err, DBAPIError) and (bool(err.connection_invalidated) or not err.statement)


def store_error(err: BaseException) -> StoreError | None:
    """``err`` as the store's own error (None when it is not about the store): unavailable
    when it may work later, refused otherwise. The message names the driver's error type
    only (a statement and its parameters stay out of logs and answers)."""
    if isinstance(err, StoreError):
        return err
    if is_transient(err):
        return StoreUnavailable(f"the store is unavailable: {_error_name(err)}")
    if isinstance(err, DBAPIError):
        return StoreRefused(f"the store refused: {_error_name(err)}")
    return None


def _error_name(err: BaseException) -> str:
    cause = err.orig if isinstance(err, DBAPIError) and err.orig is not None else None
    return type(err).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Raise what goes wrong in the block as :class:`StoreError` (see :func:`store_error`).
    An ``OSError`` or ``TimeoutError`` in a store transaction counts as the store's."""
    try:
        yield
    except Exception as err:
        translated = store_error(err)
        if translated is None or translated is err:
            raise
        raise translated from err


def async_url(url: str) -> sa.URL:
    """Map the configured URL onto its async driver (sqlite+aiosqlite, postgresql+asyncpg)."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise PermanentError(f"unsupported store url scheme {parsed.drivername!r}")


T = TypeVar("T")

log = structlog.get_logger(__name__)

# How long a SQLite transaction waits for its turn before taking it anyway (see _turn).
TURN_WAIT_S = 5.0
_HOLDS_TURN: ContextVar[bool] = ContextVar("medic_sqlite_write_turn", default=False)


def _in_memory(url: sa.URL) -> bool:
    """A SQLite URL naming an in-memory database (plain or URI form)."""
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# SQLite keeps JSON as text: label sets written by orjson (PostgreSQL's driver has its own).
_SQLITE_JSON: dict[str, Any] = {"json_serializer": json_text.dumps}


class Database:
    """The async engine plus schema setup and a readiness probe."""

    def __init__(self, url: str) -> None:
        target = async_url(url)
        self.backend = target.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.backend == "postgresql":
            kwargs["connect_args"] = {"timeout": 5, "command_timeout": 10}
            kwargs["pool_size"] = 5
            kwargs["pool_pre_ping"] = True  # a server restart leaves dead pooled connections
        else:
            # A SQLite file never drops a connection: no ping round trip per checkout; and
            # one trip to the connection's thread per statement instead of four.
            kwargs["module"] = one_hop_dbapi()
            kwargs.update(_SQLITE_JSON)
        self.engine: AsyncEngine = create_async_engine(target, **kwargs)
        self.errors = 0
        """Errors the driver raised so far (``medic_store_errors_total``)."""
        event.listen(self.engine.sync_engine, "handle_error", self._count_error)
        self._writer: sa.Engine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._write_turns: asyncio.Lock | None = None
        if self.backend == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        if self.backend == "sqlite" and not _in_memory(target):
            # aiosqlite hops to its thread and back for every call of a transaction; under
            # load each hop waits for the busy event loop. The hot write path (the alert
            # journal) runs whole transactions in one hop instead, on its own connection.
            # (An in-memory database exists once per connection: it keeps the async path.)
            self._writer = sa.create_engine(
                target.set(drivername="sqlite+pysqlite"),
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                **_SQLITE_JSON,
            )
            event.listen(self._writer, "connect", _sqlite_pragmas)
            event.listen(self._writer, "handle_error", self._count_error)
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            self._write_turns = asyncio.Lock()

    def _count_error(self, context: object) -> None:
        self.errors += 1

    async def create_schema(self) -> None:
        """Migrate the store to this release's schema (Alembic); refuse a newer schema."""
        try:
            async with self.engine.begin() as conn:
                await upgrade_to_head(conn)
        except STORE_ERRORS as err:
            raise StoreUnavailable(f"cannot prepare the store: {type(err).__name__}") from err

    async def ping(self) -> bool:
        """True when a round trip to the store works."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except STORE_ERRORS:
            return False
        return True

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction context (``async with db.begin() as conn``), committed when the block
        ends; what goes wrong with the store raises :class:`StoreError`."""
        async with translated_errors(), self._turn(), self.engine.begin() as conn:
            yield conn

    async def run_transaction(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one transaction, committed when it returns.

        ``work`` is synchronous SQLAlchemy Core on a plain connection. On SQLite it runs
        whole in the store's writer thread (one hop off the event loop, not one per call);
        on PostgreSQL inside an async transaction (asyncpg is asynchronous already)."""
        if self._writer is None or self._writer_thread is None:
            async with translated_errors(), self.engine.begin() as conn:
                return await conn.run_sync(work)
        writer, thread = self._writer, self._writer_thread

        def in_thread() -> T:
            with writer.begin() as conn:
                return work(conn)

        async with translated_errors(), self._turn():
            return await asyncio.get_running_loop().run_in_executor(thread, in_thread)

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """SQLite has one writer at a time, and a connection that finds the write lock taken
        polls for it with growing sleeps (1, 2, 5 … 100 ms). Transactions in this process
        take turns here instead, first come first served, so no connection ever polls for
        another of ours. A task (or a task it started) already holding the turn goes on
        (nesting behaves as before); a turn not granted within ``TURN_WAIT_S`` is taken
        anyway, falling back to SQLite's own locking."""
        turns = self._write_turns
        if turns is None or _HOLDS_TURN.get():
            yield
            return
        granted = False
        try:
            async with asyncio.timeout(TURN_WAIT_S):
                granted = await turns.acquire()
        except TimeoutError:
            log.warning("store.write_turn_slow", waited_s=TURN_WAIT_S)
        holding = _HOLDS_TURN.set(True)
        try:
            yield
        finally:
            _HOLDS_TURN.reset(holding)
            if granted:
                turns.release()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A read connection (``async with db.connect() as conn``); what goes wrong with the
        store raises :class:`StoreError`."""
        async with translated_errors(), self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        """Dispose of every pooled connection."""
        await self.engine.dispose()
        if self._writer is not None and self._writer_thread is not None:
            writer_thread, self._writer_thread = self._writer_thread, None
            await asyncio.get_running_loop().run_in_executor(writer_thread, self._writer.dispose)
            writer_thread.shutdown(wait=False)  # idle now: it ends on its own


__all__ = ["STORE_ERRORS", "AsyncConnection", "Database", "async_url"]
