"""The intake worker: takes committed-but-unprocessed alerts from the journal into incidents.

Replicas sharing a PostgreSQL store take turns (an advisory lock held by each intake
transaction), so each alert is taken once and grouped exactly as one replica would.

Ingress wakes it after each commit; on start it drains whatever a previous process left
unprocessed. Readers that want to see their own writes wait at its :attr:`barrier`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

import structlog

from bot.actions.hooks import InboundMapper
from bot.clock import Now
from bot.engine.intake.external_events import TransactionDesk, take_external_events
from bot.engine.intake.grouping import IntakeResult, take_batch
from bot.engine.intake.read_barrier import ReadBarrier
from bot.errors import StoreUnavailable
from bot.events import IncidentChange
from bot.models import Alert
from bot.playbooks.playbook import PlaybookSet
from bot.store import Database, inbound_events, incidents, journal
from bot.store.locks import INTAKE, hold_until_commit
from bot.store.notify import Topic, announce
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)

RETRY_DELAY_S = 1.0
# In a storm the intake gathers: after a batch of at least GATHER_FROM alerts it lets time
# pass before the next, GATHER_MIN_S, or longer after a bigger batch (GATHER_S_PER_ALERT)
# up to GATHER_MAX_S, so a sustained storm is taken hundreds at a time (a batch's reads,
# writes and commit cost about as much for fifty alerts as for five hundred: in batches of
# 100 an alert costs half as much again as in batches of 250). A system briefly behind
# (new incidents at 20/s on a busy core) waits GATHER_MIN_S: waiting less made its batches
# smaller and dearer, and its latency worse. A full batch is followed at once; a quiet
# system never waits.
GATHER_FROM = 16
GATHER_MIN_S = 0.03
GATHER_S_PER_ALERT = 0.0005
GATHER_MAX_S = 0.1


def gathering_s(last_batch: int) -> float:
    """How long to let alerts gather after a batch of ``last_batch`` alerts."""
    if last_batch < GATHER_FROM:
        return 0.0
    return min(GATHER_MAX_S, max(GATHER_MIN_S, last_batch * GATHER_S_PER_ALERT))


# Alerts this process journaled, kept by row id until the intake takes them so it need not
# read them back; past this many (the intake far behind) the rest are read from the store.
MAX_KNOWN_ALERTS = 5_000


class _Unreachable(Exception):
    """The store could not be reached: wait and retry the same batch."""


class IntakeWorker(BackgroundService):
    """One task processing the journal in id order, a batch per transaction."""

    task_name = "intake-worker"

    def __init__(
        self,
        db: Database,
        on_changes: Callable[[Sequence[IncidentChange]], None],
        *,
        clock: Now,
        playbooks: PlaybookSet,
        on_runs: Callable[[IntakeResult], None] = lambda _result: None,
        install: str = "",
        mappers: Mapping[str, InboundMapper] | None = None,
        batch_size: int = 500,
    ) -> None:
        super().__init__()
        self._install = install
        self._mappers = dict(mappers or {})
        self._playbooks = playbooks
        self._on_runs = on_runs
        self._db = db
        self._on_changes = on_changes
        self._clock = clock
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._limit = batch_size
        self._known: dict[int, Alert] = {}
        self._last_batch = 0
        # SQLite has one replica: events only arrive through this process, which knows
        # when one was journaled; several replicas may each journal them.
        self._events_due = True
        self._events_always = db.backend != "sqlite"
        self.barrier = ReadBarrier(db)

    async def _prepare(self) -> bool:
        """Recount the open incidents' alerts (an earlier release, or a replica still
        running one, files alerts without counting them); anything left unprocessed by an
        earlier process goes first."""
        try:
            async with self._db.begin() as conn:
                await hold_until_commit(conn, INTAKE)
                await incidents.recount_open(conn)
        except StoreUnavailable as err:  # a correction, not a condition to start
            log.warning("intake.recount_skipped", error=str(err))
        self._wakeup.set()
        return True

    def now(self) -> datetime:
        """The engine's clock."""
        return self._clock()

    def wake(self) -> None:
        """New alerts were journaled."""
        self._wakeup.set()

    def journaled(self, rows: Mapping[int, Alert]) -> None:
        """This process journaled ``rows`` (by row id, as they read back): take them."""
        if len(self._known) + len(rows) <= MAX_KNOWN_ALERTS:
            self._known.update(rows)
        self._wakeup.set()

    def event_journaled(self, seq: int) -> None:
        """Inbound event ``seq`` was journaled."""
        self._events_due = True
        self.wake()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                gather_s = gathering_s(self._last_batch)
                if gather_s:
                    await asyncio.sleep(gather_s)
                while await self._process_batch():
                    pass
            except _Unreachable as err:
                log.warning("intake.store_unavailable", error=str(err.__cause__))
                self._events_due = True
                await asyncio.sleep(RETRY_DELAY_S)
                self._wakeup.set()

    async def _process_batch(self) -> bool:
        """Process one batch of alerts, then of inbound events; False when neither journal
        may have more (a batch short of the limit took all there was: what is journaled
        later wakes the worker again). A permanent failure (a bug, data the store refuses)
        isolates the item that causes it and skips it, logged, so one bad item never stops
        intake."""
        alerts = await self._guarded(self._process_alerts, self._skip_next_alert)
        events = False
        if self._events_due or self._events_always:
            self._events_due = False
            events = await self._guarded(self._process_events, self._skip_next_event)
            self._events_due = self._events_due or events  # one journaled meanwhile counts
        return alerts or events

    async def _guarded(
        self, phase: Callable[[], Awaitable[bool]], skip: Callable[[], Awaitable[None]]
    ) -> bool:
        try:
            found = await phase()
        except StoreUnavailable as err:
            raise _Unreachable from err
        except Exception:
            # permanent (a bug, data the store refuses): narrow to one item, then skip it
            log.exception("intake.failed", batch=self._limit)
            if self._limit == 1:
                await skip()
            self._limit = 1
            return True
        self._limit = self._batch_size if found else self._limit
        return found

    async def _skip_next_alert(self) -> None:
        async with self._db.begin() as conn:
            await hold_until_commit(conn, INTAKE)
            for alert_id, _ in await journal.unprocessed(conn, 1):
                await journal.mark_processed(conn, alert_id, None, self._clock())
                self._known.pop(alert_id, None)
                log.error("intake.alert_skipped", alert_id=alert_id)

    async def _skip_next_event(self) -> None:
        async with self._db.begin() as conn:
            await hold_until_commit(conn, INTAKE)
            for seq, _, _ in await inbound_events.unprocessed_events(conn, 1):
                await inbound_events.mark_event_processed(conn, seq, self._clock())
                log.error("intake.event_skipped", inbound_event=seq)

    async def _process_alerts(self) -> bool:
        """Take a batch of journaled alerts into incidents; False when it took all there
        was (or none was pending)."""
        result = IntakeResult()
        now = self._clock()
        limit = self._limit
        async with self._db.begin() as conn:
            await hold_until_commit(conn, INTAKE)
            pending = await journal.unprocessed(conn, limit, self._known)
            if pending:
                await take_batch(conn, pending, now, result, self._playbooks)
                await announce(conn, Topic.INTAKE)  # reads waiting on other replicas
            changes = await result.changes(conn, now)
        self._forget(pending)
        self._last_batch = len(pending)
        if pending:
            self.barrier.progressed()
        self._on_changes(changes)
        self._on_runs(result)
        return len(pending) >= limit

    def _forget(self, taken: list[tuple[int, Alert]]) -> None:
        """Drop known alerts that are processed now: those just taken, and those below the
        oldest one pending (another replica took them). Only a cache: an alert dropped too
        early is read from the journal."""
        if not taken:
            self._known.clear()
            return
        for alert_id, _ in taken:
            self._known.pop(alert_id, None)
        oldest = taken[0][0]
        stale = [alert_id for alert_id in self._known if alert_id < oldest]
        for alert_id in stale:
            del self._known[alert_id]

    async def _process_events(self) -> bool:
        """Map a batch of journaled inbound events (integrations' webhooks) through their
        integration's ``inbound`` hook; False when none was pending."""
        result = IntakeResult()
        now = self._clock()
        async with self._db.begin() as conn:
            await hold_until_commit(conn, INTAKE)
            desk = TransactionDesk(conn, now, result, self._playbooks, self._install)
            last = await take_external_events(conn, self._mappers, desk, self._limit)
            if last is not None:
                await announce(conn, Topic.INTAKE)
            changes = await result.changes(conn, now)
        if last is not None:
            self.barrier.progressed()
        self._on_changes(changes)
        self._on_runs(result)
        return last is not None
