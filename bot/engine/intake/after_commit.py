"""What follows a committed intake result, wherever it was committed: wake runs whose
approvals were cancelled, narrate runs the resolution aborted, and call the integrations'
``on_resolved`` hooks (PagerDuty resolves what Medic paged, Alertmanager's silences are
expired)."""

from __future__ import annotations

from bot.engine.deps import EngineDeps
from bot.engine.intake.grouping import IntakeResult
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
    deps.hooks.resolved(result.resolved)
