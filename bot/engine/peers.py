"""What other replicas changed, heard on PostgreSQL by polling the store twice a second: the
pause switch (a pause through one replica holds write steps on all of them), and decisions
on the approvals this replica's runs wait on (taken through another replica). A replica
alone on SQLite hears every change in-process and runs no watch.
"""

from __future__ import annotations

import asyncio

import structlog

from bot.engine.approvals import ApprovalHub
from bot.engine.pause import PauseSwitch
from bot.store import Database, is_transient
from bot.store import replicas as replica_store
from bot.tasks import cancel_all

log = structlog.get_logger(__name__)

POLL_S = 0.5


class PeerWatch:
    """One task polling the pause switch and the awaited approvals."""

    def __init__(self, db: Database, pause: PauseSwitch, hub: ApprovalHub) -> None:
        self._db = db
        self._pause = pause
        self._hub = hub
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start polling (PostgreSQL only)."""
        if self._db.backend == "postgresql":
            self._task = asyncio.create_task(self._poll(), name="peer-watch")

    async def stop(self) -> None:
        """Stop polling."""
        await cancel_all([self._task])
        self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            try:
                await self._pause.load()
                async with self._db.connect() as conn:
                    closed = await replica_store.closed_approvals(conn, self._hub.waiting())
                for approval_seq in closed:
                    self._hub.notify(approval_seq)
            except Exception as err:
                if not is_transient(err):
                    raise
                log.warning("peers.store_unavailable", error=type(err).__name__)
