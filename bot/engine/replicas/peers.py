"""What other replicas changed, heard on PostgreSQL: the pause switch (a pause through one
replica holds write steps on all of them), decisions on the approvals this replica's runs
wait on, intake batches (reads waiting for them), freed run slots and runs handed back by a
replica that stopped.

Word arrives at once through ``LISTEN``/``NOTIFY`` (:mod:`bot.store.notify`); as a fallback
for a notification lost while the listening connection was down, the pause and the awaited
approvals are also polled every ``POLL_S`` (reads and slots poll on their own, orphaned runs
are looked for on every heartbeat). A replica alone on SQLite hears every change
in-process and runs no watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from bot.engine.approvals.hub import ApprovalHub
from bot.engine.safety.pause import PauseSwitch
from bot.errors import StoreUnavailable
from bot.store import Database
from bot.store import replicas as replica_store
from bot.store.notify import Topic, listen
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)

POLL_S = 0.5


class _Listener(BackgroundService):
    """``LISTEN`` on a connection of its own (reconnecting), handing each word over."""

    task_name = "peers"

    def __init__(
        self,
        db: Database,
        on_message: Callable[[Topic, str], None],
        on_connected: Callable[[], None],
    ) -> None:
        super().__init__()
        self._db = db
        self._on_message = on_message
        self._on_connected = on_connected

    async def _run(self) -> None:
        await listen(self._db, self._on_message, self._on_connected)


class PeerWatch(BackgroundService):
    """A listener for other replicas' word, and a task acting on it (and polling); both on
    PostgreSQL only."""

    task_name = "peer-watch"

    def __init__(
        self,
        db: Database,
        pause: PauseSwitch,
        hub: ApprovalHub,
        *,
        on_intake: Callable[[], None],
        on_slot_freed: Callable[[], None],
        on_runs_handed_back: Callable[[], Awaitable[None]],
        poll_s: float = POLL_S,
    ) -> None:
        super().__init__()
        self._db = db
        self._pause = pause
        self._hub = hub
        self._on_intake = on_intake
        self._on_slot_freed = on_slot_freed
        self._on_runs = on_runs_handed_back
        self._poll_s = poll_s
        self._heard = asyncio.Event()
        self._pause_changed = False
        self._runs_handed_back = False
        self._listener = _Listener(db, self._hear, self._reconnected)

    async def _prepare(self) -> bool:
        """Start listening (PostgreSQL only); the loop acts on what it hears."""
        if self._db.backend != "postgresql":
            return False
        await self._listener.start()
        return True

    async def _close(self) -> None:
        await self._listener.stop()

    def _hear(self, topic: Topic, detail: str) -> None:
        """One notification (called by the driver: only flags and wake-ups here)."""
        if topic is Topic.INTAKE:
            self._on_intake()
        elif topic is Topic.SLOT:
            self._on_slot_freed()
        elif topic is Topic.APPROVAL:
            if detail.isdigit() and int(detail) in self._hub.waiting():
                self._hub.notify(int(detail))
        else:
            self._pause_changed |= topic is Topic.PAUSE
            self._runs_handed_back |= topic is Topic.RUNS
            self._heard.set()

    def _reconnected(self) -> None:
        """Listening (again): what was sent before may be lost, so look at everything."""
        self._pause_changed = self._runs_handed_back = True
        self._heard.set()
        self._on_intake()
        self._on_slot_freed()

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._poll_s):
                    await self._heard.wait()
            except TimeoutError:
                self._pause_changed = True  # the fallback poll
                await self._guarded(self._poll_approvals)
            self._heard.clear()
            if self._pause_changed:
                self._pause_changed = False
                await self._guarded(self._pause.load)
            if self._runs_handed_back:
                self._runs_handed_back = False
                await self._guarded(self._on_runs)

    async def _poll_approvals(self) -> None:
        async with self._db.connect() as conn:
            closed = await replica_store.closed_approvals(conn, self._hub.waiting())
        for approval_seq in closed:
            self._hub.notify(approval_seq)

    async def _guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except StoreUnavailable as err:
            log.warning("peers.store_unavailable", error=str(err))
