"""What one client may cost Medic: time to send a request, connections, body memory, and
memory and time for a large answer.

The numbers come from ``server.*`` (header_timeout, body_timeout, max_connections,
max_inflight_bytes) and :data:`LARGE_ANSWERS`; the app carries them under
:data:`REQUEST_LIMITS` for the server (bot.http.server), for
:func:`bot.http.body.read_body` and for :func:`bot.http.large_answers.large_answer`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import Settings
from bot.http.errors import ErrorCode, HttpError

LARGE_ANSWERS = 4
"""Large answers (an incident's detail, as JSON or as the console's page) built and in
flight at once, all connections together (:mod:`bot.http.large_answers`)."""


class Budget:
    """What every request together may hold at once: bytes of request bodies
    (``server.max_inflight_bytes``), or slots for large answers (:data:`LARGE_ANSWERS`).

    A body reader reserves the body's size (declared, or its endpoint's limit when the
    body is chunked) before reading and gives it back once its handler is done; a large
    answer takes one slot before it is built and gives it back once it is sent. While the
    budget is spent they wait. A share that fits is never held behind a bigger one that
    does not (a Slack click is not queued behind a 10 MiB upload); waiters get in, oldest
    first, as soon as theirs fits. Taking what is free costs no await: most requests
    never wait, and the webhook path runs once per alert delivery."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.reserved = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_take(self, size: int) -> int | None:
        """Take ``size`` (bytes, slots; at most the whole budget) if it is free: what was
        taken, or None."""
        size = min(size, self.total)
        if self.reserved + size > self.total:
            return None
        self.reserved += size
        return size

    async def take(self, size: int) -> int:
        """Take ``size`` (at most the whole budget), waiting in line until it is free; what
        was taken. Cancelled while waiting, it takes nothing."""
        taken = self.try_take(size)
        if taken is not None:
            return taken
        size = min(size, self.total)
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
        """Return what :meth:`take` or :meth:`try_take` took; wake who now fits."""
        self.reserved -= size
        self._grant()

    def _grant(self) -> None:
        still: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        for size, granted in self._waiting:
            if granted.done():  # it gave up (in this very tick)
                continue
            if self.reserved + size > self.total:
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
    budget: Budget = field(compare=False)
    large_answers: Budget = field(compare=False)

    @classmethod
    def of(cls, settings: Settings) -> RequestLimits:
        """The limits ``settings.server`` asks for."""
        server = settings.server
        return cls(
            header_timeout_s=server.header_timeout.total_seconds(),
            body_timeout_s=server.body_timeout.total_seconds(),
            max_connections=server.max_connections,
            budget=Budget(server.max_inflight_bytes),
            large_answers=Budget(LARGE_ANSWERS),
        )


async def take_within(budget: Budget, size: int, wait_s: float, refusal: str) -> int:
    """Take ``size`` of ``budget``, waiting at most ``wait_s`` for it (without an await when
    it is free); what was taken. 503 ``unavailable`` saying ``refusal`` when the wait runs
    out."""
    taken = budget.try_take(size)
    if taken is not None:
        return taken
    try:
        async with asyncio.timeout(wait_s):
            return await budget.take(size)
    except TimeoutError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, refusal) from err


REQUEST_LIMITS = web.AppKey("request_limits", RequestLimits)
