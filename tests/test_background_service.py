"""The one shape of Medic's background loops (bot.tasks.BackgroundService): what start and
stop do, in which order, whatever the service."""

from __future__ import annotations

import asyncio

from bot.tasks import BackgroundService


class _Recorder(BackgroundService):
    """Records each phase; its loop runs until cancelled."""

    task_name = "recorder"

    def __init__(self, *, wanted: bool = True) -> None:
        super().__init__()
        self.wanted = wanted
        self.phases: list[str] = []
        self.looping = asyncio.Event()

    async def _prepare(self) -> bool:
        self.phases.append("prepare")
        return self.wanted

    async def _run(self) -> None:
        self.phases.append("run")
        self.looping.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.phases.append("cancelled")
            raise

    async def _drain(self) -> None:
        self.phases.append("drain")

    async def _close(self) -> None:
        self.phases.append("close")


async def test_start_prepares_then_loops_and_stop_drains_cancels_and_closes() -> None:
    """start() prepares before the loop runs; stop() drains while the loop still runs, then
    cancels it and waits for it to end, then closes."""
    service = _Recorder()
    await service.start()
    await service.looping.wait()
    assert service.running
    await service.stop()
    assert service.phases == ["prepare", "run", "drain", "cancelled", "close"]
    assert not service.running


async def test_a_service_with_nothing_to_do_starts_no_loop_and_still_closes() -> None:
    """When _prepare says there is nothing to do, no task starts; stop() only closes."""
    service = _Recorder(wanted=False)
    await service.start()
    assert not service.running
    await service.stop()
    assert service.phases == ["prepare", "close"]


async def test_the_loop_task_carries_the_service_name() -> None:
    """The loop runs in a task named after the service (what task dumps and logs show)."""
    service = _Recorder()
    await service.start()
    await service.looping.wait()
    names = {task.get_name() for task in asyncio.all_tasks()}
    await service.stop()
    assert "recorder" in names
