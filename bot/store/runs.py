"""Runs, steps, approvals and decisions: every transition is one committed write."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import ApprovalStatus, RunStatus, StepStatus
from bot.store.incidents import INCIDENT_COLUMNS, IncidentRow, incident_row
from bot.store.notify import Topic, announce
from bot.store.schema import approval_decisions, approvals, incidents, runs, steps

TERMINAL_RUN = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.ABORTED,
    RunStatus.INTERRUPTED,
    RunStatus.SKIPPED,
)
ACTIVE_RUN = (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL, RunStatus.PAUSED)
TERMINAL_STEP = (
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.ABORTED,
    StepStatus.INTERRUPTED,
)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run as the engine needs it."""

    seq: int
    incident_seq: int
    playbook: str
    status: RunStatus
    target: str | None
    started_by: str
    params: dict[str, Any]
    trigger_alert_id: int | None


@dataclass(frozen=True, slots=True)
class StepRow:
    """A step's committed state."""

    seq: int
    step_id: str
    action: str
    status: StepStatus
    output: dict[str, Any] | None
    dry_run: bool


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """An approval request."""

    seq: int
    run_seq: int
    step_id: str
    mode: str
    status: ApprovalStatus
    required: int
    four_eyes: bool
    prompt: str
    reason: str | None
    on_timeout: str
    escalated: bool
    expires_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One human's decision on an approval."""

    approval_seq: int
    user: str
    decision: str
    at: datetime


def _values(statuses: Sequence[RunStatus | StepStatus]) -> list[str]:
    return [s.value for s in statuses]


async def create_run(
    conn: AsyncConnection,
    *,
    incident_seq: int,
    playbook: str,
    target: str | None,
    started_by: str,
    params: dict[str, Any],
    trigger_alert_id: int | None,
    at: datetime,
) -> int:
    """Insert a ``pending`` run; return its number."""
    result = await conn.execute(
        runs.insert()
        .values(
            incident_seq=incident_seq,
            playbook=playbook,
            status=RunStatus.PENDING.value,
            target=target,
            started_by=started_by,
            params=params,
            trigger_alert_id=trigger_alert_id,
            created_at=at,
            updated_at=at,
        )
        .returning(runs.c.seq)
    )
    return int(result.scalar_one())


def _run(row: Any) -> RunRow:
    return RunRow(
        seq=row["seq"],
        incident_seq=row["incident_seq"],
        playbook=row["playbook"],
        status=RunStatus(row["status"]),
        target=row["target"],
        started_by=row["started_by"],
        params=row["params"] or {},
        trigger_alert_id=row["trigger_alert_id"],
    )


# Statements of the run loop, built once: executing a prebuilt statement with its
# parameters skips constructing it and computing its cache key on every step.
_GET_RUN = sa.select(runs).where(runs.c.seq == sa.bindparam("run_seq_"))


async def get_run(conn: AsyncConnection, run_seq: int) -> RunRow | None:
    """One run."""
    row = (await conn.execute(_GET_RUN, {"run_seq_": run_seq})).mappings().first()
    return None if row is None else _run(row)


@dataclass(frozen=True, slots=True)
class RunProgress:
    """What the run loop reads before each step: whether the run is still on and whose it
    is, and its incident as it stands (templates see its severity and status)."""

    status: RunStatus
    owner: str | None
    incident: IncidentRow

    def over_for(self, replica: str) -> bool:
        """The run ended, or it is no longer ``replica``'s to drive."""
        return self.status in TERMINAL_RUN or self.owner != replica


_RUN_PROGRESS = (
    sa.select(runs.c.status, runs.c.owner, *INCIDENT_COLUMNS)
    .join(incidents, incidents.c.seq == runs.c.incident_seq)
    .where(runs.c.seq == sa.bindparam("run_seq_"))
)


