"""The JSON error shape: ``{"error": "<code>", "detail": "<what and where>"}``."""

from __future__ import annotations

from enum import StrEnum

from aiohttp import web
from pydantic import BaseModel, Field

from bot.errors import MedicError


class ErrorCode(StrEnum):
    """Every error code the API answers with."""

    INVALID_JSON = "invalid_json"
    INVALID_PAYLOAD = "invalid_payload"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


_STATUS = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_PAYLOAD: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TIMEOUT: 408,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}


class ErrorBody(BaseModel):
    """Every error answer: a machine-readable code and what went wrong, where."""

    error: ErrorCode
    detail: str = Field(description="what went wrong and where")


# Answers given before (all of) the body was read: the connection is closed after them.
_CLOSES = frozenset({408, 413})


class HttpError(MedicError):
    """Raised by handlers; the error middleware turns it into the JSON error response."""

    def __init__(
        self, code: ErrorCode, detail: str, *, status: int | None = None, closes: bool = False
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status if status is not None else _STATUS[code]
        self.closes = closes or self.status in _CLOSES

    def response(self) -> web.Response:
        """The JSON response for this error."""
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        body = ErrorBody(error=self.code, detail=self.detail)
        response = web.json_response(
            text=body.model_dump_json(), status=self.status, headers=headers
        )
        if self.closes:
            response.force_close()  # the body was not read (whole): do not reuse the connection
        return response
