"""Group commit: concurrent deliveries share one transaction, each still answered on commit.

Every request hands its alerts to :meth:`AlertCommitter.submit` and waits. One writer
task takes whatever is queued (up to ``max_batch`` deliveries), runs intake for each in a
single transaction and, only once it has committed, wakes each waiting request with its
own counts. A failed commit fails every delivery of the batch with
:class:`StoreUnavailable` (the sender retries), so nothing is acknowledged unless durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from bot.engine.events import IncidentChange
from bot.engine.intake import IntakeResult, take_alerts
from bot.errors import StoreUnavailable
from bot.models import Alert
from bot.store import STORE_ERRORS, Database

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class _Delivery:
    alerts: list[Alert]
    done: asyncio.Future[IntakeResult]


class AlertCommitter:
    """The single writer for alert intake."""

    def __init__(
        self,
        db: Database,
        on_committed: Callable[[Sequence[IncidentChange]], None],
        *,
        max_batch: int = 128,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="alert-committer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @property
    def running(self) -> bool:
        """True while the writer task is alive."""
        return self._task is not None and not self._task.done()

    async def submit(self, alerts: list[Alert]) -> IntakeResult:
        """Commit ``alerts``; return once they are durable. Raises StoreUnavailable."""
        if not self.running:
            raise StoreUnavailable("the alert writer is not running")
        delivery = _Delivery(alerts, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(delivery)
        return await delivery.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Delivery]) -> None:
        now = self._clock()
        try:
            async with self._db.begin() as conn:
                results = [await take_alerts(conn, d.alerts, now) for d in batch]
        except Exception as err:
            if len(batch) > 1:  # one bad delivery must not fail its batch-mates: go one by one
                for delivery in batch:
                    await self._commit([delivery])
                return
            if isinstance(err, STORE_ERRORS):
                log.warning("store.commit_failed", error=type(err).__name__)
                err = StoreUnavailable(f"the store could not commit: {type(err).__name__}")
            else:
                log.exception("intake.failed")
            self._fail(batch, err)
            return
        for delivery, result in zip(batch, results, strict=True):
            if not delivery.done.done():
                delivery.done.set_result(result)
            self._on_committed(result.changes)

    @staticmethod
    def _fail(batch: list[_Delivery], error: Exception) -> None:
        for delivery in batch:
            if not delivery.done.done():
                delivery.done.set_exception(error)
