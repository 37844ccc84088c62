"""Bearer-token checks, compared in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from bot.http.errors import ErrorCode, HttpError


def presented_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    return presented if scheme.lower() == "bearer" and presented else None


def require_bearer(request: web.Request, token: SecretStr | None) -> None:
    """Raise 401 unless ``Authorization: Bearer <token>`` matches (no token configured = open)."""
    if token is None:
        return
    presented = presented_token(request)
    if presented is None:
        raise HttpError(
            ErrorCode.UNAUTHORIZED, "missing Authorization header with the configured token"
        )
    if not hmac.compare_digest(header_bytes(presented), token.get_secret_value().encode()):
        raise HttpError(ErrorCode.UNAUTHORIZED, "the presented token does not match")


def header_bytes(value: str) -> bytes:
    """A header value as the bytes that arrived (aiohttp decodes them as UTF-8 with
    surrogate escapes, so bytes that are not UTF-8 survive), for constant-time comparison."""
    return value.encode("utf-8", "surrogateescape")
