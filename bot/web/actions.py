"""The console's forms: approve / reject, pause / resume, sign in / out.

Decisions go through the same services and rules as Slack and the API (authorized users,
four eyes, first valid decision wins), as the signed-in user; a refusal is shown on the
incident page with its reason.
"""

from __future__ import annotations

from typing import Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.engine.approvals.hub import Decision
from bot.errors import DecisionRefused, StoreError
from bot.http.body import read_body
from bot.http.errors import ErrorCode, HttpError
from bot.http.identity import match_token
from bot.http.viewer import viewer
from bot.models import Identity
from bot.runtime import RUNTIME
from bot.web.pages import Notice, render_incident
from bot.web.render import page
from bot.web.session import CSRF_FIELD, check_csrf, csrf_token, keep_csrf, sign_in, sign_out


class CsrfForm(BaseModel):
    """Every console form carries the CSRF token of its page."""

    model_config = ConfigDict(extra="ignore")

    csrf: str = Field(min_length=1, max_length=128)


class DecisionForm(CsrfForm):
    """``POST /ui/approvals/{id}``."""

    decision: Literal["approve", "reject"]
    incident: str = Field(min_length=1, max_length=32)


class SwitchForm(CsrfForm):
    """``POST /ui/pause`` and ``/ui/resume``."""

    reason: str = Field(default="", max_length=500)
    back: str = Field(default="/ui", max_length=200)


class LoginForm(CsrfForm):
    """``POST /ui/login``."""

    token: str = Field(min_length=1, max_length=512)
    next: str = Field(default="/ui", max_length=200)


FormT = TypeVar("FormT", bound=CsrfForm)

_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 400}


FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384


async def _form(request: web.Request, model: type[FormT]) -> FormT:
    """The submitted form after the CSRF check; 400 for anything but a URL-encoded form
    (the pages send nothing else) or a form that is not ``model``."""
    if request.content_type != FORM_TYPE:
        raise HttpError(ErrorCode.INVALID_PAYLOAD, f"send the form as {FORM_TYPE}")
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        fields = dict(parse_qsl(body.decode(), max_num_fields=16))
    except (UnicodeDecodeError, ValueError) as err:
        raise HttpError(ErrorCode.INVALID_PAYLOAD, "the form is not URL-encoded UTF-8") from err
    check_csrf(request, fields.get(CSRF_FIELD, ""))
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        names = ", ".join(str(e["loc"][0]) for e in err.errors() if e["loc"])
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD, f"form fields missing or invalid: {names}"
        ) from err


def _identity(request: web.Request) -> Identity:
    found = viewer(request, request.app[RUNTIME].settings.server).identity
    if found is None:
        raise HttpError(ErrorCode.UNAUTHORIZED, "sign in with your personal token to decide")
    return found


async def decide(request: web.Request) -> web.Response:
    """``POST /ui/approvals/{id}``: approve or reject as the signed-in user."""
    runtime = request.app[RUNTIME]
    form = await _form(request, DecisionForm)
    who = _identity(request)
    incident = form.incident
    decision = Decision(form.decision)
    approval_id = request.match_info["approval_id"]
    reader = viewer(request, runtime.settings.server)
    try:
        outcome = await runtime.approvals.decide(approval_id, who, decision)
    except DecisionRefused as err:
        notice = Notice(f"{approval_id}: refused: {err.detail}", ok=False)
        return await render_incident(
            request, runtime, reader, incident, notice, _STATUS.get(err.code, 409)
        )
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store could not commit the decision") from err
    text = f"{approval_id}: {decision.value}d by {who.user}"
    if outcome.status.value == "pending":
        text += f" ({outcome.approvals} of {outcome.required} approvals; waiting for another)"
    return await render_incident(request, runtime, reader, incident, Notice(text, ok=True))


async def pause(request: web.Request) -> web.Response:
    """``POST /ui/pause``: an admin pauses every write step."""
    return await _switch(request, on=True)


async def resume(request: web.Request) -> web.Response:
    """``POST /ui/resume``: an admin ends the pause."""
    return await _switch(request, on=False)


async def _switch(request: web.Request, *, on: bool) -> web.Response:
    runtime = request.app[RUNTIME]
    form = await _form(request, SwitchForm)
    who = _identity(request)
    if who.user not in runtime.settings.slack.admins:
        raise HttpError(ErrorCode.FORBIDDEN, f"{who.user} is not in slack.admins")
    try:
        if on:
            reason = form.reason.strip() or "no reason given"
            await runtime.pause.pause(who, reason)
        else:
            await runtime.pause.resume(who)
    except DecisionRefused as err:
        raise HttpError(ErrorCode.CONFLICT, err.detail) from err
    raise web.HTTPSeeOther(_back(form.back))


def _back(target: str) -> str:
    """A local page to return to (never another site)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/ui"):
        return "/ui"
    return target


async def login_page(request: web.Request) -> web.Response:
    """``GET /ui/login``: the sign-in form."""
    return _login(request, error=None)


def _login(request: web.Request, error: str | None, status: int = 200) -> web.Response:
    token = csrf_token(request)
    response = page(
        "login.html",
        status,
        csrf=token,
        error=error,
        next=_back(request.query.get("next", "/ui")),
        user=None,
        paused=False,
        proxy_login=request.app[RUNTIME].settings.server.trusted_user_header is not None,
    )
    keep_csrf(request, response, token)
    return response


async def login(request: web.Request) -> web.Response:
    """``POST /ui/login``: a personal token (``server.api_users``) signs its user in."""
    server = request.app[RUNTIME].settings.server
    form = await _form(request, LoginForm)
    token = form.token.strip()
    credential = match_token(server, token) if token else None
    if credential is None or credential.user is None:
        return _login(request, "that is not a personal token (server.api_users)", status=401)
    response = web.HTTPSeeOther(_back(form.next))
    sign_in(response, token, secure=request.secure)
    raise response


async def logout(request: web.Request) -> web.Response:
    """``POST /ui/logout``: forget the session."""
    await _form(request, CsrfForm)
    response = web.HTTPSeeOther("/ui")
    sign_out(response)
    raise response
