"""Background tasks: stopping them, and the one shape of a service that runs a loop."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar


async def cancel_all(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task (None entries are skipped), then wait until each has ended."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BackgroundService(ABC):
    """A service that runs one loop in a background task.

    ``start()`` runs :meth:`_prepare` and, when it says so, starts :meth:`_run` in a task
    named ``task_name``. ``stop()`` lets :meth:`_drain` finish what was accepted (only while
    the loop runs), cancels the loop and waits for it, then :meth:`_close` releases what the
    service holds. A reference to the task is kept until it is cancelled.
    """

    task_name: ClassVar[str]

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the loop's task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Prepare, then run the loop in the background."""
        if await self._prepare():
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        """Drain, stop the loop, close."""
        if self._task is not None:
            await self._drain()
            await cancel_all([self._task])
            self._task = None
        await self._close()

    async def _prepare(self) -> bool:
        """Work before the loop starts; False when there is nothing for it to do."""
        return True

    @abstractmethod
    async def _run(self) -> None:
        """The loop; it runs until cancelled."""

    async def _drain(self) -> None:
        """Finish what was accepted before the loop is cancelled (nothing, by default)."""
        return

    async def _close(self) -> None:
        """Release what the service holds, once the loop has ended (nothing, by default)."""
        return
