"""Read a request body within the size limit and parse it into a pydantic model."""

from __future__ import annotations

import asyncio
from typing import Any, Final, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, from_json

from bot.http.errors import ErrorCode, HttpError
from bot.http.limits import REQUEST_LIMITS, Budget, take_within
from bot.http.text import unstorable

ModelT = TypeVar("ModelT", bound=BaseModel)
_MAX_REPORTED_ERRORS = 5
_NUL_ESCAPE = b"\\u0000"
NUL_FREE: Final = {"nul_free": True}
"""Validation context of a body :func:`validate_json` found free of NUL characters."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, read within ``server.body_timeout`` and the in-flight budget.

    413 when it is over ``limit`` (declared, or once that much arrived: nothing past the
    limit is kept); 408 when it does not arrive within ``server.body_timeout``; 503 when
    the bodies of other requests fill ``server.max_inflight_bytes`` for longer than
    ``server.header_timeout``; 400 when its framing is broken. The budget is held until
    the handler is done (:func:`release_bodies`)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise HttpError(ErrorCode.TOO_LARGE, f"body of {declared} bytes is over {limit} bytes")
    limits = request.app[REQUEST_LIMITS]
    wanted = limit if declared is None else declared
    taken = await take_within(
        limits.budget,
        wanted,
        limits.header_timeout_s,
        "too many request bodies in flight (server.max_inflight_bytes); retry",
    )
    request[HELD_BODIES].hold(limits.budget, taken)
    if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
        return _buffered(request.content, limit)
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            return await _read_within(request, limit)
    except TimeoutError as err:
        raise HttpError(
            ErrorCode.TIMEOUT,
            f"the body did not arrive within {limits.body_timeout_s:g} s (server.body_timeout)",
        ) from err


def _buffered(content: StreamReader, limit: int) -> bytes:
    try:
        body = content.read_nowait()
    except (HttpProcessingError, RequestPayloadError) as err:
        raise _unreadable(err) from err
    if len(body) > limit:
        raise HttpError(ErrorCode.TOO_LARGE, f"body is over {limit} bytes")
    return body


async def _read_within(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise HttpError(ErrorCode.TOO_LARGE, f"body is over {limit} bytes")
            chunks.append(chunk)
    except (HttpProcessingError, RequestPayloadError) as err:
        raise _unreadable(err) from err
    return b"".join(chunks)


def _unreadable(err: HttpProcessingError | RequestPayloadError) -> HttpError:
    """400 for a body aiohttp could not read: broken framing, or a body not in its declared
    ``Content-Encoding`` (aiohttp wraps that one in :class:`RequestPayloadError`)."""
    if isinstance(err, HttpProcessingError):
        return HttpError(
            ErrorCode.INVALID_PAYLOAD, f"the body is not valid HTTP framing: {err.message}"
        )
    return HttpError(ErrorCode.INVALID_PAYLOAD, f"the body cannot be read: {err}", closes=True)


class HeldBodies:
    """The body budget one request holds, given back when its handler is done."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: list[tuple[Budget, int]] = []

    def hold(self, budget: Budget, size: int) -> None:
        """Keep ``size`` bytes of ``budget`` until :meth:`release`."""
        self._held.append((budget, size))

    def release(self) -> None:
        """Give back everything held."""
        while self._held:
            budget, size = self._held.pop()
            budget.give_back(size)


@web.middleware
async def release_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the body budget that :func:`read_body` took back once the handler is done."""
    held = request[HELD_BODIES] = HeldBodies()
    try:
        return await handler(request)
    finally:
        held.release()


HELD_BODIES = web.RequestKey("held_bodies", HeldBodies)


def validate_json(model: type[ModelT], body: bytes) -> ModelT:
    """Parse and validate in one pass (pydantic-core, strict: no coercion of wrong types);
    400 ``invalid_json`` when the body is not JSON, ``invalid_payload`` naming each bad
    field otherwise (a NUL character anywhere, which no store can keep, included)."""
    if _NUL_ESCAPE in body:  # the only way JSON can spell NUL; rare, so checked precisely
        _refuse_nul(body)
    try:
        # (a raw NUL byte is not JSON at all) so the model need not look for NULs again
        return model.model_validate_json(body, strict=True, context=NUL_FREE)
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise HttpError(ErrorCode.INVALID_JSON, errors[0]["msg"]) from err
        raise HttpError(ErrorCode.INVALID_PAYLOAD, _problems(errors)) from err


def _refuse_nul(body: bytes) -> None:
    """400 naming the first string (key or value) no store can keep, if any."""
    try:
        # pydantic-core's parser, as validation's: its nesting limit keeps this from
        # recursing past Python's (json.loads did: a RecursionError, a 500)
        data = from_json(body)
    except ValueError:
        return  # not JSON (or too deeply nested, or a lone surrogate): validation says so
    found = _unstorable_path(data, ())
    if found is not None:
        where, reason = found
        raise HttpError(ErrorCode.INVALID_PAYLOAD, f"{_field(where)}: {reason}")


Found = tuple[tuple[int | str, ...], str]


def _unstorable_path(value: Any, path: tuple[int | str, ...]) -> Found | None:
    """Where the first string no store can keep is (key or value), and why."""
    if isinstance(value, str):
        reason = unstorable(value)
        return None if reason is None else (path, reason)
    items: list[tuple[int | str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            reason = unstorable(key)
            if reason is not None:
                return (*path, key), reason
            items.append((key, item))
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        found = _unstorable_path(item, (*path, key))
        if found is not None:
            return found
    return None


def problems(err: ValidationError) -> str:
    """``field: reason; …`` naming each thing ``err`` found wrong (the first few)."""
    return _problems(err.errors(include_url=False, include_input=False))


def _problems(errors: list[ErrorDetails]) -> str:
    """``field: reason; …`` for the first few errors, and how many more there are."""
    problems = [f"{_field(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors]
    more = len(problems) - _MAX_REPORTED_ERRORS
    detail = "; ".join(problems[:_MAX_REPORTED_ERRORS])
    if more > 0:
        detail += f"; and {more} more"
    return detail


def _field(loc: tuple[int | str, ...]) -> str:
    """``alerts.0.startsAt`` from pydantic's location tuple."""
    return ".".join(str(part) for part in loc) or "<body>"
