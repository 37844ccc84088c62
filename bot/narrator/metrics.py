"""Count runs, steps and approval outcomes on ``/metrics``: a narrator, so it is told each
event once, after its commit, like the others."""

from __future__ import annotations

from bot.events import ApprovalEvent, IncidentChange, RunEvent, StepEvent
from bot.metrics import Metrics

_FINAL_APPROVALS = frozenset({"approved", "rejected", "expired", "cancelled"})


class MetricsNarrator:
    """Turns engine events into the run, step and approval counters."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def incident_changed(self, change: IncidentChange) -> None:
        """Incidents are counted where they open (the intake)."""

    async def step_started(self, event: StepEvent) -> None:
        """Only finished steps are counted."""

    async def step_finished(self, event: StepEvent) -> None:
        """One more step of this playbook and action with this outcome."""
        self._metrics.steps_finished.labels(event.playbook, event.action, event.status).inc()

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """Pending approvals are read from the store at each scrape."""

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """One more approval of this mode with this outcome."""
        if event.status in _FINAL_APPROVALS:
            self._metrics.approvals_decided.labels(event.mode, event.status).inc()

    async def run_finished(self, event: RunEvent) -> None:
        """One more run of this playbook with this outcome."""
        self._metrics.runs_finished.labels(event.playbook, event.status).inc()
