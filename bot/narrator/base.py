"""The narrator interface every narration target (console, Slack) implements."""

from __future__ import annotations

from typing import Protocol

from bot.engine.events import IncidentChange


class Narrator(Protocol):
    """Receives committed incident changes, in order."""

    async def incident_changed(self, change: IncidentChange) -> None:
        """Tell the humans what happened to an incident."""
