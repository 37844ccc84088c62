"""Bearer-token checks, compared in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from bot.http.errors import ErrorCode, HttpError


def require_bearer(request: web.Request, token: SecretStr | None) -> None:
    """Raise 401 unless ``Authorization: Bearer <token>`` matches (no token configured = open)."""
    if token is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise HttpError(
            ErrorCode.UNAUTHORIZED, "missing Authorization header with the configured token"
        )
    if not hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode()):
        raise HttpError(ErrorCode.UNAUTHORIZED, "the presented token does not match")
