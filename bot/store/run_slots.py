"""The ``max_concurrent_runs`` slots shared by every replica of a store.

A run holds a slot while ``runs.slot_taken_at`` is set. Taking one counts the slots held
by runs that may still be executing: unfinished, not waiting on a human or the pause, and
owned by a live replica (a dead replica's slots free themselves when its heartbeat lapses;
the replica that takes its runs over takes slots for them again). Callers hold the
:data:`~bot.store.locks.RUN_SLOTS` advisory lock for the transaction, so count-then-take
is atomic across replicas.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import RunStatus
from bot.store.notify import Topic, announce
from bot.store.schema import replicas, runs

EXECUTING = [RunStatus.PENDING.value, RunStatus.RUNNING.value]
"""Run statuses in which a run holding a slot may be executing steps."""


async def take(
    conn: AsyncConnection, run_seq: int, size: int, alive_since: datetime | None, at: datetime
) -> bool:
    """Give ``run_seq`` a slot unless ``size`` are held; True when it holds one (also when it
    held one already). ``alive_since`` None: every owner counts as alive."""
    held = sa.select(runs.c.slot_taken_at).where(runs.c.seq == run_seq)
    if (await conn.execute(held)).scalar() is not None:
        return True
    busy = sa.select(sa.func.count()).where(
        runs.c.slot_taken_at.is_not(None), runs.c.status.in_(EXECUTING), runs.c.seq != run_seq
    )
    if alive_since is not None:
        live = sa.select(replicas.c.id).where(replicas.c.heartbeat_at >= alive_since)
        busy = busy.where(runs.c.owner.in_(live))
    if int((await conn.execute(busy)).scalar_one()) >= size:
        return False
    await conn.execute(runs.update().where(runs.c.seq == run_seq).values(slot_taken_at=at))
    return True


async def give_back(conn: AsyncConnection, run_seq: int) -> None:
    """``run_seq`` no longer holds a slot."""
    await conn.execute(runs.update().where(runs.c.seq == run_seq).values(slot_taken_at=None))
    await announce(conn, Topic.SLOT)
