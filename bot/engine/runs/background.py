"""Side effects the engine starts after a commit and does not wait for (kept, cancelled on
shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

from bot.tasks import cancel_all


class BackgroundTasks:
    """A set of tasks with a reference kept to each (RUF006), cancelled on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Start ``coro``."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for every task started so far."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def close(self) -> None:
        """Cancel what still runs."""
        await cancel_all(list(self._tasks))


class InFlight:
    """Runs executing an action right now; a graceful stop lets them finish first."""

    def __init__(self) -> None:
        self._runs: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def step(self, run_seq: int) -> Iterator[None]:
        """Mark ``run_seq`` as executing for the duration of the block."""
        self._runs.add(run_seq)
        self._idle.clear()
        try:
            yield
        finally:
            self._runs.discard(run_seq)
            if not self._runs:
                self._idle.set()

    async def drained(self, grace_s: float) -> None:
        """Wait (at most ``grace_s``) until no action is executing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._idle.wait()


RUN_END_POLL_S = 5.0
"""How often a step in flight re-reads its run from the store (another process may have
ended it); in this process an ended run wakes its step at once."""


class RunEnds:
    """Wakes the step in flight of a run that something else ended (its incident resolved)."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}

    def event(self, run_seq: int) -> asyncio.Event:
        """The event a run's step in flight watches."""
        return self._events.setdefault(run_seq, asyncio.Event())

    def ended(self, run_seq: int) -> None:
        """``run_seq`` has ended (committed)."""
        self.event(run_seq).set()

    def forget(self, run_seq: int) -> None:
        """Nobody watches ``run_seq`` any more."""
        self._events.pop(run_seq, None)