async def run_progress(conn: AsyncConnection, run_seq: int) -> RunProgress | None:
    """The run's status and owner and its incident, in one statement (None: no such run)."""
    row = (await conn.execute(_RUN_PROGRESS, {"run_seq_": run_seq})).first()
    if row is None:
        return None
    return RunProgress(status=RunStatus(row[0]), owner=row[1], incident=incident_row(row[2:]))


async def runs_of_incident(conn: AsyncConnection, incident_seq: int) -> list[RunRow]:
    """Every run of an incident, oldest first."""
    query = sa.select(runs).where(runs.c.incident_seq == incident_seq).order_by(runs.c.seq)
    return [_run(r) for r in (await conn.execute(query)).mappings()]


async def unfinished_runs(conn: AsyncConnection, run_seqs: Sequence[int]) -> list[RunRow]:
    """Which of ``run_seqs`` are still unfinished (to pick up again), oldest first."""
    query = (
        sa.select(runs)
        .where(
            runs.c.seq.in_(run_seqs),
            runs.c.status.in_(_values((RunStatus.PENDING, *ACTIVE_RUN))),
        )
        .order_by(runs.c.seq)
    )
    return [_run(r) for r in (await conn.execute(query)).mappings()]


async def set_run_status(
    conn: AsyncConnection,
    run_seq: int,
    status: RunStatus,
    at: datetime,
    *,
    error: str | None = None,
) -> bool:
    """Move an unfinished run to ``status``; False when it had already finished."""
    values: dict[str, Any] = {"status": status.value, "updated_at": at, "run_seq_": run_seq}
    if status in TERMINAL_RUN:
        values["finished_at"] = at
    if error is not None:
        values["error"] = error
    result = await conn.execute(_SET_RUN_STATUS, values)
    return result.rowcount == 1


# The SET clause comes from the parameters' keys (status, updated_at, finished_at, error).
_SET_RUN_STATUS = runs.update().where(
    runs.c.seq == sa.bindparam("run_seq_"), runs.c.status.not_in(_values(TERMINAL_RUN))
)


async def active_run_on_target(conn: AsyncConnection, target: str, other_than: int) -> int | None:
    """Another run holding ``target``: running, waiting or paused, or created earlier and
    still pending (runs created together are ordered by their number), if any. A run that
    holds it is named before one only queued ahead (which may yet be skipped itself)."""
    pending = runs.c.status == RunStatus.PENDING.value
    query = (
        sa.select(runs.c.seq)
        .where(
            runs.c.target == target,
            runs.c.seq != other_than,
            sa.or_(
                runs.c.status.in_(_values(ACTIVE_RUN)),
                sa.and_(pending, runs.c.seq < other_than),
            ),
        )
        .order_by(sa.case((pending, 1), else_=0), runs.c.seq)
    )
    found: int | None = (await conn.execute(query.limit(1))).scalar()
    return found


