"""This process as one of the replicas sharing the store.

It registers itself, renews its heartbeat every third of ``store.lease_seconds`` and, on
each beat, claims the runs whose owner is gone (the lease lapsed, or the owner stopped
cleanly and handed them back) and gives them to the run manager, which recovers and resumes
them. A replica that could not renew its heartbeat for a whole lease may have lost its runs
to another one: it drops every run it drives and claims afresh.

On SQLite the store takes one replica (the file lock refuses a second), so every other
owner is gone by definition and runs are claimed at once.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from bot.errors import StoreUnavailable
from bot.store import Database
from bot.store import replicas as replica_store
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)


def _now() -> datetime:
    # Leases use the wall clock whatever clock the engine runs on (tests drive that one).
    return datetime.now(UTC)


class Replica:
    """This process's identity among the replicas, and the leases it holds."""

    def __init__(self, db: Database, lease_seconds: float) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._db = db
        self._lease = timedelta(seconds=lease_seconds)
        self._exclusive = db.backend == "sqlite"
        self._beat_at = _now()

    def alive_since(self) -> datetime | None:
        """Replicas whose heartbeat is older than this are gone (None: all others are)."""
        return None if self._exclusive else _now() - self._lease

    async def holds(self, lease: str) -> bool:
        """Take (or keep) the lease ``lease`` unless another live replica holds it."""
        async with self._db.begin() as conn:
            return await replica_store.take_lease(conn, lease, self.id, self.alive_since(), _now())

    @property
    def lease_seconds(self) -> float:
        """How long a silent replica keeps its runs and leases."""
        return self._lease.total_seconds()

    async def register(self) -> None:
        """Announce this replica (its first heartbeat)."""
        self._beat_at = _now()
        async with self._db.begin() as conn:
            await replica_store.register(conn, self.id, socket.gethostname(), self._beat_at)
        log.info("replica.started", replica=self.id, lease_s=self._lease.total_seconds())

    async def renew(self) -> bool:
        """Renew the heartbeat; True when it had lapsed (others may have taken runs)."""
        now = _now()
        async with self._db.begin() as conn:
            kept = await replica_store.heartbeat(conn, self.id, now)
            if not kept:
                await replica_store.register(conn, self.id, socket.gethostname(), now)
        lapsed = not kept or now - self._beat_at > self._lease
        self._beat_at = now
        return lapsed and not self._exclusive

    async def claim_orphans(self) -> list[int]:
        """Claim a batch of the runs nobody alive owns (forgetting dead replicas first)."""
        async with self._db.begin() as conn:
            since = self.alive_since()
            if since is not None:
                await replica_store.forget_dead(conn, since)
            return await replica_store.claim_orphans(conn, self.id, since)

    async def retire(self) -> None:
        """Hand this replica's unfinished runs back for others (if the store is away, the
        lease lapses instead)."""
        try:
            async with self._db.begin() as conn:
                await replica_store.retire(conn, self.id)
        except StoreUnavailable as err:
            log.warning("replica.retire_failed", error=str(err))


class ReplicaHeartbeat(BackgroundService):
    """Registers the replica, then beats: ``adopt`` gets runs taken over; ``lost`` is called
    when the replica's heartbeat lapsed (its runs may be elsewhere now). Stopping retires the
    replica."""

    task_name = "replica-heartbeat"

    def __init__(
        self,
        replica: Replica,
        *,
        adopt: Callable[[list[int]], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__()
        self._replica = replica
        self._adopt = adopt
        self._lost = lost

    async def _prepare(self) -> bool:
        """Register and take the runs nobody alive owns; the loop beats from then on."""
        await self._replica.register()
        await self._take_over()
        return True

    async def _close(self) -> None:
        await self._replica.retire()

    async def adopt_orphans(self) -> None:
        """Claim the runs nobody alive owns now (another replica handed its runs back)."""
        if self.running:
            await self._take_over()

    async def _take_over(self) -> None:
        """Claim the runs nobody alive owns and hand them to the run manager."""
        while True:
            seqs = await self._replica.claim_orphans()
            if seqs:
                log.info("replica.took_over", runs=seqs)
                await self._adopt(seqs)
            if len(seqs) < replica_store.CLAIM_BATCH:
                return

    async def _run(self) -> None:
        interval = self._replica.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if await self._replica.renew():
                    log.warning("replica.lease_lost", replica=self._replica.id)
                    await self._lost()
                await self._take_over()
            except StoreUnavailable as err:
                log.warning("replica.heartbeat_failed", error=str(err))
