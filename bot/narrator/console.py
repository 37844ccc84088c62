"""Narrate incidents to a text stream: the embedded default, and ``make demo``'s output."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.engine.events import IncidentChange, IncidentChangeKind

_MARK = {
    IncidentChangeKind.OPENED: "OPENED  ",
    IncidentChangeKind.UPDATED: "UPDATED ",
    IncidentChangeKind.RESOLVED: "RESOLVED",
}


class ConsoleNarrator:
    """One line per change; the stream is stderr so JSON logs on stdout stay parseable."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr

    async def incident_changed(self, change: IncidentChange) -> None:
        """Print ``[INC-3] OPENED   sev1 open  title — text (2 alerts)``."""
        alerts = f"{change.alert_count} alert" + ("" if change.alert_count == 1 else "s")
        line = (
            f"[{change.incident_id}] {_MARK[change.kind]} {change.severity} "
            f"{change.status:<12} {change.title} — {change.text} ({alerts})\n"
        )
        await asyncio.to_thread(self._write, line)

    def _write(self, line: str) -> None:
        """Blocking write, run in a worker thread."""
        self._stream.write(line)
        self._stream.flush()
