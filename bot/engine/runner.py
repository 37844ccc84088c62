"""The run manager: drives every run step by step, each transition committed.

On start it recovers what a previous process left. A ``write`` or ``notify`` step found
``running`` may or may not have acted, so it becomes ``interrupted`` (and its run too), is
narrated, and is never re-run without a human, unless its action is idempotent by a key the
other system honours (``ActionSpec.idempotent``, e.g. a PagerDuty dedup key): then it runs
again, as do ``read`` steps and ``control`` steps (whose effect commits with their outcome,
so a step found running had none). Runs then resume from their last committed step.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from bot.actions import ActionKind
from bot.engine.builtin_actions import APPROVAL, ApprovalParams
from bot.engine.context import template_context
from bot.engine.deps import EngineDeps
from bot.engine.followups import after_commit
from bot.engine.gates import await_decision, request_approval
from bot.engine.incident_ops import IncidentOps
from bot.engine.intake import IntakeResult
from bot.engine.replica import Replica
from bot.engine.steps import (
    record_approval_end,
    record_failed,
    record_skipped,
    run_action_step,
)
from bot.errors import DecisionRefused
from bot.events import RunEvent
from bot.models import Alert, ApprovalStatus, Identity, RunStatus, StepStatus
from bot.playbooks.models import OnFailure, StepSpec, Then
from bot.playbooks.playbook import Playbook
from bot.playbooks.templates import TemplateError, evaluate, render_value
from bot.store import incidents as incident_store
from bot.store import is_transient, journal
from bot.store import replicas as replica_store
from bot.store import runs as run_store
from bot.store.audit import has_event, record_event
from bot.store.locks import hold_until_commit, key_of
from bot.store.runs import TERMINAL_STEP, RunRow
from bot.tasks import cancel_all

log = structlog.get_logger(__name__)

STORE_RETRY_S = 1.0
STOP_GRACE_S = 20.0


class RunManager:
    """One task per active run, at most ``safety.max_concurrent_runs`` executing at once."""

    def __init__(self, deps: EngineDeps, replica: Replica) -> None:
        self._deps = deps
        self._replica = replica
        self._slots = deps.slots or asyncio.Semaphore(deps.settings.safety.max_concurrent_runs)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()

    async def start(self) -> None:
        """Take the runs no live replica owns: recover their interrupted steps, resume them;
        from then on, take over the runs of replicas that die."""
        await self._replica.start(self.adopt, self._drop_all)

    @property
    def replica(self) -> Replica:
        """This process among the replicas sharing the store."""
        return self._replica

    async def adopt(self, run_seqs: list[int]) -> None:
        """Runs this replica just took over (at start, or from a replica that died)."""
        taken = [seq for seq in run_seqs if seq not in self._tasks]
        for run_seq in await self._recover(taken):
            self.launch(run_seq)

    async def _drop_all(self) -> None:
        """This replica's lease lapsed: its runs may be another's now; stop driving them
        (they are claimed again, and recovered, where they are still free)."""
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()

    def launch(self, run_seq: int) -> None:
        """Drive ``run_seq`` unless a task already does."""
        task = self._tasks.get(run_seq)
        if task is None or task.done():
            task = asyncio.create_task(self._drive(run_seq), name=f"run-{run_seq}")
            self._tasks[run_seq] = task
            task.add_done_callback(lambda done: self._forget(run_seq, done))

    def _forget(self, run_seq: int, task: asyncio.Task[None]) -> None:
        """A finished run's task is dropped, so the map only holds live runs."""
        if self._tasks.get(run_seq) is task:
            del self._tasks[run_seq]
            self._deps.run_ends.forget(run_seq)

    def take(self, result: IntakeResult) -> None:
        """Intake committed: its follow-ups, then start the new runs."""
        after_commit(self._deps, result)
        for run_seq in result.new_runs:
            self.launch(run_seq)

    async def idle(self) -> None:
        """Wait until no run task is active (they may be waiting on humans: use with care)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.wait(tasks)

    async def stop(self) -> None:
        """Start no new step; let actions already executing finish and commit (at most
        ``STOP_GRACE_S``); then cancel every run task. Their committed state is what a
        restart resumes from, so a deploy does not leave write steps ``interrupted``."""
        self.stopping.set()
        await self._deps.in_flight.drained(STOP_GRACE_S)
        await cancel_all(list(self._tasks.values()))
        self._tasks.clear()
        await self._replica.stop()

    async def start_manual(
        self, incident_seq: int, playbook: Playbook, who: Identity, params: dict[str, Any]
    ) -> int:
        """A human starts ``playbook`` on an incident (``/incident run``); returns the run."""
        user = who.user
        now = self._deps.clock.now()
        async with self._deps.db.begin() as conn:
            incident = await incident_store.get_incident(conn, incident_seq)
            if incident is None:
                raise DecisionRefused("not_found", f"no incident INC-{incident_seq}")
            target = None
            if playbook.spec.target is not None:
                labels = {**await incident_store.first_alert_labels(conn, incident_seq), **params}
                context = template_context(
                    alert=None, incident=incident.as_context(), now=now, params=params
                )
                context["labels"] = context["alert"]["labels"] = labels
                try:
                    target = render_value(playbook.spec.target, context)
                except TemplateError as err:
                    raise DecisionRefused(
                        "invalid", f"target of {playbook.name}: {err} (give it as a param)"
                    ) from err
            run_seq = await run_store.create_run(
                conn,
                incident_seq=incident_seq,
                playbook=playbook.name,
                target=target,
                started_by=user,
                params=params,
                trigger_alert_id=None,
                at=now,
            )
            await record_event(
                conn,
                at=now,
                actor=user,
                kind="run.created",
                incident_seq=incident_seq,
                text=f"RUN-{run_seq} {playbook.name} started by {user}",
                detail={"run": run_seq, "via": who.via.value},
            )
        self.launch(run_seq)
        return run_seq

    async def _recover(self, run_seqs: list[int]) -> list[int]:
        """What the previous owner of these runs left: write steps cut off mid-way become
        ``interrupted`` (their run too); read steps cut off run again. The runs to resume."""
        deps = self._deps
        now = deps.clock.now()
        resume: list[int] = []
        interrupted: list[tuple[RunRow, str]] = []
        if not run_seqs:
            return resume
        async with deps.db.begin() as conn:
            for run in await run_store.unfinished_runs(conn, run_seqs):
                cut = [
                    s
                    for s in (await run_store.steps_of_run(conn, run.seq)).values()
                    if s.status is StepStatus.RUNNING
                ]
                writes = [s for s in cut if not self._rerun_after_crash(s.action)]
                for step in cut:
                    if step in writes:
                        await run_store.save_step(
                            conn,
                            run_seq=run.seq,
                            position=0,
                            step_id=step.step_id,
                            action=step.action,
                            status=StepStatus.INTERRUPTED,
                            at=now,
                            error="Medic stopped while this step ran; it may have acted: "
                            "not re-run",
                        )
                    else:
                        await run_store.delete_step(conn, run.seq, step.step_id)
                if writes:
                    names = ", ".join(s.step_id for s in writes)
                    detail = f"interrupted during {names}: check the target, then /incident run"
                    await run_store.set_run_status(
                        conn, run.seq, RunStatus.INTERRUPTED, now, error=detail
                    )
                    await record_event(
                        conn,
                        at=now,
                        actor="medic",
                        kind="run.interrupted",
                        incident_seq=run.incident_seq,
                        text=f"RUN-{run.seq} {detail}",
                    )
                    interrupted.append((run, detail))
                else:
                    resume.append(run.seq)
        for run, detail in interrupted:
            self._narrate_end(run, RunStatus.INTERRUPTED, detail)
        return resume

    async def _interrupt(self, run: RunRow, step_id: str) -> None:
        now = self._deps.clock.now()
        detail = f"interrupted during {step_id}: check the target, then /incident run"
        async with self._deps.db.begin() as conn:
            await run_store.save_step(
                conn,
                run_seq=run.seq,
                position=0,
                step_id=step_id,
                action="",
                status=StepStatus.INTERRUPTED,
                at=now,
                error="the store failed while this step ran; it may have acted: not re-run",
            )
        await self._end(run.seq, RunStatus.INTERRUPTED, detail)

    def _rerun_after_crash(self, action: str) -> bool:
        """Whether a step of ``action`` cut off mid-way may simply run again."""
        spec = self._deps.registry.get(action)
        if spec is None:
            return False
        return spec.kind in (ActionKind.READ, ActionKind.CONTROL) or spec.idempotent is not None

    async def _drive(self, run_seq: int) -> None:
        structlog.contextvars.bind_contextvars(run=f"RUN-{run_seq}")
        async with self._slots:
            while True:
                try:
                    if not await self._claim(run_seq):
                        return  # another live replica drives it
                    await self._execute(run_seq)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    if is_transient(err):  # the store is away: resume from what is committed
                        log.warning("run.store_unavailable", error=type(err).__name__)
                        await asyncio.sleep(STORE_RETRY_S)
                        continue
                    log.exception("run.crashed")  # a bug in one run must not stop the engine
                    await self._end(run_seq, RunStatus.FAILED, f"{type(err).__name__}: {err}")
                return

    async def _execute(self, run_seq: int) -> None:
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
            await self._end(run_seq, RunStatus.FAILED, f"playbook {run.playbook} is not loaded")
            return
        if run.status is RunStatus.PENDING and not await self._begin(run, playbook):
            return
        outputs: dict[str, dict[str, Any]] = {
            sid: {"output": self._typed(row.action, row.output or {})} for sid, row in done.items()
        }
        for position, step in enumerate(playbook.spec.steps):
            if await self._advance(run, position, step, done.get(step.id), alert, outputs):
                return
        await self._end(run_seq, RunStatus.SUCCEEDED, "")

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
            and not self._rerun_after_crash(row.action)
        ):
            # Resumed after a store outage in the middle of this step: its effect is
            # unknown, so it is never run again without a human.
            await self._interrupt(run, row.step_id)
            return True
        if self.stopping.is_set() or await self._finished(run.seq):
            return True  # stopping: the run stays as committed and resumes after a restart
        context = await self._context(run, alert, outputs)
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
            await self._end(run.seq, RunStatus.SUCCEEDED, f"stopped after {step.id}")
            return True
        if status not in (StepStatus.ABORTED, StepStatus.FAILED):
            return False
        if status is StepStatus.ABORTED:
            await self._end(run.seq, RunStatus.ABORTED, error or f"{step.id} aborted")
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
        await self._end(run.seq, RunStatus.SKIPPED, reason)
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
        await self._end(run.seq, RunStatus.FAILED, f"{step.id} failed: {error}")
        return False

    async def _escalated(self, incident_seq: int, reason: str) -> bool:
        async with self._deps.db.connect() as conn:
            return await has_event(conn, incident_seq, "incident.escalated", f"ESCALATED: {reason}")

    async def _context(
        self, run: RunRow, alert: Alert | None, outputs: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._deps.db.connect() as conn:
            incident = await incident_store.get_incident(conn, run.incident_seq)
            # A manual run sees the labels its target was rendered with (start_manual): the
            # incident's first alert's labels, overridden by the run's params.
            labels = (
                {**await incident_store.first_alert_labels(conn, run.incident_seq), **run.params}
                if alert is None
                else None
            )
        context = template_context(
            alert=alert,
            incident={} if incident is None else incident.as_context(),
            now=self._deps.clock.now(),
            target=run.target,
            steps=outputs,
            params=run.params,
        )
        if labels is not None:
            context["labels"] = context["alert"]["labels"] = labels
        return context

    async def _claim(self, run_seq: int) -> bool:
        """Own the run (created here, or handed back) unless a live replica does."""
        async with self._deps.db.begin() as conn:
            return await replica_store.claim_run(
                conn, self._replica.id, run_seq, self._replica.alive_since()
            )

    async def _finished(self, run_seq: int) -> bool:
        """The run ended, or is no longer this replica's to drive."""
        async with self._deps.db.connect() as conn:
            run = await run_store.get_run(conn, run_seq)
            mine = await replica_store.owns(conn, self._replica.id, run_seq)
        return run is None or run.status in run_store.TERMINAL_RUN or not mine

    async def _end(self, run_seq: int, status: RunStatus, detail: str) -> None:
        now = self._deps.clock.now()
        async with self._deps.db.begin() as conn:
            run = await run_store.get_run(conn, run_seq)
            if run is None or not await run_store.set_run_status(
                conn, run_seq, status, now, error=detail or None
            ):
                return
            await record_event(
                conn,
                at=now,
                actor="medic",
                kind=f"run.{status}",
                incident_seq=run.incident_seq,
                text=f"RUN-{run_seq} {run.playbook} {status}" + (f": {detail}" if detail else ""),
            )
        self._narrate_end(run, status, detail)

    def _narrate_end(self, run: RunRow, status: RunStatus, detail: str) -> None:
        self._deps.narration.run_finished(
            RunEvent(
                incident_seq=run.incident_seq,
                run_id=f"RUN-{run.seq}",
                playbook=run.playbook,
                status=status.value,
                detail=detail,
            )
        )
