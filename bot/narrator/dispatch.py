"""Deliver committed engine events to narrators off the request path, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from bot.events import ApprovalEvent, EngineEvent, IncidentChange, RunEvent, StepEvent
from bot.narrator.base import Narrator
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)


class NarrationDispatcher(BackgroundService):
    """A queue and one worker task; a failing narrator is logged and never blocks the engine."""

    task_name = "narration"

    def __init__(self, narrators: Sequence[Narrator], *, log_events: bool = True) -> None:
        """``log_events``: also log each event at info (off when a console narrator already
        tells it on the terminal the log goes to)."""
        super().__init__()
        self._narrators = list(narrators)
        self._log_events = log_events
        self._queue: asyncio.Queue[tuple[str, EngineEvent]] = asyncio.Queue()

    def add(self, narrator: Narrator) -> None:
        """Narrate to ``narrator`` too (before ``start``)."""
        self._narrators.append(narrator)

    def publish(self, changes: Sequence[IncidentChange]) -> None:
        """Queue incident changes that have been committed."""
        for change in changes:
            self._queue.put_nowait(("incident_changed", change))

    def step_started(self, event: StepEvent) -> None:
        """Queue a step start."""
        self._queue.put_nowait(("step_started", event))

    def step_finished(self, event: StepEvent) -> None:
        """Queue a step end."""
        self._queue.put_nowait(("step_finished", event))

    def approval_requested(self, event: ApprovalEvent) -> None:
        """Queue an approval request."""
        self._queue.put_nowait(("approval_requested", event))

    def approval_decided(self, event: ApprovalEvent) -> None:
        """Queue an approval decision."""
        self._queue.put_nowait(("approval_decided", event))

    def run_finished(self, event: RunEvent) -> None:
        """Queue a run's end."""
        self._queue.put_nowait(("run_finished", event))

    async def drained(self) -> None:
        """Wait until everything queued so far was delivered."""
        await self._queue.join()

    async def _drain(self) -> None:
        """Deliver what is queued before stopping."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            method, event = await self._queue.get()
            try:
                with structlog.contextvars.bound_contextvars(incident=event.incident_id):
                    if self._log_events:
                        log.info(_event_name(method, event), **_fields(event))
                    await self._deliver(method, event)
            finally:
                self._queue.task_done()

    async def _deliver(self, method: str, event: EngineEvent) -> None:
        for narrator in self._narrators:
            try:
                await getattr(narrator, method)(event)
            except Exception:  # a narrator must never stop the others or the engine
                log.exception("narration.failed", narrator=type(narrator).__name__)


def _event_name(method: str, event: EngineEvent) -> str:
    if isinstance(event, IncidentChange):
        return f"incident.{event.kind}"
    return method.replace("_", ".", 1)


def _fields(event: EngineEvent) -> dict[str, object]:
    if isinstance(event, IncidentChange):
        return {"status": event.status, "text": event.text}
    return event.model_dump(exclude={"incident_seq"}, exclude_none=True, mode="json")
