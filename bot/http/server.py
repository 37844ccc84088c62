"""The HTTP server under Medic's app: header timeout, connection cap, JSON framing errors.

aiohttp's own server waits for a request head as long as the client likes, takes every
connection offered and answers broken framing in plain text. Medic's server (the same
aiohttp server with its connection class swapped) differs in three ways:

- a connection must deliver a whole request head within ``server.header_timeout`` of
  opening or of its first byte after a previous request; otherwise it gets a 408 in the
  JSON error shape and is closed (``server.body_timeout`` for bodies is in
  :func:`bot.http.body.read_body`);
- at most ``server.max_connections`` connections are open: at the cap a new connection
  pushes out the oldest one that is not inside a request (idle, or still sending its
  head) or that carries a long-lived stream (``GET /ui/events``, see
  :func:`stream_started`), so health checks and real senders get in while slow clients
  and open consoles hold on; when every connection is busy in a request, the new one gets
  a 503 and is closed;
- framing errors (bad chunking, bad Content-Length, a broken request line) answer 400 in
  the JSON error shape, like every other refusal.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import structlog
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from bot.http.disconnects import client_gone
from bot.http.errors import ErrorCode, HttpError
from bot.http.large_answers import release_unsent
from bot.http.limits import REQUEST_LIMITS, RequestLimits

log = structlog.get_logger(__name__)

# After an early answer (401, 413, 408) aiohttp reads and drops the rest of the body for a
# while, so the client sees the answer rather than a reset; not for long.
LINGERING_S = 2.0
# An idle keep-alive connection is closed after this (aiohttp's default is an hour).
KEEPALIVE_S = 75.0


def raw_error(code: ErrorCode, detail: str, status: int) -> bytes:
    """A whole HTTP/1.1 error response in the JSON shape, for a connection that never got
    as far as a request."""
    body = json.dumps({"error": code.value, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


class ConnectionCap:
    """The open connections, oldest first, and the rule for the one over the cap.

    A connection that streams (Server-Sent Events) counts like an idle one here: it may be
    pushed out. Anyone may open streams (reads are not protected by default) and keep them
    open for ever; were they "inside a request", a few hundred would hold every place and
    ``/healthz`` and Alertmanager would get 503s. A browser's EventSource reconnects by
    itself (after ``retry``, asking for what it missed with ``Last-Event-ID``), so pushing
    a stream out costs a console a reconnect, nothing more. A separate, smaller cap for
    streams would need a setting and would still let streams refuse each other; this rule
    needs neither and guarantees that a new connection always gets in unless that many
    connections are really busy in requests.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[GuardedConnection, None] = {}

    def admit(self, connection: GuardedConnection) -> bool:
        """Count ``connection`` in; at the cap push out the oldest one outside a request.
        False when every open connection is inside a request (the new one must go)."""
        if len(self._open) >= self.limit:
            victim = next((c for c in self._open if c.may_be_pushed_out), None)
            if victim is None:
                return False
            self.release(victim)
            victim.push_out()
        self._open[connection] = None
        return True

    def release(self, connection: GuardedConnection) -> None:
        """``connection`` is closed."""
        self._open.pop(connection, None)

    def __len__(self) -> int:
        return len(self._open)


