"""Deliver committed changes to narrators off the request path, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from bot.engine.events import IncidentChange
from bot.narrator.base import Narrator

log = structlog.get_logger(__name__)


class NarrationDispatcher:
    """A queue and one worker task; a failing narrator is logged and never blocks ingest."""

    def __init__(self, narrators: Sequence[Narrator]) -> None:
        self._narrators = list(narrators)
        self._queue: asyncio.Queue[IncidentChange] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def publish(self, changes: Sequence[IncidentChange]) -> None:
        """Queue changes that have been committed."""
        for change in changes:
            self._queue.put_nowait(change)

    async def start(self) -> None:
        """Start the worker."""
        self._task = asyncio.create_task(self._run(), name="narration")

    async def stop(self) -> None:
        """Deliver what is queued, then stop the worker."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            change = await self._queue.get()
            try:
                with structlog.contextvars.bound_contextvars(incident=change.incident_id):
                    log.info(f"incident.{change.kind}", status=change.status, text=change.text)
                    await self._deliver(change)
            finally:
                self._queue.task_done()

    async def _deliver(self, change: IncidentChange) -> None:
        for narrator in self._narrators:
            try:
                await narrator.incident_changed(change)
            except Exception:  # a narrator must never stop the others or ingest
                log.exception("narration.failed", narrator=type(narrator).__name__)
