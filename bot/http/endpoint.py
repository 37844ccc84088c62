"""One HTTP endpoint described once: the router is built from it, and so is /openapi.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

JSON = "application/json"


class Auth(StrEnum):
    """What a caller must present."""

    NONE = "none"
    READ = "read"  # a token only when server.protect_reads is true
    TOKEN = "token"  # noqa: S105 -- a scheme name, not a secret; a personal (server.api_users) or bridge (server.api_token) token
    WEBHOOK = "webhook"  # alertmanager.bearer_token when it is set
    SIGNED = "signed"  # a signature header (PagerDuty, Slack)
    CONSOLE = "console"  # web console: the session cookie, a token or the trusted header


@dataclass(frozen=True, slots=True)
class Content:
    """A body: its media type and, for JSON, the pydantic model that reads or writes it."""

    media: str = JSON
    model: type[BaseModel] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route with everything a client needs to call it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    answer: Content
    status: int = 200
    request: Content | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: Auth = Auth.NONE
    headers: dict[str, str] = field(default_factory=dict)  # request headers it reads

    def route(self) -> web.RouteDef:
        """The aiohttp route."""
        return web.route(self.method, self.path, self.handler)