class GuardedConnection(RequestHandler):
    """One client connection with a deadline for each request head and a place under the
    connection cap."""

    def __init__(
        self, manager: web.Server, *, limits: RequestLimits, cap: ConnectionCap, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._cap = cap
        self._head_deadline: asyncio.TimerHandle | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self.in_request = False

    @property
    def may_be_pushed_out(self) -> bool:
        """Outside a request, or streaming (the cap may close it to make room)."""
        return not self.in_request or self._stream_task is not None

    def streaming(self, task: asyncio.Task[None]) -> None:
        """The answer under way is a long-lived stream, served by ``task``: the connection
        may be pushed out, and once it closes (client gone or pushed out) ``task`` is
        cancelled rather than left waiting for its next write."""
        self._stream_task = task

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit under the cap (or refuse with 503) and start waiting for a head."""
        super().connection_made(transport)
        if not self._cap.admit(self):
            log.info("http.connection_refused", reason="cap", max_connections=self._cap.limit)
            self._answer_and_close(
                raw_error(
                    ErrorCode.UNAVAILABLE,
                    f"too many connections (server.max_connections={self._cap.limit}); retry",
                    503,
                )
            )
            return
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        """The first byte of a new request starts its head's deadline."""
        if not self.in_request and self._head_deadline is None:
            self._arm_head_deadline()
        super().data_received(data)

    def request_started(self) -> None:
        """A whole head arrived: the handler runs (the body has its own timeout)."""
        self.in_request = True
        self._disarm_head_deadline()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """The request is answered: the connection waits for another head (or idles)."""
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self.in_request = False
            self._stream_task = None
            await release_unsent(resp)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Leave the cap's count; end a stream's handler (nobody is listening)."""
        self._disarm_head_deadline()
        self._cap.release(self)
        super().connection_lost(exc)
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None

    def close(self) -> None:
        """Close once the request under way is answered (aiohttp's rule, used when the
        server shuts down); a stream is never answered whole, so its handler ends now:
        an open console tab must not hold a shutdown for aiohttp's 60 s."""
        super().close()
        if self._stream_task is not None:
            self._stream_task.cancel()

    def push_out(self) -> None:
        """Make room for a new connection: close this one (outside a request, or a stream
        whose handler then ends)."""
        log.info(
            "http.connection_pushed_out",
            max_connections=self._cap.limit,
            streaming=self._stream_task is not None,
        )
        self._disarm_head_deadline()
        if self.transport is not None:
            self.transport.close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's refusals (framing errors) in the JSON error shape; the connection closes.

        No answer when the client went away (the app logged that) or when one is on its way
        already: the connection just closes."""
        if exc is not None and client_gone(request, exc):
            raise ConnectionError("the client went away")
        if request.writer.output_size > 0:  # an answer is on its way already: nothing to add
            raise ConnectionError("an answer was sent already; the connection is broken")
        if status >= 500:
            log.error("http.server_error", status=status, exc_info=exc)
            detail = "unexpected error; see the server log"
            error = HttpError(ErrorCode.INTERNAL, detail, status=status)
        else:
            reason = message or getattr(exc, "message", "") or "unreadable"
            log.info("http.malformed_request", status=status, reason=reason)
            detail = f"malformed HTTP request: {reason}"
            error = HttpError(ErrorCode.INVALID_PAYLOAD, detail, status=status)
        response = error.response()
        response.force_close()
        return response

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = asyncio.get_running_loop().call_later(
            self._limits.header_timeout_s, self._head_timed_out
        )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.in_request:
            return
        log.info("http.header_timeout", seconds=self._limits.header_timeout_s)
        self._answer_and_close(
            raw_error(
                ErrorCode.TIMEOUT,
                f"no whole request head within {self._limits.header_timeout_s:g} s",
                408,
            )
        )

    def _answer_and_close(self, answer: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        assert isinstance(transport, asyncio.WriteTransport)  # noqa: S101 -- a TCP transport
        transport.write(answer)
        transport.close()


def stream_started(request: web.BaseRequest) -> None:
    """The answer to ``request`` is a long-lived stream that has started (headers sent):
    under the connection cap its connection no longer counts as inside a request, so it
    may be pushed out to make room, and when its connection closes the handler is
    cancelled (see :class:`ConnectionCap`). Nothing to do on a server other than Medic's."""
    protocol = request.protocol
    if isinstance(protocol, GuardedConnection):
        protocol.streaming(request.task)


class GuardedServer(web.Server):
    """aiohttp's low-level server making :class:`GuardedConnection` connections."""

    def __init__(self, plain: web.Server, limits: RequestLimits) -> None:
        self._plain_factory = plain.request_factory
        # The same handler, loop and handler settings as the server it stands in for.
        super().__init__(
            plain.request_handler,
            request_factory=self._request_started,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
        self._limits = limits
        self.cap = ConnectionCap(limits.max_connections)

    def _request_started(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        if isinstance(protocol, GuardedConnection):
            protocol.request_started()
        return self._plain_factory(message, payload, protocol, writer, task)

    def __call__(self) -> RequestHandler:
        """A new connection."""
        return GuardedConnection(
            self, limits=self._limits, cap=self.cap, loop=self._loop, **self._kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` serving the app with :class:`GuardedServer` (the limits are the
    app's :data:`REQUEST_LIMITS`)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        # A handler runs to its end when its client leaves (an intake is not cut off
        # halfway; a client's leaving shows as a connection error where it matters), as
        # with ``medic serve``; aiohttp's test server would cancel it. Streams are the
        # exception: :class:`GuardedConnection` cancels their handlers.
        kwargs["handler_cancellation"] = False
        kwargs.setdefault("lingering_time", LINGERING_S)
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_S)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(plain, self.app[REQUEST_LIMITS])


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT, then shut down cleanly.

    The signal only ends the wait: the app's cleanup (which lets intake take what was
    acknowledged) runs while every other task still runs, before the loop closes.
    """
    runner = GuardedAppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def run(app: web.Application, host: str, port: int) -> None:
    """Run :func:`serve` on a new event loop (``medic serve``)."""
    asyncio.run(serve(app, host, port))