async def last_finish(
    conn: AsyncConnection, playbook: str, target: str | None, other_than: int
) -> datetime | None:
    """When the latest other run of (playbook, target) that really ran finished."""
    query = sa.select(sa.func.max(runs.c.finished_at)).where(
        runs.c.playbook == playbook,
        runs.c.target == target if target is not None else runs.c.target.is_(None),
        runs.c.seq != other_than,
        runs.c.status.in_(_values((RunStatus.SUCCEEDED, RunStatus.FAILED))),
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


def _step(row: Any) -> StepRow:
    return StepRow(
        seq=row["seq"],
        step_id=row["step_id"],
        action=row["action"],
        status=StepStatus(row["status"]),
        output=row["output"],
        dry_run=row["dry_run"],
    )


async def steps_of_run(conn: AsyncConnection, run_seq: int) -> dict[str, StepRow]:
    """The run's committed steps by step id."""
    query = sa.select(steps).where(steps.c.run_seq == run_seq)
    return {r["step_id"]: _step(r) for r in (await conn.execute(query)).mappings()}


async def save_step(
    conn: AsyncConnection,
    *,
    run_seq: int,
    position: int,
    step_id: str,
    action: str,
    status: StepStatus,
    at: datetime,
    dry_run: bool = False,
    output: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Create or move a step (``finished_at`` when terminal). ``started_at`` is when it
    started (``running``, or waiting for its approval); a step that ended without starting
    (skipped, refused, bad parameters) has none, and so never counts as an attempt."""
    values: dict[str, Any] = {"status": status.value, "dry_run": dry_run}
    if output is not None:
        values["output"] = output
    if error is not None:
        values["error"] = error
    if status in TERMINAL_STEP:
        values["finished_at"] = at
    upsert = _upsert_step(conn.dialect.name, frozenset(values))
    await conn.execute(
        upsert,
        {
            "run_seq": run_seq,
            "position": position,
            "step_id": step_id,
            "action": action,
            "started_at": at if status in _STARTED else None,
            **values,
        },
    )


@functools.cache
def _upsert_step(dialect_name: str, changed: frozenset[str]) -> sa.Insert:
    """One statement that creates a step or, when the run has it already, moves it: an
    existing row keeps its position, action and ``started_at``; only ``changed`` columns
    are written. (One per dialect and set of columns, built once.)"""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(steps)
    upsert: sa.Insert = insert.on_conflict_do_update(
        index_elements=[steps.c.run_seq, steps.c.step_id],
        set_={name: insert.excluded[name] for name in sorted(changed)},
    )
    return upsert


_STARTED = (StepStatus.RUNNING, StepStatus.WAITING_APPROVAL)


async def interrupt_step(
    conn: AsyncConnection, run_seq: int, step_id: str, at: datetime, error: str
) -> None:
    """A step cut off mid-way that may have acted: ``interrupted``, keeping what it was (its
    action, whether it was a dry run, when it started) so it still counts as the attempt it
    was."""
    await conn.execute(
        steps.update()
        .where(steps.c.run_seq == run_seq, steps.c.step_id == step_id)
        .values(status=StepStatus.INTERRUPTED.value, finished_at=at, error=error)
    )


async def delete_step(conn: AsyncConnection, run_seq: int, step_id: str) -> None:
    """Forget a read step that was cut off, so it runs again."""
    await conn.execute(steps.delete().where(steps.c.run_seq == run_seq, steps.c.step_id == step_id))


async def count_running_steps(conn: AsyncConnection, actions: Iterable[str]) -> int:
    """Steps of ``actions`` running right now."""
    query = sa.select(sa.func.count()).where(
        steps.c.action.in_(sorted(actions)), steps.c.status == StepStatus.RUNNING.value
    )
    return int((await conn.execute(query)).scalar_one())


def _approval(row: Any) -> ApprovalRow:
    return ApprovalRow(
        seq=row["seq"],
        run_seq=row["run_seq"],
        step_id=row["step_id"],
        mode=row["mode"],
        status=ApprovalStatus(row["status"]),
        required=row["required"],
        four_eyes=row["four_eyes"],
        prompt=row["prompt"],
        reason=row["reason"],
        on_timeout=row["on_timeout"],
        escalated=row["escalated"],
        expires_at=row["expires_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
    )


async def create_approval(
    conn: AsyncConnection,
    *,
    run_seq: int,
    step_id: str,
    mode: str,
    required: int,
    four_eyes: bool,
    prompt: str,
    reason: str | None,
    on_timeout: str,
    at: datetime,
    expires_at: datetime,
) -> ApprovalRow:
    """Insert a pending approval."""
    result = await conn.execute(
        approvals.insert()
        .values(
            run_seq=run_seq,
            step_id=step_id,
            mode=mode,
            status=ApprovalStatus.PENDING.value,
            required=required,
            four_eyes=four_eyes,
            prompt=prompt,
            reason=reason,
            on_timeout=on_timeout,
            requested_at=at,
            expires_at=expires_at,
        )
        .returning(approvals)
    )
    return _approval(result.mappings().one())


async def get_approval(
    conn: AsyncConnection, approval_seq: int, *, for_update: bool = False
) -> ApprovalRow | None:
    """One approval; ``for_update`` locks its row until the transaction ends (PostgreSQL;
    SQLite's single writer serialises deciders anyway)."""
    query = sa.select(approvals).where(approvals.c.seq == approval_seq)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _approval(row)


async def approval_for_step(
    conn: AsyncConnection, run_seq: int, step_id: str
) -> ApprovalRow | None:
    """The newest approval of a step."""
    query = (
        sa.select(approvals)
        .where(approvals.c.run_seq == run_seq, approvals.c.step_id == step_id)
        .order_by(approvals.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _approval(row)


async def finish_approval(
    conn: AsyncConnection,
    approval_seq: int,
    status: ApprovalStatus,
    decided_by: str | None,
    at: datetime,
) -> bool:
    """Close a pending approval; False when someone else closed it first."""
    result = await conn.execute(
        approvals.update()
        .where(approvals.c.seq == approval_seq, approvals.c.status == ApprovalStatus.PENDING.value)
        .values(status=status.value, decided_by=decided_by, decided_at=at)
    )
    if result.rowcount != 1:
        return False
    await announce(conn, Topic.APPROVAL, str(approval_seq))  # its run may wait elsewhere
    return True


async def mark_escalated(conn: AsyncConnection, approval_seq: int) -> None:
    """The consent timed out with ``on_timeout: escalate``: keep waiting, without deadline."""
    await conn.execute(
        approvals.update().where(approvals.c.seq == approval_seq).values(escalated=True)
    )


async def pending_approvals_of_runs(conn: AsyncConnection, run_seqs: Sequence[int]) -> list[int]:
    """Pending approvals of these runs."""
    query = sa.select(approvals.c.seq).where(
        approvals.c.run_seq.in_(list(run_seqs)),
        approvals.c.status == ApprovalStatus.PENDING.value,
    )
    return [int(r[0]) for r in await conn.execute(query)]


async def record_decision(
    conn: AsyncConnection, approval_seq: int, user: str, decision: str, at: datetime
) -> bool:
    """Add a user's decision; False when that user already decided (also concurrently)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(approval_decisions)
        .values(approval_seq=approval_seq, user=user, decision=decision, at=at)
        .on_conflict_do_nothing(index_elements=["approval_seq", "user"])
    )
    return (await conn.execute(stmt)).rowcount == 1


async def approvers(conn: AsyncConnection, approval_seq: int) -> list[str]:
    """Users who approved, in order."""
    query = (
        sa.select(approval_decisions.c.user)
        .where(
            approval_decisions.c.approval_seq == approval_seq,
            approval_decisions.c.decision == "approve",
        )
        .order_by(approval_decisions.c.at, approval_decisions.c.user)
    )
    return [str(r[0]) for r in await conn.execute(query)]


async def approvals_of_runs(conn: AsyncConnection, run_seqs: Sequence[int]) -> list[ApprovalRow]:
    """Every approval of these runs, oldest first."""
    query = (
        sa.select(approvals)
        .where(approvals.c.run_seq.in_(list(run_seqs)))
        .order_by(approvals.c.seq)
    )
    return [_approval(r) for r in (await conn.execute(query)).mappings()]


async def decisions_of_approvals(
    conn: AsyncConnection, approval_seqs: Sequence[int]
) -> list[DecisionRow]:
    """Every decision (approve and reject) on these approvals, in the order they were made."""
    query = (
        sa.select(approval_decisions)
        .where(approval_decisions.c.approval_seq.in_(list(approval_seqs)))
        .order_by(approval_decisions.c.at, approval_decisions.c.user)
    )
    return [
        DecisionRow(
            approval_seq=r["approval_seq"], user=r["user"], decision=r["decision"], at=r["at"]
        )
        for r in (await conn.execute(query)).mappings()
    ]
