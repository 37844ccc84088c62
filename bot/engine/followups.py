"""What follows a committed intake result, wherever it was committed: wake runs whose
approvals were cancelled, narrate runs the resolution aborted, resolve in PagerDuty, expire
the Alertmanager silences Medic holds for resolved incidents."""

from __future__ import annotations

from bot.engine.deps import EngineDeps
from bot.engine.intake import IntakeResult
from bot.engine.pagerduty_events import ACTOR as PAGERDUTY
from bot.engine.pagerduty_sync import client_of, resolve_remote
from bot.engine.silences import expire_after_resolution
from bot.events import RunEvent
from bot.models import RunStatus


def after_commit(deps: EngineDeps, result: IntakeResult) -> None:
    """Run the follow-ups of ``result`` (call only once it has committed)."""
    for approval_seq in result.cancelled_approvals:
        deps.hub.notify(approval_seq)
    for run in result.cancelled_runs:
        deps.run_ends.ended(run.seq)
        deps.narration.run_finished(
            RunEvent(
                incident_seq=run.incident_seq,
                run_id=f"RUN-{run.seq}",
                playbook=run.playbook,
                status=RunStatus.ABORTED.value,
                detail="the incident resolved",
            )
        )
    expire_after_resolution(deps, result)
    if client_of(deps) is None:
        return
    for incident_seq, actor in result.resolved:
        if actor != PAGERDUTY:  # never echo PagerDuty's own resolution back to it
            deps.background.spawn(
                resolve_remote(deps, incident_seq), name=f"pagerduty-resolve-{incident_seq}"
            )
