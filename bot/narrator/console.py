"""Narrate to a text stream: the embedded default, and what ``medic demo`` shows."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.events import ApprovalEvent, IncidentChange, IncidentChangeKind, RunEvent, StepEvent
from bot.narrator.base import Narrator

_MARK = {
    IncidentChangeKind.OPENED: "OPENED  ",
    IncidentChangeKind.UPDATED: "UPDATED ",
    IncidentChangeKind.RESOLVED: "RESOLVED",
}


class ConsoleNarrator:
    """One line per event; stderr by default, so JSON logs on stdout stay parseable."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr

    async def incident_changed(self, change: IncidentChange) -> None:
        """``[INC-3] OPENED   sev1 open  title — text (2 alerts)``."""
        alerts = f"{change.alert_count} alert" + ("" if change.alert_count == 1 else "s")
        await self._line(
            f"[{change.incident_id}] {_MARK[change.kind]} {change.severity} "
            f"{change.status:<12} {change.title} — {change.text} ({alerts})"
        )

    async def step_started(self, event: StepEvent) -> None:
        """``[INC-3] RUN-4 rollout-history ▶ kubernetes.rollout_history``."""
        await self._line(f"[{event.incident_id}] {event.run_id} {event.step_id} ▶ {event.action}")

    async def step_finished(self, event: StepEvent) -> None:
        """``[INC-3] RUN-4 rollback ✔ succeeded (dry run) would roll back …``."""
        dry = " (dry run)" if event.dry_run else ""
        detail = event.error or event.summary
        await self._line(
            f"[{event.incident_id}] {event.run_id} {event.step_id} {event.status}{dry}"
            + (f": {detail}" if detail else "")
        )

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """The prompt, the mode and the deadline, with the id to approve through the API."""
        who = "two approvers" if event.required == 2 else "an approver"
        until = f" until {event.expires_at:%H:%M:%S}Z" if event.expires_at else ""
        why = f" [{event.reason}]" if event.reason else ""
        await self._line(
            f"[{event.incident_id}] {event.approval_id} {event.mode.upper()} needs {who}{until}: "
            f"{event.prompt}{why}"
        )

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """``[INC-3] APR-2 approved by U1,U2``."""
        by = f" by {event.decided_by}" if event.decided_by else ""
        await self._line(f"[{event.incident_id}] {event.approval_id} {event.status}{by}")

    async def run_finished(self, event: RunEvent) -> None:
        """``[INC-3] RUN-4 auto-rollback succeeded``."""
        detail = f": {event.detail}" if event.detail else ""
        await self._line(
            f"[{event.incident_id}] {event.run_id} {event.playbook} {event.status}{detail}"
        )

    async def _line(self, text: str) -> None:
        await asyncio.to_thread(self._write, text + "\n")

    def _write(self, text: str) -> None:
        """Blocking write, run in a worker thread."""
        self._stream.write(text)
        self._stream.flush()


def terminal_narration(
    stdout: TextIO | None = None, stderr: TextIO | None = None
) -> tuple[list[Narrator], bool]:
    """``medic serve``'s narrators, and whether events are also logged one line each.

    On a terminal people read the console narrator's lines (stderr); when the log goes to
    that terminal too, the per-event log lines would say the same again, so they are left
    out. Off a terminal (a container, a pipe) the JSON log lines are the record, and nothing
    is narrated to stderr.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if not err.isatty():
        return [], True
    return [ConsoleNarrator(err)], not out.isatty()
