"""The narrator interface every narration target (console, Slack) implements."""

from __future__ import annotations

from typing import Protocol

from bot.events import ApprovalEvent, IncidentChange, RunEvent, StepEvent


class Narrator(Protocol):
    """Told what happened after each commit, in order; never steers the engine."""

    async def incident_changed(self, change: IncidentChange) -> None:
        """An incident opened, changed or resolved."""

    async def step_started(self, event: StepEvent) -> None:
        """A step started."""

    async def step_finished(self, event: StepEvent) -> None:
        """A step finished (succeeded, failed, skipped, aborted, interrupted)."""

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """A human decision is needed."""

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """An approval was approved, rejected, expired or cancelled."""

    async def run_finished(self, event: RunEvent) -> None:
        """A run reached a final status."""
