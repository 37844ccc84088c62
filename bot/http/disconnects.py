"""Telling a client that went away from a server error.

A handler whose client left sees a connection error (reading the rest of a body, writing
an answer or the next event of a stream) or, for a stream, a cancellation. Nobody is left
to answer, and nothing went wrong on Medic's side: such an ending is one info line, not an
``http.unhandled`` error with a traceback and a 500.
"""

from __future__ import annotations

import asyncio

from aiohttp import ClientConnectionError, web
from aiohttp.web_protocol import RequestHandler

# What a handler sees when its client's connection closes under it (aiohttp's
# ClientConnectionResetError is both of the first two).
CLIENT_GONE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    ClientConnectionError,
    asyncio.CancelledError,
)


def connection_closed(protocol: RequestHandler | None) -> bool:
    """The client's connection is closed or closing."""
    transport = None if protocol is None else protocol.transport
    return transport is None or transport.is_closing()


def client_gone(request: web.BaseRequest, exc: BaseException) -> bool:
    """``exc`` ended the handler of ``request`` because its client went away: a connection
    error or cancellation while the client's connection is closed. The same errors while
    the client is still there (say, from a call Medic makes to another service) are not."""
    return isinstance(exc, CLIENT_GONE_ERRORS) and connection_closed(request.protocol)
