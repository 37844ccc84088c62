"""A step in flight stops when its run ends (its incident resolved): a wait that would poll
on, or a page that would follow, is not worth anything any more."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from bot.engine.deps import EngineDeps
from bot.engine.runs.background import RUN_END_POLL_S
from bot.store import runs as run_store
from bot.tasks import cancel_all

T = TypeVar("T")


class RunEnded(Exception):
    """The run ended while its step ran; the step was stopped."""


async def until_run_ends(deps: EngineDeps, run_seq: int, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, unless run ``run_seq`` ends first: then ``work`` is cancelled and
    :class:`RunEnded` raised."""
    action = asyncio.create_task(work, name=f"run-{run_seq}-step")
    watcher = asyncio.create_task(_ended(deps, run_seq), name=f"run-{run_seq}-watch")
    try:
        await asyncio.wait({action, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_all([watcher, *([] if action.done() else [action])])
    if action.cancelled() and not watcher.cancelled():
        raise RunEnded
    return action.result()


async def _ended(deps: EngineDeps, run_seq: int) -> None:
    """Return once the run has ended: told in this process, or read from the store."""
    event = deps.run_ends.event(run_seq)
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RUN_END_POLL_S):
                await event.wait()
        async with deps.db.connect() as conn:
            run = await run_store.get_run(conn, run_seq)
        if run is None or run.status in run_store.TERMINAL_RUN:
            return
        event.clear()
