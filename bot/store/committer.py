"""Group commit: concurrent deliveries share one transaction, each answered after the commit.

Every request hands its alerts to :meth:`AlertCommitter.submit` and waits. One writer
task takes whatever is queued (up to ``max_batch`` deliveries), journals all their alerts
with one insert per few hundred rows and commits; only then is each waiting request woken
with its own counts. A failed commit fails the deliveries with :class:`StoreUnavailable`
(the sender retries), so nothing is acknowledged unless durable. Grouping into incidents
happens after the commit, in the engine, from the journal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from bot.clock import Now, utc_now
from bot.errors import StoreUnavailable
from bot.models import Alert
from bot.store.database import Database, store_error
from bot.store.journal import as_journaled, identity, journal_alerts, written
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class JournalResult:
    """What one delivery added to the journal."""

    accepted: int
    duplicates: int


@dataclass(slots=True)
class _Delivery:
    alerts: list[Alert]
    done: asyncio.Future[JournalResult]


class AlertCommitter(BackgroundService):
    """The single writer of the alert journal."""

    task_name = "alert-committer"

    def __init__(
        self,
        db: Database,
        on_committed: Callable[[Mapping[int, Alert]], None],
        *,
        max_batch: int = 256,
        clock: Now = utc_now,
    ) -> None:
        super().__init__()
        self._db = db
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()

    async def _drain(self) -> None:
        """Commit what is queued before stopping."""
        await self._queue.join()

    async def submit(self, alerts: list[Alert]) -> JournalResult:
        """Journal ``alerts``; return once they are durable. Raises StoreUnavailable."""
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
        try:
            journaled = [a for d in batch for a in d.alerts]
            received_at = self._clock()
            inserted = await self._db.run_transaction(
                lambda conn: journal_alerts(conn, journaled, received_at)
            )
        except Exception as err:  # every waiting request must be answered, whatever failed
            error: Exception = err
            if store_error(err) is not None:
                cause = err.__cause__ or err
                log.warning(
                    "store.commit_failed", error=type(cause).__name__, deliveries=len(batch)
                )
                error = StoreUnavailable(f"the store could not commit: {type(cause).__name__}")
            else:
                log.exception("journal.failed", deliveries=len(batch))
            for delivery in batch:
                if not delivery.done.done():
                    delivery.done.set_exception(error)
            return
        # What each new row holds, handed to the intake so it need not read it back.
        rows = written(journaled)
        journaled_rows: dict[int, Alert] = {}
        for delivery in batch:
            accepted = 0
            for alert in delivery.alerts:
                key = identity(alert)
                row_id = inserted.pop(key, None)
                if row_id is not None:
                    journaled_rows[row_id] = as_journaled(rows[key])
                    accepted += 1
            if not delivery.done.done():
                delivery.done.set_result(
                    JournalResult(accepted=accepted, duplicates=len(delivery.alerts) - accepted)
                )
        self._on_committed(journaled_rows)
