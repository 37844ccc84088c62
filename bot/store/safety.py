"""The durable safety checks a write step passes in the transaction that starts it.

Whoever starts a ``write`` step calls :func:`start_write_step` inside one transaction; it
commits the step ``running`` only when, *at that moment and in that transaction*:

- the pause switch (the ``pause`` row of ``switches``) is off. The row is locked first:
  on PostgreSQL ``FOR SHARE`` (starters do not block each other; a pause, which updates
  the row, waits for them and they wait for it), on SQLite by a no-op write that takes the
  database's single write lock. A pause that has committed (and so answered) is therefore
  seen by every later start, in this process or any other sharing the store;
- the run has not ended;
- the action's rate limit is not used up, counting every attempt that may have reached
  the world (:data:`ATTEMPTED`) of the same kind (dry runs only against dry runs). On
  PostgreSQL a transaction-scoped advisory lock per action makes count-then-insert atomic
  across processes; on SQLite the write lock already does.

Nothing here knows about approvals or narration: the engine decides what a refusal means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import RunStatus, StepStatus
from bot.store import runs as run_store
from bot.store.locks import hold_until_commit, key_of
from bot.store.schema import steps, switches
from bot.store.switches import PAUSE

ATTEMPTED = (
    StepStatus.RUNNING,
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.INTERRUPTED,
)
"""Step statuses that count toward a limit: the step started, so it may have acted."""


async def ensure_pause_row(conn: AsyncConnection, at: datetime) -> None:
    """Create the pause switch's row (off) unless it exists, so there is always a row to
    lock: a start can never race a pause that would insert it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(switches)
        .values(name=PAUSE, value={"paused": False}, changed_by="medic", changed_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )


_PAUSE_ROW = sa.select(switches.c.value, switches.c.changed_by).where(switches.c.name == PAUSE)


def _reason(row: Any) -> str | None:
    if row is None or not row.value.get("paused"):
        return None
    return f"paused by {row.changed_by}: {row.value.get('reason', '')}"


async def read_pause(conn: AsyncConnection) -> str | None:
    """Why the pause switch is on (None: off), as last committed; locks nothing."""
    return _reason((await conn.execute(_PAUSE_ROW)).first())


async def pause_in_force(conn: AsyncConnection) -> str | None:
    """Lock the pause switch for this transaction and return why it is on (None: off)."""
    if conn.dialect.name == "postgresql":
        return _reason((await conn.execute(_PAUSE_ROW.with_for_update(read=True))).first())
    await conn.execute(
        switches.update().where(switches.c.name == PAUSE).values(name=switches.c.name)
    )
    return await read_pause(conn)


async def lock_action(conn: AsyncConnection, action: str) -> None:
    """Serialize count-then-start of ``action`` across processes (PostgreSQL: an advisory
    lock released at commit; SQLite: the write lock :func:`pause_in_force` took)."""
    await hold_until_commit(conn, key_of(f"limit:{action}"))


async def count_attempts(
    conn: AsyncConnection, action: str, since: datetime, *, dry_run: bool
) -> int:
    """Attempts of ``action`` started since ``since`` (:data:`ATTEMPTED`), real ones or
    dry runs as ``dry_run`` says."""
    query = sa.select(sa.func.count()).where(
        steps.c.action == action,
        steps.c.status.in_([s.value for s in ATTEMPTED]),
        steps.c.started_at >= since,
        steps.c.dry_run.is_(dry_run),
    )
    return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``max`` attempts per rolling ``per``."""

    max: int
    per: timedelta


class Refusal(StrEnum):
    """Why a write step did not start."""

    PAUSED = "paused"
    RUN_ENDED = "run_ended"
    OVER_LIMIT = "over_limit"


@dataclass(frozen=True, slots=True)
class StartDecision:
    """The outcome of :func:`start_write_step`: ``refusal`` None means started."""

    refusal: Refusal | None
    detail: str = ""
    used: int = 0


async def start_write_step(
    conn: AsyncConnection,
    *,
    run_seq: int,
    position: int,
    step_id: str,
    action: str,
    dry_run: bool,
    at: datetime,
    limit: Limit | None,
) -> StartDecision:
    """Mark the write step ``running`` (and its run) unless paused, the run ended or the
    limit is used up (``limit`` None: not checked, e.g. a consent already covers it). Call in
    the transaction that commits the start; a refusal writes nothing."""
    paused = await pause_in_force(conn)
    if paused is not None:
        return StartDecision(Refusal.PAUSED, paused)
    run = await run_store.get_run(conn, run_seq)
    if run is None or run.status in run_store.TERMINAL_RUN:
        return StartDecision(Refusal.RUN_ENDED, "the run ended while this step waited")
    used = 0
    if limit is not None:
        await lock_action(conn, action)
        used = await count_attempts(conn, action, at - limit.per, dry_run=dry_run)
        if used >= limit.max:
            return StartDecision(Refusal.OVER_LIMIT, used=used)
    if not await run_store.set_run_status(conn, run_seq, RunStatus.RUNNING, at):
        return StartDecision(Refusal.RUN_ENDED, "the run ended while this step waited")
    await run_store.save_step(
        conn,
        run_seq=run_seq,
        position=position,
        step_id=step_id,
        action=action,
        status=StepStatus.RUNNING,
        at=at,
        dry_run=dry_run,
    )
    return StartDecision(None, used=used)
