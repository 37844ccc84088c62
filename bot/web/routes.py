"""The console's endpoints (described in /openapi.json like the API's) and its change feed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot.http.endpoint import Auth, Content, Endpoint
from bot.runtime import RUNTIME
from bot.web.actions import (
    FORM_TYPE,
    CsrfForm,
    DecisionForm,
    LoginForm,
    SwitchForm,
    decide,
    login,
    login_page,
    logout,
    pause,
    resume,
)
from bot.web.feed import ChangeFeed
from bot.web.pages import incident_list, incident_page
from bot.web.static import home, static_file
from bot.web.stream import CHANGE_FEED, events

HTML = Content(media="text/html", description="the page")


def _form(model: type[CsrfForm]) -> Content:
    return Content(media=FORM_TYPE, model=model, description="the page's form, with its csrf")


_FORM_ERRORS = (400, 401, 403, 404, 408, 409, 413, 503)

CONSOLE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/", home, "Redirects to the console", "console",
        Content(media="text/plain", description="a redirect to /ui"), status=302,
    ),
    Endpoint(
        "GET", "/ui", incident_list, "Console: incidents, newest first", "console", HTML,
        errors=(503,), auth=Auth.CONSOLE,
    ),
    Endpoint(
        "GET", "/ui/incidents/{incident_id}", incident_page, "Console: one incident",
        "console", HTML, errors=(404, 503), auth=Auth.CONSOLE,
    ),
    Endpoint(
        "GET", "/ui/events", events, "Console: Server-Sent Events after each change",
        "console", Content(media="text/event-stream", description="change events"),
        errors=(401,), auth=Auth.CONSOLE,
    ),
    Endpoint(
        "POST", "/ui/approvals/{approval_id}", decide, "Console: approve or reject",
        "console", HTML, request=_form(DecisionForm), errors=_FORM_ERRORS, auth=Auth.CONSOLE,
    ),
    Endpoint(
        "POST", "/ui/pause", pause, "Console: pause (admins)", "console", HTML, status=303,
        request=_form(SwitchForm), errors=_FORM_ERRORS, auth=Auth.CONSOLE,
    ),
    Endpoint(
        "POST", "/ui/resume", resume, "Console: resume (admins)", "console", HTML, status=303,
        request=_form(SwitchForm), errors=_FORM_ERRORS, auth=Auth.CONSOLE,
    ),
    Endpoint("GET", "/ui/login", login_page, "Console: sign-in form", "console", HTML),
    Endpoint(
        "POST", "/ui/login", login, "Console: sign in with a personal token", "console",
        HTML, status=303, request=_form(LoginForm), errors=(400, 401, 403, 408, 413),
    ),
    Endpoint(
        "POST", "/ui/logout", logout, "Console: sign out", "console", HTML, status=303,
        request=_form(CsrfForm), errors=(400, 403, 408, 413),
    ),
    Endpoint(
        "GET", "/ui/static/{name}", static_file, "Console: stylesheet and script", "console",
        Content(media="text/css", description="the file"), errors=(404,),
    ),
)  # fmt: skip


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    """Follow the store's change feed while the server runs (after the runtime started)."""
    feed = ChangeFeed(app[RUNTIME].db)
    await feed.start()
    app[CHANGE_FEED] = feed
    yield
    await feed.stop()
