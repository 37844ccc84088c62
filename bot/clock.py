"""Time for the engine: the wall clock in production, a hand-driven clock in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """``now()`` and a sleep that ends at a wall-clock deadline."""

    def now(self) -> datetime:
        """The current time, UTC."""

    async def sleep_until(self, deadline: datetime) -> None:
        """Return once ``deadline`` has passed."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime) -> None:
        """``asyncio.sleep`` until the deadline."""
        delay = (deadline - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class ManualClock:
    """A clock that only moves when told to; sleepers wake when it passes their deadline.

    For tests of timeouts (approval windows, cooldowns) without real waiting.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        """The current (manual) time."""
        return self._now

    async def sleep_until(self, deadline: datetime) -> None:
        """Wait until :meth:`advance` passes ``deadline``."""
        if deadline <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline, future))
        try:
            await future
        finally:
            self._sleepers = [(d, f) for d, f in self._sleepers if f is not future]

    def advance(self, delta: timedelta) -> None:
        """Move time forward and wake every sleeper whose deadline passed."""
        self._now += delta
        for deadline, future in self._sleepers:
            if deadline <= self._now and not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock (lets tests wait for a waiter)."""
        return sum(1 for _, f in self._sleepers if not f.done())


Now = Callable[[], datetime]
"""A function returning the current time (``Clock.now`` or ``utc_now``)."""


def utc_now() -> datetime:
    """``datetime.now(UTC)``."""
    return datetime.now(UTC)
