"""Run one action step: render, validate, gate, execute (or record a dry run), commit.

By kind: a ``write`` starts only through :mod:`bot.engine.safety.write_gate` (pause, limits, dry
run); ``read`` and ``notify`` steps start at once, also while paused; a ``control`` step's
effect commits with its outcome. Any step starts only while its run is on, and stops when
its run ends.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, replace
from typing import Any

import structlog
from pydantic import ValidationError

from bot.actions import ActionKind, ActionParams, ActionSpec, StepContext, StepResult
from bot.engine.deps import EngineDeps
from bot.engine.incidents.ops import IncidentOps
from bot.engine.runs.watch import RunEnded, until_run_ends
from bot.engine.safety import breaker
from bot.engine.safety.write_gate import record_started, start_write
from bot.errors import MedicError
from bot.events import StepEvent
from bot.models import StepStatus
from bot.playbooks.models import StepSpec
from bot.playbooks.templates import TemplateError, render_value
from bot.store import AsyncConnection
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.runs import RunRow

log = structlog.get_logger(__name__)


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
        held = await breaker.held(deps, run)
        if held is not None:
            return await _finish(deps, run, position, step, StepStatus.ABORTED, error=held)
    simulated = not deps.integration_ready(spec.integration)
    dry_run = simulated or (spec.kind is ActionKind.WRITE and deps.settings.safety.dry_run)
    if spec.kind is ActionKind.WRITE:
        refused = await start_write(deps, run, position, step, spec, params, dry_run)
    else:
        refused = await _start(deps, run, position, step, dry_run)
    if refused is not None:
        return await _finish(deps, run, position, step, StepStatus.ABORTED, error=refused)
    deps.narration.step_started(_event(run, step, StepStatus.RUNNING))
    if spec.kind is ActionKind.WRITE and not dry_run:
        await IncidentOps(deps, run.incident_seq).mitigating()
    with deps.in_flight.step(run.seq):  # a graceful stop waits for this to commit
        if spec.kind is ActionKind.CONTROL and not simulated:
            return await run_control_step(deps, run, position, step, spec, params)
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
    """Execute a started step (or record its dry run) and commit how it ended. Should the
    run end meanwhile (its incident resolved), the action is stopped: its step ends
    ``aborted`` (a read) or ``interrupted`` (a write or notify that may have acted), and
    nothing more happens for it."""
    result: StepResult | None = None
    try:
        if simulated:
            result = _dry_run(spec, params)
        else:
            ctx = await _context(deps, run, step, dry_run)
            result = await until_run_ends(deps, run.seq, _execute(ctx, step, spec, params))
    except RunEnded:
        status = StepStatus.ABORTED if spec.kind is ActionKind.READ else StepStatus.INTERRUPTED
        return await _finish(
            deps,
            run,
            position,
            step,
            status,
            error="stopped: the run ended while this step ran",
            dry_run=dry_run,
        )
    except TimeoutError:
        error = f"timed out after {step.timeout}"
    except MedicError as err:
        error = str(err)
    except Exception as err:  # an action's bug fails its step, never the engine
        log.exception("step.crashed", step=step.id, action=step.uses)
        error = f"{type(err).__name__}: {err}"
    if result is None:
        return await _finish(
            deps, run, position, step, StepStatus.FAILED, error=error, dry_run=dry_run
        )
    return await _finish(
        deps,
        run,
        position,
        step,
        StepStatus.SUCCEEDED,
        output=result.output,
        summary=result.summary,
        dry_run=dry_run or result.dry_run,
    )


async def run_control_step(
    deps: EngineDeps,
    run: RunRow,
    position: int,
    step: StepSpec,
    spec: ActionSpec,
    params: ActionParams,
) -> StepOutcome:
    """A ``control`` action (Medic's own bookkeeping): its effect and the step's outcome
    commit in one transaction, so a crash leaves neither (and the step runs again) or both."""
    ops: IncidentOps | None = None
    try:
        async with deps.db.begin() as conn:
            ops = IncidentOps(
                deps, run.incident_seq, actor=run.started_by, run_seq=run.seq, conn=conn
            )
            ctx = replace(await _context(deps, run, step, dry_run=False), incident=ops)
            result = await _execute(ctx, step, spec, params)
            event = await _record_end(
                conn,
                deps,
                run,
                position,
                step,
                StepStatus.SUCCEEDED,
                output=result.output,
                summary=result.summary,
            )
    except TimeoutError:
        error = f"timed out after {step.timeout}"
    except MedicError as err:
        error = str(err)
    except Exception as err:  # an action's bug fails its step, never the engine
        log.exception("step.crashed", step=step.id, action=step.uses)
        error = f"{type(err).__name__}: {err}"
    else:
        ops.publish()
        deps.narration.step_finished(event)
        return StepOutcome(status=StepStatus.SUCCEEDED, output=result.output)
    return await _finish(deps, run, position, step, StepStatus.FAILED, error=error)


def _dry_run(spec: ActionSpec, params: ActionParams) -> StepResult:
    """What a disabled integration records instead of acting."""
    would = spec.describe(params) if spec.describe is not None else f"would run {spec.name}"
    return StepResult(
        dry_run=True,
        output={"would": would, "params": params.model_dump(mode="json")},
        summary=would,
    )


async def _context(deps: EngineDeps, run: RunRow, step: StepSpec, dry_run: bool) -> StepContext:
    async with deps.db.connect() as conn:
        pagerduty_incident = await incident_store.pagerduty_link(conn, run.incident_seq)
        slack_channel = await incident_store.slack_link(conn, run.incident_seq)
    return StepContext(
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
        open_incident_channel=(
            None
            if deps.incident_channel is None
            else functools.partial(deps.incident_channel, f"INC-{run.incident_seq}")
        ),
    )


async def _execute(
    ctx: StepContext, step: StepSpec, spec: ActionSpec, params: ActionParams
) -> StepResult:
    timeout = None if step.timeout is None else step.timeout.total_seconds()
    async with asyncio.timeout(timeout):
        return await spec.run(ctx, params)


async def _start(
    deps: EngineDeps, run: RunRow, position: int, step: StepSpec, dry_run: bool
) -> str | None:
    """Commit a read, notify or control step as running, unless its run has ended (then
    nothing is said or done for it); returns why it must not run, or None."""
    now = deps.clock.now()
    async with deps.db.begin() as conn:
        current = await run_store.get_run(conn, run.seq)
        if current is None or current.status in run_store.TERMINAL_RUN:
            return "the run ended before this step"
        await run_store.save_step(
            conn,
            run_seq=run.seq,
            position=position,
            step_id=step.id,
            action=step.uses,
            status=StepStatus.RUNNING,
            at=now,
            dry_run=dry_run,
        )
        await record_started(conn, run, step, now)
    return None


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
    async with deps.db.begin() as conn:
        event = await _record_end(
            conn,
            deps,
            run,
            position,
            step,
            status,
            output=output,
            summary=summary,
            error=error,
            dry_run=dry_run,
        )
    deps.narration.step_finished(event)
    return StepOutcome(status=status, output=output or {}, error=error)


async def _record_end(
    conn: AsyncConnection,
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
) -> StepEvent:
    """Commit how a step ended (and its audit event) in ``conn``; the narration to send
    once it committed."""
    now = deps.clock.now()
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
    return _event(run, step, status).model_copy(
        update={"dry_run": dry_run, "summary": summary, "error": error}
    )


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
