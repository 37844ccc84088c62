"""Read a request body within the size limit and parse it into a pydantic model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.http.errors import ErrorCode, HttpError

ModelT = TypeVar("ModelT", bound=BaseModel)
_MAX_REPORTED_ERRORS = 5


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body; 413 when it is over ``limit`` (declared or actual)."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(
            ErrorCode.TOO_LARGE, f"body of {request.content_length} bytes is over {limit} bytes"
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise HttpError(ErrorCode.TOO_LARGE, f"body is over {limit} bytes") from err


def parse_json(body: bytes) -> Any:
    """Decode JSON; 400 ``invalid_json`` with the position of the problem."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as err:
        raise HttpError(ErrorCode.INVALID_JSON, f"body is not UTF-8: {err.reason}") from err
    except json.JSONDecodeError as err:
        raise HttpError(
            ErrorCode.INVALID_JSON, f"{err.msg} at line {err.lineno} column {err.colno}"
        ) from err


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate into ``model``; 400 ``invalid_payload`` naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{_field(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors(include_url=False, include_input=False)
        ]
        more = len(problems) - _MAX_REPORTED_ERRORS
        detail = "; ".join(problems[:_MAX_REPORTED_ERRORS])
        if more > 0:
            detail += f"; and {more} more"
        raise HttpError(ErrorCode.INVALID_PAYLOAD, detail) from err


def validate_json(model: type[ModelT], body: bytes) -> ModelT:
    """Parse and validate in one pass (pydantic-core); 400 ``invalid_json`` when the body
    is not JSON, ``invalid_payload`` naming each bad field otherwise."""
    if b"\\u0000" in body or b"\x00" in body:
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD, "<body>: NUL characters are not accepted (not storable)"
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        errors = err.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise HttpError(ErrorCode.INVALID_JSON, errors[0]["msg"]) from err
    return validate(model, parse_json(body))


def _field(loc: tuple[int | str, ...]) -> str:
    """``alerts.0.startsAt`` from pydantic's location tuple."""
    return ".".join(str(part) for part in loc) or "<body>"
