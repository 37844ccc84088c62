"""The Slack narrator: every committed engine event wakes that incident's Slack delivery.

What to show is read back from the store (the audit trail and current state), so narration
keeps no state of its own that a crash could lose.
"""

from __future__ import annotations

from bot.events import ApprovalEvent, IncidentChange, RunEvent, StepEvent
from bot.slack.sync import SlackSync


class SlackNarrator:
    """Pokes :class:`SlackSync` for the incident of each event."""

    def __init__(self, sync: SlackSync) -> None:
        self._sync = sync

    async def incident_changed(self, change: IncidentChange) -> None:
        """An incident opened, changed or resolved."""
        self._sync.poke(change.incident_seq)

    async def step_started(self, event: StepEvent) -> None:
        """A step started."""
        self._sync.poke(event.incident_seq)

    async def step_finished(self, event: StepEvent) -> None:
        """A step finished."""
        self._sync.poke(event.incident_seq)

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """An approval was requested."""
        self._sync.poke(event.incident_seq)

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """An approval was decided."""
        self._sync.poke(event.incident_seq)

    async def run_finished(self, event: RunEvent) -> None:
        """A run ended."""
        self._sync.poke(event.incident_seq)
