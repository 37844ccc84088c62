"""Poll a condition until it holds: the only way tests wait for another process."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

POLL_INTERVAL = 0.02

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Call ``predicate`` every 20 ms until it returns something truthy, and return that.

    Raises ``AssertionError`` naming ``what`` (and the last value seen) when
    ``timeout`` seconds pass first. Exceptions from ``predicate`` propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last value: {value!r}"
            )
        time.sleep(POLL_INTERVAL)


async def eventually(predicate: Callable[[], Awaitable[T]], within: float, what: str) -> T:
    """:func:`wait_until` for async predicates: the event loop stays free between polls (so
    servers on it keep answering)."""
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {within:g} s waiting for {what}; last value: {value!r}"
            )
        await asyncio.sleep(POLL_INTERVAL)
