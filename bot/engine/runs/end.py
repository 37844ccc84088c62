"""Ending a run: its final status committed with an audit event, then narrated."""

from __future__ import annotations

from bot.engine.deps import EngineDeps
from bot.events import RunEvent
from bot.models import RunStatus
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.runs import RunRow


async def end_run(deps: EngineDeps, run_seq: int, status: RunStatus, detail: str) -> None:
    """Commit ``status`` as the run's end (unless it has ended already), then narrate it."""
    now = deps.clock.now()
    async with deps.db.begin() as conn:
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
    narrate_end(deps, run, status, detail)


def narrate_end(deps: EngineDeps, run: RunRow, status: RunStatus, detail: str) -> None:
    """Tell the narrators that ``run`` ended."""
    deps.narration.run_finished(
        RunEvent(
            incident_seq=run.incident_seq,
            run_id=f"RUN-{run.seq}",
            playbook=run.playbook,
            status=status.value,
            detail=detail,
        )
    )
