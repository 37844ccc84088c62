"""Starting a ``write`` step: the pause, the run still being on, and the blast-radius limits,
all checked in the transaction that marks the step ``running``.

Whatever a write step waited for first (an approval, a limit consent, the cordon guard's turn,
a ``max_concurrent_runs`` slot, the pause itself) it ends here, and only the durable checks
of :func:`bot.store.safety.start_write_step` let it start. A refusal loops: paused → the
run waits as ``paused`` and tries again after the resume; over a limit → a four-eyes
consent that says which limit tripped, and once approved the start is tried again (the
pause still applies; the consent stands in for the limit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from bot.actions import ActionParams, ActionSpec
from bot.config.duration import format_duration
from bot.engine.approvals.waiting import await_decision, request_approval
from bot.engine.deps import EngineDeps, slot_released
from bot.engine.safety.cluster import CORDONING_ACTIONS, cordon_over_limit
from bot.events import RunEvent
from bot.models import ApprovalStatus, RunStatus
from bot.playbooks.models import StepSpec
from bot.store import AsyncConnection
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.locks import held
from bot.store.runs import RunRow
from bot.store.safety import Limit, Refusal, StartDecision, start_write_step

LIMIT_WINDOW = timedelta(minutes=15)
"""How long a limit-tripped step waits for its four-eyes consent."""


async def start_write(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
    dry_run: bool,
) -> str | None:
    """Start the write step; None once it is ``running``, else why it must not run."""
    consented = False
    while True:
        async with _guard_turn(deps, spec.name):
            decision = await _try_start(deps, run, position, step, spec, params, dry_run, consented)
        if decision.refusal is None:
            return None
        if decision.refusal is Refusal.RUN_ENDED:
            return decision.detail
        if decision.refusal is Refusal.PAUSED:
            await _hold_while_paused(deps, run, decision.detail)
            continue
        refused = await _consent(deps, run, step, spec, decision.detail)
        if refused is not None:
            return refused
        consented = True


@asynccontextmanager
async def _guard_turn(deps: EngineDeps, action: str) -> AsyncIterator[None]:
    """Cordons and drains take turns, in this process and across replicas: their guard
    (``max_cordoned_fraction``) reads the cluster outside the transaction, so two checked
    at once could both pass. Every other write step needs no turn: its limit count and its
    start are one transaction (:func:`start_write_step` locks the pause row and, on
    PostgreSQL, the action's limit), so starts of the same action from many runs go on
    side by side instead of one after the other."""
    if action not in CORDONING_ACTIONS:
        yield
        return
    async with deps.action_locks["cordoning"], held(deps.db, "action:cordoning"):
        yield


async def _try_start(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
    dry_run: bool,
    consented: bool,
) -> StartDecision:
    """One attempt: the cordon guard (it asks the cluster, outside the transaction), then
    the durable checks and the start in one transaction."""
    if deps.pause.configured:
        return StartDecision(Refusal.PAUSED, deps.pause.reason)
    if not consented and spec.name in CORDONING_ACTIONS:
        guard = await _cordon_reason(deps, params)
        if guard is not None:
            return StartDecision(Refusal.OVER_LIMIT, guard)
    configured = None if consented else deps.settings.safety.limits.get(spec.name)
    limit = None if configured is None else Limit(configured.max, configured.per)
    now = deps.clock.now()
    stale: list[int] = []
    async with deps.db.begin() as conn:
        decision = await start_write_step(
            conn,
            run_seq=run.seq,
            position=position,
            step_id=step.id,
            action=spec.name,
            dry_run=dry_run,
            at=now,
            limit=limit,
        )
        if decision.refusal is None:
            await record_started(conn, run, step, now)
            stale = await _cancel_stale_approvals(conn, run, step, now)
    for approval_seq in stale:
        deps.hub.notify(approval_seq)
    if decision.refusal is Refusal.OVER_LIMIT and limit is not None:
        return replace(
            decision,
            detail=f"limit {spec.name}: {decision.used} in the last "
            f"{format_duration(limit.per)} (max {limit.max}"
            + ("; dry runs count against dry runs)" if dry_run else ")"),
        )
    return decision


async def _cancel_stale_approvals(
    conn: AsyncConnection, run: RunRow, step: StepSpec, now: datetime
) -> list[int]:
    """A write step that starts needs nothing of its run's humans any more: an approval
    still pending then is left over (a limit consent asked before a restart whose limit no
    longer applies). It is cancelled, so no late decision is taken for a step that ran."""
    cancelled = []
    for approval_seq in await run_store.pending_approvals_of_runs(conn, [run.seq]):
        if await run_store.finish_approval(conn, approval_seq, ApprovalStatus.CANCELLED, None, now):
            cancelled.append(approval_seq)
            await record_event(
                conn,
                at=now,
                actor="medic",
                kind="approval.cancelled",
                text=f"APR-{approval_seq} cancelled: RUN-{run.seq} {step.id} started without it",
                incident_seq=run.incident_seq,
            )
    return cancelled


async def record_started(conn: AsyncConnection, run: RunRow, step: StepSpec, now: datetime) -> None:
    """The ``step.running`` audit event, in the transaction that starts the step."""
    await record_event(
        conn,
        at=now,
        actor=run.started_by,
        kind="step.running",
        text=f"RUN-{run.seq} {step.id} ({step.uses}) started",
        incident_seq=run.incident_seq,
        detail={"run": run.seq, "step": step.id, "action": step.uses},
    )


async def _cordon_reason(deps: EngineDeps, params: ActionParams) -> str | None:
    """``max_cordoned_fraction``: nodes cordoned now plus cordons and drains under way."""
    counts = await deps.cluster.node_counts()
    if counts is not None:
        async with deps.db.connect() as conn:
            underway = await run_store.count_running_steps(conn, CORDONING_ACTIONS)
        counts = replace(counts, cordoned=counts.cordoned + underway)
    node = getattr(params, "node", None)
    return cordon_over_limit(
        counts, deps.settings.safety.max_cordoned_fraction, node if isinstance(node, str) else None
    )


async def _consent(
    deps: EngineDeps, run: RunRow, step: StepSpec, spec: ActionSpec, reason: str
) -> str | None:
    """The four-eyes consent for a tripped limit (asked once per step); None once
    approved, else why the step must not run."""
    async with deps.db.connect() as conn:
        row = await run_store.approval_for_step(conn, run.seq, step.id)
    if row is None:
        row = await request_approval(
            deps,
            run,
            step_id=step.id,
            mode="consent",
            four_eyes=True,
            prompt=f"{step.id} ({spec.name}) is over its rate limit; approve to run it anyway",
            reason=reason,
            on_timeout="reject",
            expires_at=deps.clock.now() + LIMIT_WINDOW,
        )
    decided = await await_decision(deps, run, row)
    if decided.status is not ApprovalStatus.APPROVED:
        return f"{reason}; APR-{row.seq} {decided.status}"
    return None


async def _hold_while_paused(deps: EngineDeps, run: RunRow, reason: str) -> None:
    """The run waits as ``paused`` (its concurrency slot free) until the switch is off."""
    async with deps.db.begin() as conn:
        held = await run_store.set_run_status(conn, run.seq, RunStatus.PAUSED, deps.clock.now())
    if not held:
        return  # the run ended: the next attempt says so
    deps.narration.run_finished(
        RunEvent(
            incident_seq=run.incident_seq,
            run_id=f"RUN-{run.seq}",
            playbook=run.playbook,
            status=RunStatus.PAUSED.value,
            detail=f"waiting: {reason}",
        )
    )
    async with slot_released(deps, run.seq):
        await deps.pause.wait_resumed()
    async with deps.db.begin() as conn:
        await run_store.set_run_status(conn, run.seq, RunStatus.RUNNING, deps.clock.now())
