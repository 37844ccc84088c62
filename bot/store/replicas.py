"""Replicas sharing one store: heartbeats, run ownership, named leases.

A replica is alive while its heartbeat is younger than the lease; a run belongs to the
replica named in ``runs.owner``, and once that owner is gone (or the run has no owner)
any live replica may claim it. Claims are single UPDATEs guarded by their WHERE clause, so
two replicas claiming the same run cannot both succeed; on PostgreSQL the scan for
orphans skips rows another replica is claiming (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import ApprovalStatus, RunStatus
from bot.store.notify import Topic, announce
from bot.store.schema import approvals, leases, replicas, runs

UNFINISHED = [
    s.value
    for s in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL, RunStatus.PAUSED)
]
CLAIM_BATCH = 100


async def register(conn: AsyncConnection, replica: str, host: str, at: datetime) -> None:
    """Announce a new replica (alive from now)."""
    await conn.execute(
        replicas.insert().values(id=replica, host=host, started_at=at, heartbeat_at=at)
    )


async def heartbeat(conn: AsyncConnection, replica: str, at: datetime) -> bool:
    """Renew the replica's heartbeat; False when its row is gone (others took it for dead)."""
    done = await conn.execute(
        replicas.update().where(replicas.c.id == replica).values(heartbeat_at=at)
    )
    return done.rowcount == 1


async def retire(conn: AsyncConnection, replica: str) -> None:
    """A clean stop: hand the replica's unfinished runs and its leases back at once."""
    await conn.execute(
        runs.update()
        .where(runs.c.owner == replica, runs.c.status.in_(UNFINISHED))
        .values(owner=None)
    )
    await conn.execute(leases.delete().where(leases.c.owner == replica))
    await conn.execute(replicas.delete().where(replicas.c.id == replica))
    await announce(conn, Topic.RUNS)


async def forget_dead(conn: AsyncConnection, alive_since: datetime) -> None:
    """Drop the rows of replicas whose heartbeat lapsed (their runs become orphans)."""
    await conn.execute(replicas.delete().where(replicas.c.heartbeat_at < alive_since))


def _gone(alive_since: datetime | None) -> sa.ColumnElement[bool]:
    """Owned by nobody or by a replica whose heartbeat lapsed; with ``alive_since`` None
    every owner counts as gone (a single-replica store)."""
    if alive_since is None:
        return sa.true()
    live = sa.select(replicas.c.id).where(replicas.c.heartbeat_at >= alive_since)
    return sa.or_(runs.c.owner.is_(None), runs.c.owner.not_in(live))


async def claim_orphans(
    conn: AsyncConnection, replica: str, alive_since: datetime | None, limit: int = CLAIM_BATCH
) -> list[int]:
    """Take unfinished runs of no live replica (not those this one owns already); their
    numbers, oldest first. Locks the claimed rows until ``conn`` commits."""
    not_mine = sa.or_(runs.c.owner.is_(None), runs.c.owner != replica)
    query = (
        sa.select(runs.c.seq)
        .where(runs.c.status.in_(UNFINISHED), not_mine, _gone(alive_since))
        .order_by(runs.c.seq)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    seqs = list((await conn.execute(query)).scalars())
    if seqs:
        await conn.execute(runs.update().where(runs.c.seq.in_(seqs)).values(owner=replica))
    return seqs


async def claim_run(
    conn: AsyncConnection, replica: str, run_seq: int, alive_since: datetime | None
) -> bool:
    """Own ``run_seq`` unless another live replica does; True when this replica owns it."""
    done = await conn.execute(
        runs.update()
        .where(runs.c.seq == run_seq, sa.or_(runs.c.owner == replica, _gone(alive_since)))
        .values(owner=replica)
    )
    return done.rowcount == 1


async def owns(conn: AsyncConnection, replica: str, run_seq: int) -> bool:
    """Whether ``replica`` is still the run's owner."""
    owner = (await conn.execute(sa.select(runs.c.owner).where(runs.c.seq == run_seq))).scalar()
    return owner == replica


async def closed_approvals(conn: AsyncConnection, approval_seqs: list[int]) -> list[int]:
    """Which of these approvals are no longer pending (decided, maybe by another replica)."""
    if not approval_seqs:
        return []
    query = sa.select(approvals.c.seq).where(
        approvals.c.seq.in_(approval_seqs), approvals.c.status != ApprovalStatus.PENDING.value
    )
    return list((await conn.execute(query)).scalars())


async def take_lease(
    conn: AsyncConnection, name: str, replica: str, alive_since: datetime | None, at: datetime
) -> bool:
    """Hold the lease ``name`` unless another live replica holds it; True when this one
    does (with ``alive_since`` None every other holder counts as gone)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = await conn.execute(
        dialect.insert(leases)
        .values(name=name, owner=replica, taken_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if inserted.rowcount == 1:
        return True
    condition = sa.or_(leases.c.owner == replica, _holder_gone(alive_since))
    taken = await conn.execute(
        leases.update().where(leases.c.name == name, condition).values(owner=replica, taken_at=at)
    )
    return taken.rowcount == 1


def _holder_gone(alive_since: datetime | None) -> sa.ColumnElement[bool]:
    if alive_since is None:
        return sa.true()
    live = sa.select(replicas.c.id).where(replicas.c.heartbeat_at >= alive_since)
    return leases.c.owner.not_in(live)
