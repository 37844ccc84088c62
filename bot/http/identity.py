"""Who is calling: the bearer token of a human API request resolved to an :class:`Identity`.

Two kinds of token (``server``):
- ``api_users`` ``{user id: token}``: a personal token *is* its user. A ``user`` named in the
  request must equal it (else 403); it may be omitted.
- ``api_token``: the bridge token of a trusted SSO proxy or chat bridge that authenticated
  the human itself and names them in ``user`` (required).

Tokens are compared in constant time, every configured one each time, so the answer's timing
does not tell which token (or user) came close. Reusable by every surface that takes human
decisions over HTTP (the decision API, the web console).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from bot.config.models import ServerConfig
from bot.http.auth import header_bytes, presented_token
from bot.http.errors import ErrorCode, HttpError
from bot.models import Identity, Via


@dataclass(frozen=True, slots=True)
class Credential:
    """A valid token: a personal one (``user`` set) or the bridge token (``user`` None)."""

    user: str | None

    @property
    def via(self) -> Via:
        """How decisions made with this token arrive."""
        return Via.BRIDGE if self.user is None else Via.API_USER


def human_tokens_configured(server: ServerConfig) -> bool:
    """Whether any token lets a human act over HTTP (else the decision API does not exist)."""
    return server.api_token is not None or bool(server.api_users)


def match_token(server: ServerConfig, presented: str) -> Credential | None:
    """The credential ``presented`` is, or None. Every configured token is compared."""
    given = header_bytes(presented)
    found: Credential | None = None
    for user, token in server.api_users.items():
        if hmac.compare_digest(given, token.get_secret_value().encode()):
            found = Credential(user)
    bridge = server.api_token
    if bridge is not None and hmac.compare_digest(given, bridge.get_secret_value().encode()):
        found = found or Credential(None)
    return found


def authenticate(request: web.Request, server: ServerConfig) -> Credential:
    """The request's credential; 404 when no human token is configured, 401 when the
    request has none or a wrong one."""
    if not human_tokens_configured(server):
        raise HttpError(
            ErrorCode.NOT_FOUND,
            "the decision API is off: neither server.api_users nor server.api_token is set",
        )
    presented = presented_token(request)
    if presented is None:
        raise HttpError(ErrorCode.UNAUTHORIZED, "missing Authorization: Bearer <token>")
    credential = match_token(server, presented)
    if credential is None:
        raise HttpError(ErrorCode.UNAUTHORIZED, "the presented token does not match")
    return credential


def identify(credential: Credential, claimed: str | None) -> Identity:
    """Who acts: a personal token's user (403 when ``claimed`` names someone else); the
    bridge's named user (400 when it names nobody)."""
    if credential.user is not None:
        if claimed is not None and claimed != credential.user:
            raise HttpError(
                ErrorCode.FORBIDDEN,
                f"this token belongs to {credential.user}; it cannot act as {claimed}",
            )
        return Identity(credential.user, Via.API_USER)
    if claimed is None:
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD,
            "user: required with the bridge token (server.api_token names no one)",
        )
    return Identity(claimed, Via.BRIDGE)


def request_identity(request: web.Request, server: ServerConfig, claimed: str | None) -> Identity:
    """:func:`authenticate` then :func:`identify`."""
    return identify(authenticate(request, server), claimed)
