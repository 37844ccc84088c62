"""The intake worker: takes committed-but-unprocessed alerts from the journal into incidents.

Ingress wakes it after each commit; on start it drains whatever a previous process left
unprocessed. Readers that want to see their own writes wait for :meth:`wait_processed`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from bot.engine.events import IncidentChange
from bot.engine.intake import IntakeResult, take_batch
from bot.engine.pagerduty_events import take_inbound_events
from bot.ingress.committer import Clock
from bot.playbooks.playbook import PlaybookSet
from bot.store import STORE_ERRORS, Database, inbound, journal

log = structlog.get_logger(__name__)

RETRY_DELAY_S = 1.0


class IntakeWorker:
    """One task processing the journal in id order, a batch per transaction."""

    def __init__(
        self,
        db: Database,
        on_changes: Callable[[Sequence[IncidentChange]], None],
        *,
        clock: Clock,
        playbooks: PlaybookSet,
        on_runs: Callable[[IntakeResult], None] = lambda _result: None,
        install: str = "",
        batch_size: int = 50,
    ) -> None:
        self._install = install
        self._playbooks = playbooks
        self._on_runs = on_runs
        self._db = db
        self._on_changes = on_changes
        self._clock = clock
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._limit = batch_size
        self.processed_through = 0
        self.events_through = 0
        self.events_target = 0

    async def start(self) -> None:
        """Start processing; anything left unprocessed by an earlier process goes first."""
        async with self._db.connect() as conn:
            self.events_target = await inbound.max_event_seq(conn)
        self._wakeup.set()
        self._task = asyncio.create_task(self._run(), name="intake-worker")

    async def stop(self) -> None:
        """Stop after the current batch."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def now(self) -> datetime:
        """The engine's clock."""
        return self._clock()

    def wake(self) -> None:
        """New alerts were journaled."""
        self._wakeup.set()

    def event_journaled(self, seq: int) -> None:
        """An inbound event was journaled: readers will wait for it too."""
        self.events_target = max(self.events_target, seq)
        self.wake()

    async def wait_processed(self, alert_id: int, event_seq: int = 0) -> None:
        """Wait until every alert up to ``alert_id`` and every inbound event up to
        ``event_seq`` is processed."""
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.processed_through >= alert_id and self.events_through >= event_seq
            )

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                while await self._process_batch():
                    pass
            except STORE_ERRORS as err:
                log.warning("intake.store_unavailable", error=type(err).__name__)
                await asyncio.sleep(RETRY_DELAY_S)
                self._wakeup.set()
            except Exception:  # one bad alert must not stop intake: isolate it, then skip it
                log.exception("intake.failed", batch=self._limit)
                if self._limit == 1:
                    await self._quarantine_next()
                self._limit = 1
                self._wakeup.set()

    async def _quarantine_next(self) -> None:
        """Mark the next unprocessed alert processed without an incident (it is logged)."""
        async with self._db.begin() as conn:
            for alert_id, _ in await journal.unprocessed(conn, 1):
                await journal.mark_processed(conn, alert_id, None, self._clock())
                log.error("intake.alert_skipped", alert_id=alert_id)

    async def _process_batch(self) -> bool:
        """Process one batch; False when the journal had nothing left."""
        result = IntakeResult()
        now = self._clock()
        async with self._db.begin() as conn:
            # Read the journal's end first: when nothing is pending afterwards, every alert
            # up to it is processed (read after, it could count one committed in between).
            end = await journal.max_alert_id(conn)
            events_end = await inbound.max_event_seq(conn)
            pending = await journal.unprocessed(conn, self._limit)
            if pending:
                await take_batch(conn, pending, now, result, self._playbooks)
            last_event = await take_inbound_events(
                conn, now, result, self._playbooks, self._install, self._limit
            )
            changes = await result.changes(conn, now)
        last = pending[-1][0] if pending else end
        if pending:
            self._limit = self._batch_size
        async with self._progress:
            self.processed_through = max(self.processed_through, last)
            self.events_through = max(
                self.events_through, events_end if last_event is None else last_event
            )
            self._progress.notify_all()
        self._on_changes(changes)
        self._on_runs(result)
        return bool(pending) or last_event is not None
