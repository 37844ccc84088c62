"""``safety.max_concurrent_runs``: at most that many runs execute at once.

A run takes a slot before it executes and gives it back while it waits on a human or the
pause (evidence gathering elsewhere goes on) and when it stops. A replica alone on SQLite
counts its slots in memory (:class:`LocalSlots`); replicas sharing PostgreSQL count them in
the store (:class:`SharedSlots`, see :mod:`bot.store.run_slots`), so the limit is one for
all of them. A run waiting for a shared slot tries again when a slot is given back here or,
heard through the store, on another replica, and at least every ``POLL_S``; a replica's
waiting runs queue in memory, first come first served, and only the first asks the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Protocol

from bot.engine.replicas.lease import Replica
from bot.store import Database
from bot.store import run_slots as slot_store
from bot.store.locks import RUN_SLOTS, hold_until_commit

POLL_S = 0.5


class RunSlots(Protocol):
    """Where runs take and give back their ``max_concurrent_runs`` slot."""

    async def take(self, run_seq: int) -> None:
        """Wait for a slot for ``run_seq``."""

    async def give_back(self, run_seq: int) -> None:
        """``run_seq`` no longer executes (it waits, or it stopped)."""


class LocalSlots:
    """The slots of a replica alone on its store, in memory."""

    def __init__(self, size: int) -> None:
        self._free = asyncio.Semaphore(size)
        self._holders: set[int] = set()

    async def take(self, run_seq: int) -> None:
        """Wait for a slot (at once when ``run_seq`` holds one)."""
        if run_seq not in self._holders:
            await self._free.acquire()
            self._holders.add(run_seq)

    async def give_back(self, run_seq: int) -> None:
        """Free the slot of ``run_seq``, if it holds one."""
        if run_seq in self._holders:
            self._holders.discard(run_seq)
            self._free.release()


class SharedSlots:
    """The slots all replicas of a PostgreSQL store share, counted in the store."""

    def __init__(self, db: Database, replica: Replica, size: int) -> None:
        self._db = db
        self._replica = replica
        self._size = size
        self._freed = asyncio.Event()
        self._turn = asyncio.Lock()  # runs of this replica ask the store one at a time

    def freed(self) -> None:
        """A slot was given back (here or on another replica): waiting runs try again."""
        self._freed.set()
        self._freed = asyncio.Event()

    async def take(self, run_seq: int) -> None:
        """Wait until the store gives ``run_seq`` a slot. This replica's waiting runs queue
        here, first come first served, and only the first asks the store: a burst of runs
        waiting for slots costs one query per replica per freed slot, not one per run."""
        async with self._turn:
            while True:
                freed = self._freed
                async with self._db.begin() as conn:
                    await hold_until_commit(conn, RUN_SLOTS)
                    alive_since = self._replica.alive_since()
                    now = datetime.now(UTC)
                    if await slot_store.take(conn, run_seq, self._size, alive_since, now):
                        return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(freed.wait(), POLL_S)

    async def give_back(self, run_seq: int) -> None:
        """Free the slot of ``run_seq`` in the store."""
        async with self._db.begin() as conn:
            await slot_store.give_back(conn, run_seq)
        self.freed()


def run_slots(db: Database, replica: Replica, size: int) -> LocalSlots | SharedSlots:
    """The slots for this store: shared on PostgreSQL, in memory on SQLite."""
    return SharedSlots(db, replica, size) if db.backend == "postgresql" else LocalSlots(size)


@contextlib.asynccontextmanager
async def slot_held(slots: RunSlots, run_seq: int) -> AsyncIterator[None]:
    """Hold a slot for ``run_seq`` in the block."""
    await slots.take(run_seq)
    try:
        yield
    finally:
        await slots.give_back(run_seq)
