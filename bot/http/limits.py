"""What one client may cost Medic: time to send a request, connections, body memory.

The numbers come from ``server.*`` (header_timeout, body_timeout, max_connections,
max_inflight_bytes); the app carries them under :data:`REQUEST_LIMITS` for the server
(bot.http.server) and for :func:`bot.http.body.read_body`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Settings


class BodyBudget:
    """Bytes of request bodies held at once by every request together.

    A reader reserves the body's size (declared, or its endpoint's limit when the body is
    chunked) before reading and gives it back once its handler is done; while the budget
    is spent it waits. A body that fits is never held behind a bigger one that does not
    (a Slack click is not queued behind a 10 MiB upload); waiters get in, oldest first,
    as soon as theirs fits. Taking what is free costs no await: most requests never
    wait, and the webhook path runs once per alert delivery."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.reserved = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_take(self, size: int) -> int | None:
        """Take ``size`` bytes (at most the whole budget) if they are free: the bytes
        taken, or None."""
        size = min(size, self.max_bytes)
        if self.reserved + size > self.max_bytes:
            return None
        self.reserved += size
        return size

    async def take(self, size: int) -> int:
        """Take ``size`` bytes (at most the whole budget), waiting in line until they are
        free; the bytes taken. Cancelled while waiting, it takes nothing."""
        taken = self.try_take(size)
        if taken is not None:
            return taken
        size = min(size, self.max_bytes)
        granted = asyncio.get_running_loop().create_future()
        entry = (size, granted)
        self._waiting.append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.give_back(size)  # granted just as the caller gave up
            else:
                with contextlib.suppress(ValueError):  # unless a grant dropped it already
                    self._waiting.remove(entry)
                self._grant()  # a smaller request behind it may fit now
            raise
        return size

    def give_back(self, size: int) -> None:
        """Return bytes taken by :meth:`take` or :meth:`try_take`; wake who now fits."""
        self.reserved -= size
        self._grant()

    def _grant(self) -> None:
        still: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        for size, granted in self._waiting:
            if granted.done():  # it gave up (in this very tick)
                continue
            if self.reserved + size > self.max_bytes:
                still.append((size, granted))
                continue
            self.reserved += size
            granted.set_result(None)
        self._waiting = still


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The server's limits on one Medic app."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    budget: BodyBudget = field(compare=False)

    @classmethod
    def of(cls, settings: Settings) -> RequestLimits:
        """The limits ``settings.server`` asks for."""
        server = settings.server
        return cls(
            header_timeout_s=server.header_timeout.total_seconds(),
            body_timeout_s=server.body_timeout.total_seconds(),
            max_connections=server.max_connections,
            budget=BodyBudget(server.max_inflight_bytes),
        )


REQUEST_LIMITS = web.AppKey("request_limits", RequestLimits)
