"""The ineffective-remediation breaker: after ``safety.ineffective_runs.max`` runs of one
playbook on one target in a row failed (or were interrupted) after trying a write step,
within ``safety.ineffective_runs.per``, that playbook's write steps no longer run
automatically on that target. The first held step escalates once with the history, every
held step says so in its incident; a run a human starts (``/incident run``) is never held,
and an effective run (one that succeeds) closes the breaker again."""

from __future__ import annotations

from bot.actions import ActionKind
from bot.config import format_duration
from bot.engine.deps import EngineDeps
from bot.engine.incidents.ops import IncidentOps
from bot.store import outcomes
from bot.store.audit import record_event
from bot.store.runs import RunRow

MEDIC = "medic"


def _streak(history: list[outcomes.Outcome]) -> list[outcomes.Outcome]:
    """The ineffective runs since the last effective one."""
    streak: list[outcomes.Outcome] = []
    for outcome in history:
        streak = [*streak, outcome] if outcome.ineffective else []
    return streak


async def held(deps: EngineDeps, run: RunRow) -> str | None:
    """Why ``run``'s write steps must not run automatically, or None. Escalates (once per
    streak) and notes it in the incident when it holds one."""
    if run.started_by != MEDIC or run.target is None or run.seq in deps.breaker_clear:
        return None
    limit = deps.settings.safety.ineffective_runs
    now = deps.clock.now()
    writes = [spec.name for spec in deps.registry if spec.kind is ActionKind.WRITE]
    async with deps.db.connect() as conn:
        history = await outcomes.remediations(
            conn, run.playbook, run.target, now - limit.per, writes, deps.settings.safety.dry_run
        )
    streak = _streak([o for o in history if o.run_seq != run.seq])
    if len(streak) < limit.max:
        # Let through once, the run stays let through: while it runs no other run of its
        # target finishes (one run per target), and older ones only leave the window.
        deps.breaker_clear.add(run.seq)
        return None
    runs = "; ".join(
        f"RUN-{o.run_seq} (INC-{o.incident_seq}) {o.status} at {o.finished_at:%Y-%m-%d %H:%M}Z"
        + (f": {o.error}" if o.error else "")
        for o in streak
    )
    reason = (
        f"remediation breaker: {run.playbook} on {run.target} did not work {len(streak)} times "
        f"in a row within {format_duration(limit.per)} ({runs}); its write steps no longer "
        "run automatically there. A human can still start it with /incident run."
    )
    ops = IncidentOps(deps, run.incident_seq)
    async with deps.db.connect() as conn:
        escalated = await outcomes.breaker_escalated(
            conn, run.playbook, run.target, streak[-1].finished_at
        )
    if escalated:
        await ops.note(f"RUN-{run.seq}: {reason}")
    else:
        await ops.escalate(reason)
        async with deps.db.begin() as conn:
            await record_event(
                conn,
                at=now,
                actor=MEDIC,
                kind=outcomes.BREAKER_KIND,
                incident_seq=run.incident_seq,
                text=f"Remediation breaker open for {run.playbook} on {run.target}",
                detail={"playbook": run.playbook, "target": run.target, "run": run.seq},
            )
    if deps.metrics is not None:
        deps.metrics.breaker_holds.labels(playbook=run.playbook).inc()
    return reason
