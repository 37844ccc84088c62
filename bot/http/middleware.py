"""Cross-cutting concerns wrap every handler: request ids and log context, JSON errors."""

from __future__ import annotations

import asyncio
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.http.disconnects import client_gone
from bot.http.errors import ErrorCode, HttpError

log = structlog.get_logger("bot.http")

REQUEST_ID_HEADER = "X-Request-Id"
_AIOHTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id (the caller's ``X-Request-Id`` or a new one) for every log line."""
    request_id = request.headers.get(REQUEST_ID_HEADER, "")[:64] or uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request_id
    # Successful requests are counted in /metrics; one info line each would flood the logs
    # during an alert storm. Refusals and errors stay visible.
    emit = log.debug if response.status < 400 else log.info
    emit(
        "http.request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error in the JSON error shape; a client that went away gets no answer
    (and no error line): one info line ``http.client_gone``, and the exception goes on to
    the server, which closes the connection quietly."""
    try:
        return await handler(request)
    except HttpError as err:
        return err.response()
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code = _AIOHTTP_CODES.get(err.status, ErrorCode.INVALID_PAYLOAD)
        response = HttpError(code, err.reason, status=err.status).response()
        if "Allow" in err.headers:  # a 405 names the methods the path takes
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except asyncio.CancelledError as err:
        if client_gone(request, err):
            _log_client_gone(request, err)
        raise
    except Exception as err:  # last resort: answer in the contract's shape, keep the traceback
        if client_gone(request, err):
            _log_client_gone(request, err)
            raise
        log.exception("http.unhandled", method=request.method, path=request.path)
        return HttpError(ErrorCode.INTERNAL, "unexpected error; see the server log").response()


def _log_client_gone(request: web.Request, err: BaseException) -> None:
    """One info line for a request whose client left before its answer was complete."""
    log.info(
        "http.client_gone", method=request.method, path=request.path, reason=type(err).__name__
    )
