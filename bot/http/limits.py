"""What one client may cost Medic: time to send a request, connections, body memory.

The numbers come from ``server.*`` (header_timeout, body_timeout, max_connections,
max_inflight_bytes); the app carries them under :data:`REQUEST_LIMITS` for the server
(bot.http.server) and for :func:`bot.http.body.read_body`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Settings


class BodyBudget:
    """Bytes of request bodies held at once by every request together.

    A reader reserves the body's size (declared, or its endpoint's limit when the body is
    chunked) before reading and gives it back once its handler is done; while the budget
    is spent it waits."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.reserved = 0
        self._freed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes of the budget for the block (waits until they are free)."""
        size = min(size, self.max_bytes)
        async with self._freed:
            await self._freed.wait_for(lambda: self.reserved + size <= self.max_bytes)
            self.reserved += size
        try:
            yield
        finally:
            async with self._freed:
                self.reserved -= size
                self._freed.notify_all()


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
