"""Executing one run: its steps in order from the last committed one, each outcome deciding
whether the run goes on, stops, fails or escalates."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.engine.approvals.waiting import await_decision, request_approval
from bot.engine.deps import EngineDeps
from bot.engine.incidents.builtin_actions import APPROVAL, ApprovalParams
from bot.engine.incidents.ops import IncidentOps
from bot.engine.replicas.lease import Replica
from bot.engine.runs.end import end_run
from bot.engine.runs.recovery import interrupt_run, rerun_after_crash
from bot.engine.runs.steps import (
    record_approval_end,
    record_failed,
    record_skipped,
    run_action_step,
)
from bot.engine.runs.template_context import template_context
from bot.models import Alert, ApprovalStatus, RunStatus, StepStatus
from bot.playbooks.models import OnFailure, StepSpec, Then
from bot.playbooks.playbook import Playbook
from bot.playbooks.templates import TemplateError, evaluate, render_value
from bot.store import incidents as incident_store
from bot.store import journal
from bot.store import runs as run_store
from bot.store.audit import has_event
from bot.store.incidents import IncidentRow
from bot.store.locks import hold_until_commit, key_of
from bot.store.runs import TERMINAL_STEP, RunRow


class RunExecutor:
    """Takes a run's next steps; starts none once ``stopping`` is set."""

    def __init__(self, deps: EngineDeps, replica: Replica, stopping: asyncio.Event) -> None:
        self._deps = deps
        self._replica = replica
        self._stopping = stopping

    async def execute(self, run_seq: int) -> None:
        """Drive ``run_seq`` from its committed state until it ends or has to wait for a
        restart (stopping, or no longer this replica's)."""
        deps = self._deps
        async with deps.db.connect() as conn:
            run = await run_store.get_run(conn, run_seq)
            if run is None or run.status in run_store.TERMINAL_RUN:
                return
            done = await run_store.steps_of_run(conn, run_seq)
            alert = (
                None
                if run.trigger_alert_id is None
                else await journal.get_alert(conn, run.trigger_alert_id)
            )
        playbook = deps.playbooks.get(run.playbook)
        if playbook is None:
            await end_run(deps, run_seq, RunStatus.FAILED, f"playbook {run.playbook} is not loaded")
            return
        if run.status is RunStatus.PENDING and not await self._begin(run, playbook):
            return
        outputs: dict[str, dict[str, Any]] = {
            sid: {"output": self._typed(row.action, row.output or {})} for sid, row in done.items()
        }
        for position, step in enumerate(playbook.spec.steps):
            if await self._advance(run, position, step, done.get(step.id), alert, outputs):
                return
        await end_run(deps, run_seq, RunStatus.SUCCEEDED, "")

    async def _advance(
        self,
        run: RunRow,
        position: int,
        step: StepSpec,
        row: run_store.StepRow | None,
        alert: Alert | None,
        outputs: dict[str, dict[str, Any]],
    ) -> bool:
        """Take one step (or pass one already taken); True when the run has ended."""
        if row is not None and row.status in TERMINAL_STEP:
            return await self._verdict(run, step, row.status, None, replay=True)
        if (
            row is not None
            and row.status is StepStatus.RUNNING
            and not rerun_after_crash(self._deps, row.action)
        ):
            # Resumed after a store outage in the middle of this step: its effect is
            # unknown, so it is never run again without a human.
            await interrupt_run(self._deps, run, row.step_id)
            return True
        if self._stopping.is_set():
            return True  # stopping: the run stays as committed and resumes after a restart
        progress = await self._progress(run.seq)
        if progress is None or progress.over_for(self._replica.id):
            return True  # ended, or another replica's now
        context = await self._context(run, alert, outputs, progress.incident)
        status, error, output = await self._step(run, position, step, context)
        outputs[step.id] = {"output": self._typed(step.uses, output)}
        return await self._verdict(run, step, status, error)

    def _typed(self, action: str, output: dict[str, Any]) -> dict[str, Any]:
        """A step's output as later steps read it: every field of its action's output model
        (defaults where it did not run, was skipped or failed)."""
        spec = self._deps.registry.get(action)
        return output if spec is None else spec.complete_output(output)

    async def _verdict(
        self,
        run: RunRow,
        step: StepSpec,
        status: StepStatus,
        error: str | None,
        *,
        replay: bool = False,
    ) -> bool:
        """What a step's end means for its run; True when the run has ended."""
        if status is StepStatus.SUCCEEDED and step.then is Then.STOP:
            await end_run(self._deps, run.seq, RunStatus.SUCCEEDED, f"stopped after {step.id}")
            return True
        if status not in (StepStatus.ABORTED, StepStatus.FAILED):
            return False
        if status is StepStatus.ABORTED:
            await end_run(self._deps, run.seq, RunStatus.ABORTED, error or f"{step.id} aborted")
            return True
        return not await self._survive(run, step, error, replay=replay)

    async def _begin(self, run: RunRow, playbook: Playbook) -> bool:
        """pending → running, unless the target is locked or in cooldown (→ skipped)."""
        deps = self._deps
        now = deps.clock.now()
        reason = None
        async with deps.db.begin() as conn:
            if run.target is not None:
                # One run per target across replicas: their checks on a target take turns.
                await hold_until_commit(conn, key_of(f"target:{run.target}"))
                holder = await run_store.active_run_on_target(conn, run.target, run.seq)
                if holder is not None:
                    reason = f"{run.target} is locked by RUN-{holder}"
            cooldown = playbook.spec.cooldown
            if reason is None and cooldown.total_seconds() > 0:
                last = await run_store.last_finish(conn, run.playbook, run.target, run.seq)
                if last is not None and now - last < cooldown:
                    reason = f"cooldown: {run.playbook} ran on {run.target} at {last:%H:%M:%S}Z"
            if reason is None:
                await run_store.set_run_status(conn, run.seq, RunStatus.RUNNING, now)
                return True
        await end_run(deps, run.seq, RunStatus.SKIPPED, reason)
        return False

    async def _step(
        self, run: RunRow, position: int, step: StepSpec, context: dict[str, Any]
    ) -> tuple[StepStatus, str | None, dict[str, Any]]:
        deps = self._deps
        try:
            skip = (step.when is not None and not evaluate(step.when, context)) or (
                step.unless is not None and evaluate(step.unless, context)
            )
        except TemplateError as err:
            outcome = await record_failed(deps, run, position, step, f"condition: {err}")
            return outcome.status, outcome.error, outcome.output
        if skip:
            reason = f"when: {step.when}" if step.when is not None else f"unless: {step.unless}"
            outcome = await record_skipped(deps, run, position, step, reason)
            return outcome.status, None, outcome.output
        if step.uses == APPROVAL:
            return await self._approval_step(run, position, step, context)
        outcome = await run_action_step(deps, run, position, step, context)
        return outcome.status, outcome.error, outcome.output

    async def _approval_step(
        self, run: RunRow, position: int, step: StepSpec, context: dict[str, Any]
    ) -> tuple[StepStatus, str | None, dict[str, Any]]:
        deps = self._deps
        try:
            params = ApprovalParams.model_validate(render_value(step.with_, context))
        except (TemplateError, ValueError) as err:
            outcome = await record_failed(deps, run, position, step, f"parameters: {err}")
            return outcome.status, outcome.error, outcome.output
        async with deps.db.connect() as conn:
            row = await run_store.approval_for_step(conn, run.seq, step.id)
        if row is None:
            async with deps.db.begin() as conn:
                await run_store.save_step(
                    conn,
                    run_seq=run.seq,
                    position=position,
                    step_id=step.id,
                    action=APPROVAL,
                    status=StepStatus.WAITING_APPROVAL,
                    at=deps.clock.now(),
                )
            row = await request_approval(
                deps,
                run,
                step_id=step.id,
                mode=params.mode,
                four_eyes=params.four_eyes,
                prompt=params.prompt or f"{run.playbook}: approve the next steps",
                reason=None,
                on_timeout=params.on_timeout,
                expires_at=deps.clock.now() + params.window(),
            )
        decided = await await_decision(deps, run, row)
        output = {
            "approval": f"APR-{row.seq}",
            "status": decided.status.value,
            "decided_by": decided.decided_by,
        }
        status = (
            StepStatus.SUCCEEDED
            if decided.status is ApprovalStatus.APPROVED
            else StepStatus.ABORTED
        )
        error = None if status is StepStatus.SUCCEEDED else f"APR-{row.seq} {decided.status}"
        await record_approval_end(deps, run, position, step, status, output, error)
        if status is StepStatus.SUCCEEDED:
            async with deps.db.begin() as conn:
                await run_store.set_run_status(conn, run.seq, RunStatus.RUNNING, deps.clock.now())
        return status, error, output

    async def _survive(
        self, run: RunRow, step: StepSpec, error: str | None, *, replay: bool = False
    ) -> bool:
        """``on_failure``: continue → go on; abort → fail the run; escalate → escalate, fail.
        A run that has ended meanwhile (its incident resolved) is not escalated; nor is a
        failure replayed after a restart that was escalated already."""
        if step.on_failure is OnFailure.CONTINUE:
            return True
        if step.on_failure is OnFailure.ESCALATE and not await self._finished(run.seq):
            reason = f"{run.playbook}: step {step.id} failed: {error}"
            if not (replay and await self._escalated(run.incident_seq, reason)):
                await IncidentOps(self._deps, run.incident_seq).escalate(reason)
        await end_run(self._deps, run.seq, RunStatus.FAILED, f"{step.id} failed: {error}")
        return False

    async def _escalated(self, incident_seq: int, reason: str) -> bool:
        async with self._deps.db.connect() as conn:
            return await has_event(conn, incident_seq, "incident.escalated", f"ESCALATED: {reason}")

    async def _context(
        self,
        run: RunRow,
        alert: Alert | None,
        outputs: dict[str, dict[str, Any]],
        incident: IncidentRow,
    ) -> dict[str, Any]:
        labels = None
        if alert is None:
            # A manual run sees the labels its target was rendered with (create_manual_run):
            # the incident's first alert's labels, overridden by the run's params.
            async with self._deps.db.connect() as conn:
                first = await incident_store.first_alert_labels(conn, run.incident_seq)
            labels = {**first, **run.params}
        context = template_context(
            alert=alert,
            incident=incident.as_context(),
            now=self._deps.clock.now(),
            target=run.target,
            steps=outputs,
            params=run.params,
        )
        if labels is not None:
            context["labels"] = context["alert"]["labels"] = labels
        return context

    async def _progress(self, run_seq: int) -> run_store.RunProgress | None:
        """The run's status, owner and incident, read before each step (one statement)."""
        async with self._deps.db.connect() as conn:
            return await run_store.run_progress(conn, run_seq)

    async def _finished(self, run_seq: int) -> bool:
        """The run ended, or is no longer this replica's to drive."""
        progress = await self._progress(run_seq)
        return progress is None or progress.over_for(self._replica.id)
