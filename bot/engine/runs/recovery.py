"""What a run's previous owner left when it stopped mid-step.

A ``write`` or ``notify`` step found ``running`` may or may not have acted, so it becomes
``interrupted`` (and its run too), is narrated, and is never re-run without a human, unless
its action is idempotent by a key the other system honours (``ActionSpec.idempotent``, e.g. a
PagerDuty dedup key): then it runs again, as do ``read`` steps and ``control`` steps (whose
effect commits with their outcome, so a step found running had none).
"""

from __future__ import annotations

from bot.actions import ActionKind
from bot.engine.deps import EngineDeps
from bot.engine.runs.end import end_run, narrate_end
from bot.models import RunStatus, StepStatus
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.runs import RunRow


def rerun_after_crash(deps: EngineDeps, action: str) -> bool:
    """Whether a step of ``action`` cut off mid-way may simply run again."""
    spec = deps.registry.get(action)
    if spec is None:
        return False
    return spec.kind in (ActionKind.READ, ActionKind.CONTROL) or spec.idempotent is not None


async def recover_runs(deps: EngineDeps, run_seqs: list[int]) -> list[int]:
    """What the previous owner of these runs left: write steps cut off mid-way become
    ``interrupted`` (their run too); read steps cut off run again. The runs to resume."""
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
            writes = [s for s in cut if not rerun_after_crash(deps, s.action)]
            for step in cut:
                if step in writes:
                    await run_store.interrupt_step(
                        conn,
                        run.seq,
                        step.step_id,
                        now,
                        "Medic stopped while this step ran; it may have acted: not re-run",
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
        narrate_end(deps, run, RunStatus.INTERRUPTED, detail)
    return resume


async def interrupt_run(deps: EngineDeps, run: RunRow, step_id: str) -> None:
    """The store failed while ``step_id`` ran: its effect is unknown, so the step and its run
    end ``interrupted`` (never run again without a human)."""
    now = deps.clock.now()
    detail = f"interrupted during {step_id}: check the target, then /incident run"
    async with deps.db.begin() as conn:
        await run_store.interrupt_step(
            conn,
            run.seq,
            step_id,
            now,
            "the store failed while this step ran; it may have acted: not re-run",
        )
    await end_run(deps, run.seq, RunStatus.INTERRUPTED, detail)
