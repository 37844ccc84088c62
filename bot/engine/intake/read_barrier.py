"""Read-your-writes for every replica: a read waits until everything acknowledged before it
began (through any replica) has been taken by the engine (see :mod:`bot.store.backlog`).

Waiting readers check the store again whenever an intake batch commits: this replica's
(the worker says so) or another's (heard through the store, see :mod:`bot.engine.replicas.peers`),
and at least every ``POLL_S`` should such a word be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.store import Database, backlog

POLL_S = 0.2


class ReadBarrier:
    """Where readers wait for the engine to catch up with what was acknowledged."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._progress = asyncio.Event()

    def progressed(self) -> None:
        """An intake batch committed somewhere: waiting readers look again."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait(self, within: float) -> bool:
        """Wait at most ``within`` seconds until every alert and inbound event committed
        before this call is processed; False when that time ran out first."""
        deadline = time.monotonic() + within
        async with self._db.connect() as conn:
            through = await backlog.mark(conn)
        while not through.empty:
            progress = self._progress
            async with self._db.connect() as conn:
                if not await backlog.pending_through(conn, through):
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), min(POLL_S, left))
        return True
