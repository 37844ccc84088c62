"""The console's session: who is signed in, and CSRF protection for its forms.

Signing in stores the user's personal token in an HttpOnly, SameSite=Strict cookie (the
token is the identity, as on the API); a trusted auth-proxy header needs no sign-in.
Every form carries a CSRF token that must equal the ``medic_csrf`` cookie (double submit),
and a cross-site ``Origin`` is refused.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from bot.http.errors import ErrorCode, HttpError
from bot.http.viewer import SESSION_COOKIE

CSRF_COOKIE = "medic_csrf"
CSRF_FIELD = "csrf"
COOKIE_PATH = "/"
SESSION_MAX_AGE_S = 12 * 3600


def csrf_token(request: web.Request) -> str:
    """The CSRF token of this browser: its cookie's, or a new one (see :func:`keep_csrf`)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    return existing if len(existing) >= 32 else secrets.token_urlsafe(32)


def keep_csrf(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Set the CSRF cookie when the browser does not have this token yet."""
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            path=COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )


def check_csrf(request: web.Request, submitted: str) -> None:
    """403 unless the form's token equals the cookie's and the request is not cross-site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.host:
        raise HttpError(ErrorCode.FORBIDDEN, f"cross-site request from {origin} refused")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise HttpError(
            ErrorCode.FORBIDDEN, "the form's CSRF token is missing or stale; reload the page"
        )


def sign_in(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    """Remember the personal token in the session cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=SESSION_MAX_AGE_S,
    )


def sign_out(response: web.StreamResponse) -> None:
    """Forget the session."""
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
