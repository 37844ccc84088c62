"""Run one action step: render, validate, gate, execute (or record a dry run), commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.actions import ActionKind, ActionParams, ActionSpec, StepContext, StepResult
from bot.engine.cluster import CORDONING_ACTIONS, cordon_over_limit
from bot.engine.deps import EngineDeps
from bot.engine.gates import await_decision, limit_tripped, request_approval, wait_while_paused
from bot.engine.incident_ops import IncidentOps
from bot.errors import MedicError
from bot.events import StepEvent
from bot.models import ApprovalStatus, RunStatus, StepStatus
from bot.playbooks.models import StepSpec
from bot.playbooks.templates import TemplateError, render_value
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.locks import held
from bot.store.runs import RunRow

log = structlog.get_logger(__name__)

# How long a limit-tripped step waits for its four-eyes consent.
_LIMIT_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How a step ended."""

    status: StepStatus
    output: dict[str, Any]
    error: str | None = None


async def run_action_step(
    deps: EngineDeps, run: RunRow, position: int, step: StepSpec, context: dict[str, Any]
) -> StepOutcome:
    """Execute ``step`` of ``run`` and commit its result."""
    spec = deps.registry.get(step.uses)
    if spec is None:
        return await _finish(deps, run, position, step, StepStatus.FAILED, error="unknown action")
    try:
        params = spec.params.model_validate(render_value(step.with_, context))
    except (TemplateError, ValidationError) as err:
        return await _finish(
            deps, run, position, step, StepStatus.FAILED, error=f"parameters: {_short(err)}"
        )
    if spec.kind is ActionKind.WRITE:
        await wait_while_paused(deps, run)
        refused = await _gate_and_start(deps, run, position, step, spec, params)
        if refused is not None:
            return await _finish(deps, run, position, step, StepStatus.ABORTED, error=refused)
    else:
        await _start(deps, run, position, step)
    simulated = not deps.integration_ready(spec.integration)
    dry_run = simulated or (spec.kind is ActionKind.WRITE and deps.settings.safety.dry_run)
    if spec.kind is ActionKind.WRITE and not dry_run:
        await IncidentOps(deps, run.incident_seq).mitigating()
    with deps.in_flight.step(run.seq):  # a graceful stop waits for this to commit
        return await _run_started_step(deps, run, position, step, spec, params, simulated, dry_run)


async def _run_started_step(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
    simulated: bool,
    dry_run: bool,
) -> StepOutcome:
    """Execute a started step (or record its dry run) and commit how it ended."""
    result: StepResult | None = None
    try:
        result = (
            _dry_run(spec, params)
            if simulated
            else await _execute(deps, run, step, spec, params, dry_run)
        )
    except TimeoutError:
        error = f"timed out after {step.timeout}"
    except MedicError as err:
        error = str(err)
    except Exception as err:  # an action's bug fails its step, never the engine
        log.exception("step.crashed", step=step.id, action=step.uses)
        error = f"{type(err).__name__}: {err}"
    if result is None:
        return await _finish(deps, run, position, step, StepStatus.FAILED, error=error)
    return await _finish(
        deps,
        run,
        position,
        step,
        StepStatus.SUCCEEDED,
        output=result.output,
        summary=result.summary,
        dry_run=simulated or result.dry_run,
    )


def _dry_run(spec: ActionSpec, params: ActionParams) -> StepResult:
    """What a disabled integration records instead of acting."""
    would = spec.describe(params) if spec.describe is not None else f"would run {spec.name}"
    return StepResult(
        dry_run=True,
        output={"would": would, "params": params.model_dump(mode="json")},
        summary=would,
    )


async def _execute(
    deps: EngineDeps,
    run: RunRow,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
    dry_run: bool,
) -> StepResult:
    async with deps.db.connect() as conn:
        pagerduty_incident = await incident_store.pagerduty_link(conn, run.incident_seq)
        slack_channel = await incident_store.slack_link(conn, run.incident_seq)
    ctx = StepContext(
        settings=deps.settings,
        http=deps.http,
        incident_id=f"INC-{run.incident_seq}",
        run_id=f"RUN-{run.seq}",
        step_id=step.id,
        target=run.target,
        dry_run=dry_run,
        now=deps.clock.now,
        incident=IncidentOps(deps, run.incident_seq, actor=run.started_by, run_seq=run.seq),
        clients=deps.clients,
        install_id=deps.install,
        pagerduty_incident_id=pagerduty_incident,
        slack_channel=slack_channel,
    )
    timeout = None if step.timeout is None else step.timeout.total_seconds()
    async with asyncio.timeout(timeout):
        return await spec.run(ctx, params)


async def _gate_and_start(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
) -> str | None:
    """Start a write step unless it trips ``safety.limits`` or ``max_cordoned_fraction``;
    then it needs a four-eyes consent saying which limit tripped. The check and the start
    are one critical section per action, so concurrent runs cannot all slip under a limit.
    Returns why the step must not run, or None once it is started."""
    name = "cordoning" if spec.name in CORDONING_ACTIONS else spec.name
    lock = deps.action_locks[name]
    async with lock, held(deps.db, f"action:{name}"):  # across replicas too
        reason = await _limit_reason(deps, spec, params)
        if reason is None:
            return await _start_unless_ended(deps, run, position, step)
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
            expires_at=deps.clock.now() + _LIMIT_WINDOW,
        )
    decided = await await_decision(deps, run, row)
    if decided.status is not ApprovalStatus.APPROVED:
        return f"{reason}; APR-{row.seq} {decided.status}"
    async with lock, held(deps.db, f"action:{name}"):
        return await _start_unless_ended(deps, run, position, step)


