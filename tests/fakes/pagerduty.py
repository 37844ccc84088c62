"""A fake PagerDuty (Events API v2 and the REST v2 endpoints Medic writes to) over TLS.

It checks what PagerDuty checks (routing key, event shape, ``Authorization: Token token=…``,
``From`` on writes, body shapes of PROTOCOLS.md), answers PagerDuty's JSON shapes, records
every request, and can be scripted to answer 429/5xx/400 next. Its certificate comes from a
trustme CA: ``client_tls()`` is a context that trusts it (and nothing else).
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
STATUSES = ("acknowledged", "resolved")
BODY = web.RequestKey("body", object)
"""The request's JSON body, parsed once by the middleware (None if not JSON)."""


class Recorded(NamedTuple):
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


class FakePagerDuty:
    """``await start()`` then point Events and REST base URLs at ``url``.

    Building it makes a CA and a certificate (CPU-bound): do it in a sync fixture.
    """

    def __init__(self, *, api_token: str, routing_keys: Iterable[str]) -> None:
        self.api_token = api_token
        self.routing_keys = set(routing_keys)
        self.requests: list[Recorded] = []
        self.ca = trustme.CA()
        self._server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(self._server_tls)
        self._scripts: list[tuple[str, deque[int]]] = []
        self._server: TestServer | None = None
        app = web.Application(middlewares=[self._record_and_script])
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_post("/incidents/{id}/notes", self._note)
        app.router.add_put("/incidents/{id}", self._update)
        self._app = app

    async def start(self) -> None:
        """Listen on 127.0.0.1, a free port, TLS."""
        self._server = TestServer(self._app, host="127.0.0.1", port=0)
        await self._server.start_server(ssl=self._server_tls)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        assert self._server is not None, "start() first"
        return str(self._server.make_url("/")).rstrip("/")

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts this fake's CA only."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(context)
        return context

    def script(self, path_prefix: str, *statuses: int) -> None:
        """The next requests to a path starting with ``path_prefix`` answer ``statuses`` in turn
        (a 429 asks to retry at once), then the fake answers normally again."""
        self._scripts.append((path_prefix, deque(statuses)))

    def attempts(self, path_prefix: str) -> int:
        """How many requests reached a path starting with ``path_prefix``."""
        return sum(1 for request in self.requests if request.path.startswith(path_prefix))

    @web.middleware
    async def _record_and_script(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            body = await request.json() if request.can_read_body else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, headers, body))
        request[BODY] = body
        for prefix, statuses in self._scripts:
            if statuses and request.path.startswith(prefix):
                return _scripted(statuses.popleft(), request.path)
        result: web.StreamResponse = await handler(request)
        return result

    async def _enqueue(self, request: web.Request) -> web.Response:
        event = request[BODY]
        errors = _event_errors(event, self.routing_keys)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        answer = {
            "status": "success",
            "message": "Event processed",
            "dedup_key": event["dedup_key"],
        }
        return web.json_response(answer, status=202)

    async def _note(self, request: web.Request) -> web.Response:
        refused = self._refuse_rest(request)
        if refused is not None:
            return refused
        note = (request[BODY] or {}).get("note")
        if not isinstance(note, dict) or not isinstance(note.get("content"), str):
            return _rest_error(400, "Invalid Input Provided", "note.content is required")
        answer = {"id": "PNOTE01", "content": note["content"], "created_at": "2025-01-01T00:00:00Z"}
        return web.json_response({"note": answer}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        refused = self._refuse_rest(request)
        if refused is not None:
            return refused
        incident = (request[BODY] or {}).get("incident")
        if (
            not isinstance(incident, dict)
            or incident.get("type") != "incident_reference"
            or incident.get("status") not in STATUSES
        ):
            return _rest_error(400, "Invalid Input Provided", "incident reference is invalid")
        answer = {"id": request.match_info["id"], "type": "incident", "status": incident["status"]}
        return web.json_response({"incident": answer})

    def _refuse_rest(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            return _rest_error(401, "Unauthorized")
        if not request.headers.get("From"):
            return _rest_error(400, "Invalid Input Provided", "The From header is missing.")
        return None


def _event_errors(event: Any, routing_keys: set[str]) -> list[str]:
    """What PagerDuty would object to in an Events API v2 body."""
    if not isinstance(event, dict):
        return ["body must be a JSON object"]
    errors: list[str] = []
    key = event.get("routing_key")
    if key not in routing_keys:
        # Echo it, as a careless server might: the client must keep it out of its errors.
        errors.append(f"routing key {key!r} is not known")
    if event.get("event_action") not in EVENT_ACTIONS:
        errors.append("event_action must be trigger, acknowledge or resolve")
    if not isinstance(event.get("dedup_key"), str) or not event["dedup_key"]:
        errors.append("dedup_key is required")
    if event.get("event_action") == "trigger":
        errors += _payload_errors(event.get("payload"))
    return errors


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["payload is required for trigger"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
        errors.append("payload.summary must be 1 to 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        errors.append("payload.source is required")
    if payload.get("severity") not in SEVERITIES:
        errors.append("payload.severity must be critical, error, warning or info")
    return errors


def _scripted(status: int, path: str) -> web.Response:
    """A scripted answer in the shape of the API ``path`` belongs to; a 429 says when to retry
    (``Retry-After`` on Events, ``ratelimit-reset`` on REST) and that is now."""
    if not path.startswith("/v2/"):
        headers = {"ratelimit-reset": "0"} if status == 429 else {}
        return _rest_error(status, f"scripted {status}", headers=headers)
    body: dict[str, Any] = {"status": "error", "message": f"scripted {status}"}
    if status == 400:
        body = {"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]}
    headers = {"Retry-After": "0"} if status == 429 else {}
    return web.json_response(body, status=status, headers=headers)


def _rest_error(
    status: int, message: str, *errors: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "code": 2001, "errors": list(errors)}}
    return web.json_response(body, status=status, headers=headers)
