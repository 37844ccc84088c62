"""Large answers: a few at a time, each sent as its client reads it, within a deadline.

An alert storm makes incidents with thousands of alerts, whose detail (as JSON or as the
console's page) is megabytes. Built whole and handed to the transport, such an answer
stays in memory for as long as its client takes to read it, forever for a client that
does not read; and many built at once starve the event loop and the store's connection
pool. So an answer built under :func:`large_answer`:

- waits for one of :data:`~bot.http.limits.LARGE_ANSWERS` slots before it is built, at
  most ``server.header_timeout``; without one it is a 503 ``unavailable`` (to retry);
- goes out a chunk at a time, each once the transport has drained the ones before (the
  client reads), the whole body within ``server.body_timeout``; a client that reads
  slower is cut off: its connection is reset, whatever it did not read is dropped;
- keeps its slot until the body is sent or the client is cut off.

Memory for large answers is thus bounded by the slots times the largest answer; status,
headers and body are the handler's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Final

import structlog
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from bot.http.limits import REQUEST_LIMITS, Budget, take_within

log = structlog.get_logger(__name__)

CHUNK_BYTES: Final = 64 * 1024
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends a reset


class LargeAnswer:
    """One slot for a large answer, from before it is built until it is sent.

    ``async with large_answer(request) as answer:`` takes the slot (or raises the 503);
    ``return answer.paced(response)`` hands the slot to the response, whose body then
    gives it back once sent. Leaving the block any other way gives it back at once."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._slots: Budget | None = None
        self._handed_over = False

    async def __aenter__(self) -> LargeAnswer:
        """Wait (``server.header_timeout``) for a slot; 503 ``unavailable`` without one."""
        limits = self._request.app[REQUEST_LIMITS]
        await take_within(
            limits.large_answers,
            1,
            limits.header_timeout_s,
            "too many large reads in flight; retry",
        )
        self._slots = limits.large_answers
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Give the slot back unless a response took it."""
        if self._slots is not None and not self._handed_over:
            self._slots.give_back(1)

    def paced(self, response: web.Response) -> web.Response:
        """``response`` (not yet sent) with its body sent paced, holding this slot until it
        is sent or its client is cut off. A response without a body in bytes is returned
        as it is (and the slot given back on leaving the block)."""
        body = response.body
        if (
            self._slots is None
            or not isinstance(body, bytes)
            or _without_body(self._request, response)
        ):
            return response
        limits = self._request.app[REQUEST_LIMITS]
        response.body = PacedBody(
            body,
            within_s=limits.body_timeout_s,
            transport=self._request.transport,
            path=self._request.path,
            slots=self._slots,
        )
        self._handed_over = True
        return response


def _without_body(request: web.Request, response: web.Response) -> bool:
    """Whether HTTP sends ``response`` without its body (aiohttp then never writes it): an
    answer to ``HEAD`` (aiohttp answers HEAD on every GET route), or a status without one."""
    return request.method == "HEAD" or response.status in (204, 304) or response.status < 200


async def release_unsent(response: web.StreamResponse | None) -> None:
    """Give back the slot of a large answer whose body was not sent (the server calls this
    once every answer is finished, whatever happened: a body never written holds its slot
    otherwise). Nothing for any other answer, or one whose body gave it back already."""
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, PacedBody):
        await body.close()


def large_answer(request: web.Request) -> LargeAnswer:
    """A slot for the large answer to ``request``: ``async with large_answer(request) as
    answer: ... return answer.paced(response)``."""
    return LargeAnswer(request)


class PacedBody(Payload):
    """A body already built, written a chunk at a time as the client takes it, within a
    deadline; it holds one slot of ``slots`` until it is closed (sent, or cut off)."""

    def __init__(
        self,
        body: bytes,
        *,
        within_s: float,
        transport: asyncio.Transport | None,
        path: str,
        slots: Budget,
    ) -> None:
        super().__init__(body)
        self._body = body
        self._size = len(body)
        self._within_s = within_s
        self._transport = transport
        self._path = path
        self._slots: Budget | None = slots

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The body as text."""
        return self._body.decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        """Write the body a chunk at a time, each once the transport drained the ones before;
        when that takes longer than the deadline, cut the client off (ConnectionResetError,
        which aiohttp takes for a client that went away)."""
        sent = 0
        try:
            async with asyncio.timeout(self._within_s):
                view = memoryview(self._body)
                while sent < len(view):
                    chunk = view[sent : sent + CHUNK_BYTES]
                    await writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
        except TimeoutError:
            self._cut_off(sent)
            raise ConnectionResetError("the client did not read the answer in time") from None

    async def close(self) -> None:
        """The body is sent, or its client cut off or gone: give the slot back (once)."""
        if self._slots is not None:
            self._slots.give_back(1)
            self._slots = None
        await super().close()

    def _cut_off(self, sent: int) -> None:
        """Reset the connection: nothing more is kept for it, here or in the kernel."""
        log.info(
            "http.answer_cut",
            path=self._path,
            seconds=self._within_s,
            sent_bytes=sent,
            body_bytes=self._size,
            reason="the client did not read the answer within server.body_timeout",
        )
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        transport.abort()
