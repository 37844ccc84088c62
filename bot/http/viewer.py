"""Who is looking: the reader of ``GET /api/…`` and ``/ui`` pages.

A reader is identified by, in this order: the trusted auth-proxy header
(``server.trusted_user_header``, when set), ``Authorization: Bearer <token>``, or the web
console's session cookie (a personal token the user signed in with). A personal token
(``server.api_users``) is its user; the bridge token lets a program read but names no one.
With ``server.protect_reads`` a reader nobody vouches for gets 401.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.config.models import ServerConfig
from bot.http.auth import presented_token
from bot.http.errors import ErrorCode, HttpError
from bot.http.identity import match_token
from bot.models import Identity, Via

SESSION_COOKIE = "medic_session"
MAX_USER_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Viewer:
    """A request's reader: ``identity`` when a human is known, ``trusted`` when any valid
    credential (also the bridge token) came with it."""

    identity: Identity | None
    trusted: bool


ANONYMOUS = Viewer(identity=None, trusted=False)


def viewer(request: web.Request, server: ServerConfig) -> Viewer:
    """The reader of ``request`` (anonymous when nothing valid came with it)."""
    header = server.trusted_user_header
    if header is not None:
        user = request.headers.get(header, "").strip()
        if user and len(user) <= MAX_USER_LENGTH:
            return Viewer(Identity(user, Via.BRIDGE), trusted=True)
    token = presented_token(request) or request.cookies.get(SESSION_COOKIE)
    if not token:
        return ANONYMOUS
    credential = match_token(server, token)
    if credential is None:
        return ANONYMOUS
    if credential.user is None:
        return Viewer(identity=None, trusted=True)
    return Viewer(Identity(credential.user, Via.API_USER), trusted=True)


def require_reader(request: web.Request, server: ServerConfig) -> Viewer:
    """The reader; 401 when ``server.protect_reads`` is on and nobody vouches for them."""
    found = viewer(request, server)
    if server.protect_reads and not found.trusted:
        raise HttpError(
            ErrorCode.UNAUTHORIZED,
            "server.protect_reads is on: send Authorization: Bearer <token>",
        )
    return found