async def _limit_reason(deps: EngineDeps, spec: ActionSpec, params: ActionParams) -> str | None:
    reason = await limit_tripped(deps, spec.name)
    if reason is None and spec.name in CORDONING_ACTIONS:
        counts = await deps.cluster.node_counts()
        if counts is not None:
            async with deps.db.connect() as conn:
                underway = await run_store.count_running_steps(conn, CORDONING_ACTIONS)
            counts = replace(counts, cordoned=counts.cordoned + underway)
        node = getattr(params, "node", None)
        reason = cordon_over_limit(
            counts,
            deps.settings.safety.max_cordoned_fraction,
            node if isinstance(node, str) else None,
        )
    return reason


async def _start_unless_ended(
    deps: EngineDeps, run: RunRow, position: int, step: StepSpec
) -> str | None:
    """Commit the step as running (and its run as running) unless the run ended while it
    waited (its incident resolved, a human rejected)."""
    now = deps.clock.now()
    async with deps.db.begin() as conn:
        if not await run_store.set_run_status(conn, run.seq, RunStatus.RUNNING, now):
            return "the run ended while this step waited"
        await _save_running(conn, run, position, step, now)
    deps.narration.step_started(_event(run, step, StepStatus.RUNNING))
    return None


async def _start(deps: EngineDeps, run: RunRow, position: int, step: StepSpec) -> None:
    async with deps.db.begin() as conn:
        await _save_running(conn, run, position, step, deps.clock.now())
    deps.narration.step_started(_event(run, step, StepStatus.RUNNING))


async def _save_running(
    conn: AsyncConnection, run: RunRow, position: int, step: StepSpec, now: datetime
) -> None:
    await run_store.save_step(
        conn,
        run_seq=run.seq,
        position=position,
        step_id=step.id,
        action=step.uses,
        status=StepStatus.RUNNING,
        at=now,
    )
    await record_event(
        conn,
        at=now,
        actor=run.started_by,
        kind="step.running",
        text=f"RUN-{run.seq} {step.id} ({step.uses}) started",
        incident_seq=run.incident_seq,
        detail={"run": run.seq, "step": step.id, "action": step.uses},
    )


async def _finish(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    status: StepStatus,
    *,
    output: dict[str, Any] | None = None,
    summary: str = "",
    error: str | None = None,
    dry_run: bool = False,
) -> StepOutcome:
    now = deps.clock.now()
    async with deps.db.begin() as conn:
        await run_store.save_step(
            conn,
            run_seq=run.seq,
            position=position,
            step_id=step.id,
            action=step.uses,
            status=status,
            at=now,
            dry_run=dry_run,
            output=output or {},
            error=error,
        )
        detail = error or summary
        text = f"RUN-{run.seq} {step.id} ({step.uses}) {status}" + (" (dry run)" if dry_run else "")
        await record_event(
            conn,
            at=now,
            actor=run.started_by if run.started_by != "medic" else "medic",
            kind=f"step.{status}",
            text=text + (f": {detail}" if detail else ""),
            incident_seq=run.incident_seq,
            detail={"run": run.seq, "step": step.id, "action": step.uses, "dry_run": dry_run},
        )
    deps.narration.step_finished(
        _event(run, step, status).model_copy(
            update={"dry_run": dry_run, "summary": summary, "error": error}
        )
    )
    return StepOutcome(status=status, output=output or {}, error=error)


def _event(run: RunRow, step: StepSpec, status: StepStatus) -> StepEvent:
    return StepEvent(
        incident_seq=run.incident_seq,
        run_id=f"RUN-{run.seq}",
        playbook=run.playbook,
        step_id=step.id,
        action=step.uses,
        status=status.value,
    )


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in err.errors(include_url=False, include_input=False)
        )
    return str(err)


async def record_skipped(
    deps: EngineDeps, run: RunRow, position: int, step: StepSpec, reason: str
) -> StepOutcome:
    """A step whose ``when``/``unless`` said no."""
    return await _finish(deps, run, position, step, StepStatus.SKIPPED, summary=reason)


async def record_failed(
    deps: EngineDeps, run: RunRow, position: int, step: StepSpec, error: str
) -> StepOutcome:
    """A step that could not even start (a broken expression)."""
    return await _finish(deps, run, position, step, StepStatus.FAILED, error=error)


async def record_approval_end(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    status: StepStatus,
    output: dict[str, Any],
    error: str | None,
) -> StepOutcome:
    """An approval step closed (approved → succeeded, otherwise aborted)."""
    summary = f"{output['approval']} {output['status']}" + (
        f" by {output['decided_by']}" if output.get("decided_by") else ""
    )
    return await _finish(
        deps, run, position, step, status, output=output, summary=summary, error=error
    )
