"""A fake Slack Web API (the methods Medic calls) over plain HTTP, plus response URLs and the
external file-upload URL, and Socket Mode (``apps.connections.open`` and its websocket).

It answers what Slack answers for the same request: HTTP 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``, after Slack's checks (bot token, channel-name rules,
membership, message and thread existence, Block Kit limits). ``chat.postMessage`` is held to
one accepted post per ``post_interval_s`` per channel: a sooner post is refused with HTTP 429,
``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``. Arguments are read from the
query string, a form body (``blocks``/``attachments``/``files`` as JSON strings) or a JSON body,
the way ``slack_sdk``'s ``AsyncWebClient`` sends them. Every request is recorded in ``calls``;
``go_down``/``hang``/``rate_limit_next`` script outages.

Socket Mode works as Slack's does for slack_sdk's ``SocketModeClient``: ``apps.connections.open``
(app-level token only) answers a ``ws://…/link/?ticket=…&app_id=…`` URL whose ticket is good for
one connection; the socket greets with ``hello``, ``socket_deliver`` sends an envelope and waits
for its ack, ``socket_disconnect`` asks the client to reconnect (``disconnect`` message) and then
shuts the old socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestServer

T = TypeVar("T")

BOT_TOKEN = "xoxb-medic-test"
APP_TOKEN = "xapp-1-A0MEDIC-1-medictest"
"""The app-level token: the only one ``apps.connections.open`` takes."""
TEAM_ID = "T0001"
TEAM_NAME = "Medic Test"
TEAM_DOMAIN = "dwcp"
BOT_ID = "B0MEDIC"
APP_ID = "A0MEDIC"
BOT_NAME = "medic"
OUTSIDER = "U0OUTSIDER"
"""The creator of channels made with ``add_channel``."""

CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250
TEXT_MAX = 40_000
BLOCKS_MAX = 50
LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 1000
JSON_ARGS = ("blocks", "attachments", "files")
"""Arguments that arrive as JSON strings inside form data."""
UNPROCESSED = 0
"""``SlackCall.status`` of a call still held by ``hang()``."""
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods called with the app-level token; every other method takes the bot token."""
RESPONSE_PAYLOAD_TYPES = frozenset({"slash_commands", "interactive"})
"""Envelope types whose ack may carry a response payload (``accepts_response_payload``)."""
SOCKET_HOST = "fake-slack"
SOCKET_CONNECTION_TIME_S = 18060
"""``approximate_connection_time`` in ``hello``: how long Slack keeps a socket before refreshing."""
SOCKET_WAIT_S = 10.0
SOCKET_GRACE_S = 1.0
"""After ``disconnect``, how long the old socket stays open at most for the client to reconnect."""
SOCKET_CLOSE_S = 2.0
"""How long a server-side close waits for the client's close frame."""


class SlackCall(NamedTuple):
    """One request as the fake received it (``args`` without the token)."""

    method: str
    args: dict[str, Any]
    status: int
    at: float
    """``time.monotonic()`` of arrival."""


@dataclass
class FakeMessage:
    """A message in a channel; ``thread_ts`` is the parent's ts for a reply, else None."""

    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    user: str
    edits: int = 0


@dataclass
class FakeChannel:
    """A public (or private) channel and everything posted in it."""

    id: str
    name: str
    created_by: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    pins: set[str] = field(default_factory=set)
    messages: list[FakeMessage] = field(default_factory=list)
    is_private: bool = False
    is_archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class FakeUpload:
    """A file shared through files.getUploadURLExternal → upload URL → completeUploadExternal."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel_id: str | None
    thread_ts: str | None
    initial_comment: str | None


@dataclass
class _PendingFile:
    file_id: str
    filename: str
    length: int
    content: bytes | None = None


class _Refused(Exception):
    """Slack's answer ``{"ok": false, "error": error, **extra}`` with HTTP ``status``."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = dict(headers or {})
        self.extra = extra


def _ratelimited(retry_after: int) -> _Refused:
    return _Refused("ratelimited", status=429, headers={"Retry-After": str(retry_after)})


class FakeSlack:
    """``await start()``, then give ``AsyncWebClient(base_url=fake.url)`` the bot token
    (``SocketModeClient`` the app token)."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        bot_user: str = "UMEDICBOT",
        usergroups: Mapping[str, Iterable[str]] | None = None,
        users: Iterable[str] | Mapping[str, str] = (),
        post_interval_s: float = 1.0,
        app_token: str = APP_TOKEN,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user = bot_user
        self.usergroups: dict[str, set[str]] = {
            group: set(members) for group, members in (usergroups or {}).items()
        }
        names = users if isinstance(users, Mapping) else {user: user.lower() for user in users}
        self.users: dict[str, str] = dict(names)
        """Known user id → name; empty means every user id exists."""
        self.post_interval_s = post_interval_s
        self.calls: list[SlackCall] = []
        self.channels: dict[str, FakeChannel] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.uploads: list[FakeUpload] = []
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self._arrival = 0.0
        """Arrival time of the call being answered: post intervals are measured between these."""
        self._posts: dict[str, list[float]] = defaultdict(list)
        self._files: dict[str, _PendingFile] = {}
        self._response_keys: dict[str, str] = {}
        self._scripted_429: dict[str, list[int]] = {}
        self._down_status: int | None = None
        self._hung: asyncio.Event | None = None
        self._server: TestServer | None = None
        self._closing = False
        self.socket_acks: list[dict[str, Any]] = []
        """Every ack received on a socket (a JSON object with ``envelope_id``), in order."""
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        """Open sockets, oldest first."""
        self._sockets_accepted = 0
        self._socket_change = asyncio.Event()
        self._unacked: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "pins.add": self._pins_add,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "apps.connections.open": self._apps_connections_open,
        }
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/response/{token}", self._response)
        app.router.add_get("/link/", self._link)
        self._app = app

    # ---- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1, a free port, plain HTTP."""
        self._server = TestServer(self._app, host="127.0.0.1", port=0)
        await self._server.start_server()

    async def close(self) -> None:
        """Release hung requests, close the sockets (refusing new ones), stop listening."""
        self.back_up()
        self._closing = True
        await self._close_sockets(list(self._sockets))
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        """The Web API base URL, ``http://127.0.0.1:<port>/api/``."""
        return self._base() + "/api/"

    def response_url(self, key: str) -> str:
        """A URL on the fake for Slack's ``response_url``; bodies land in ``responses[key]``."""
        for token, known in self._response_keys.items():
            if known == key:
                return f"{self._base()}/response/{token}"
        token = f"R{len(self._response_keys) + 1:04d}"
        self._response_keys[token] = key
        return f"{self._base()}/response/{token}"

    def _base(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    # ---- scripting

    def go_down(self, status: int = 503) -> None:
        """Every request answers HTTP ``status`` (an HTML error page) until ``back_up()``."""
        self._down_status = status

    def hang(self) -> None:
        """Every request waits until ``back_up()`` and is then answered 503 without effect
        (its client has timed out by then); the call's status is 0 while it waits."""
        if self._hung is None:
            self._hung = asyncio.Event()

    def back_up(self) -> None:
        """Answer normally again."""
        self._down_status = None
        if self._hung is not None:
            self._hung.set()
            self._hung = None

    def rate_limit_next(self, method: str, count: int, retry_after: int = 1) -> None:
        """The next ``count`` calls of ``method`` answer 429 with ``Retry-After: retry_after``."""
        self._scripted_429[method] = [count, retry_after]

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        bot_member: bool = True,
        is_private: bool = False,
    ) -> FakeChannel:
        """A channel that exists before the test (created by someone else)."""
        channel = FakeChannel(
            id=self._new_id("C"), name=name, created_by=OUTSIDER, is_private=is_private
        )
        channel.members.update(members)
        if bot_member:
            channel.members.add(self.bot_user)
        self.channels[channel.id] = channel
        return channel

    # ---- inspection

    def channel_named(self, name: str) -> FakeChannel | None:
        """The channel called ``name`` (without ``#``), if any."""
        return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def thread(self, channel: str, ts: str) -> list[FakeMessage]:
        """The replies to message ``ts`` in ``channel`` (id or name), oldest first."""
        return [m for m in self._find_channel(channel).messages if m.thread_ts == ts]

    def top_level(self, channel: str) -> list[FakeMessage]:
        """The messages of ``channel`` (id or name) outside threads, oldest first."""
        return [m for m in self._find_channel(channel).messages if m.thread_ts is None]

    def calls_to(self, method: str) -> list[SlackCall]:
        """Every call of ``method``, in order, refused ones included."""
        return [call for call in self.calls if call.method == method]

    def posts_per_channel(self) -> dict[str, int]:
        """Accepted ``chat.postMessage`` calls by channel id."""
        return {channel: len(times) for channel, times in self._posts.items() if times}

    def max_posts_per_second(self, channel: str) -> int:
        """The most accepted posts to ``channel`` (id or name) arriving within any 1 s window."""
        times = sorted(self._posts.get(self._find_channel(channel).id, []))
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def wait_for(
        self,
        predicate: Callable[[], T],
        what: str,
        timeout: float = 10,  # noqa: ASYNC109 - a polling deadline, the callers' interface
    ) -> T:
        """Poll ``predicate`` every 10 ms until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; last value: {value!r}"
                )
            await asyncio.sleep(0.01)

    def _find_channel(self, channel: str) -> FakeChannel:
        found = self.channels.get(channel) or self.channel_named(channel)
        if found is None:
            raise KeyError(f"no channel {channel!r}")
        return found

    # ---- Socket Mode

    @property
    def socket_connections(self) -> int:
        """How many sockets were accepted since ``start()`` (reconnections count)."""
        return self._sockets_accepted

    @property
    def open_sockets(self) -> int:
        """How many sockets are open now."""
        return len(self._sockets)

    async def socket_connected(
        self,
        count: int = 1,
        *,
        timeout: float = SOCKET_WAIT_S,  # noqa: ASYNC109 - a deadline, the callers' interface
    ) -> None:
        """Wait until at least ``count`` sockets have been accepted since ``start()``;
        ``TimeoutError`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._socket_wait(lambda: self._sockets_accepted >= count)
        except TimeoutError:
            raise TimeoutError(
                f"{self._sockets_accepted} Socket Mode connection(s) accepted in {timeout:g} s,"
                f" waited for {count}"
            ) from None

    async def socket_deliver(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        timeout: float = SOCKET_WAIT_S,  # noqa: ASYNC109 - a deadline, the callers' interface
    ) -> dict[str, Any]:
        """Send an envelope of ``envelope_type`` (``slash_commands``, ``interactive``,
        ``events_api``) carrying ``payload`` on the newest open socket, wait for its ack and
        return the ack's ``payload`` (``{}`` if it had none).

        Raises AssertionError when no socket is open, TimeoutError when no ack arrives within
        ``timeout`` seconds."""
        if not self._sockets:
            raise AssertionError(
                f"no Socket Mode connection is open to deliver {envelope_type!r}"
                f" ({self._sockets_accepted} accepted so far)"
            )
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type in RESPONSE_PAYLOAD_TYPES,
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        acked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._unacked[envelope_id] = acked
        try:
            async with asyncio.timeout(timeout):
                await self._sockets[-1].send_json(envelope)
                return await acked
        except TimeoutError:
            raise TimeoutError(
                f"no ack for the {envelope_type!r} envelope {envelope_id} in {timeout:g} s"
            ) from None
        finally:
            self._unacked.pop(envelope_id, None)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (``refresh_requested``, ``warning``,
        ``too_many_websockets``...) on every open socket, then close those sockets once the
        client has replaced them (or closed them itself), after ``SOCKET_GRACE_S`` at most."""
        old = list(self._sockets)
        accepted = self._sockets_accepted
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": SOCKET_HOST}}
        for socket in old:
            with contextlib.suppress(ConnectionError):
                await socket.send_json(message)

        def replaced() -> bool:
            reconnected = self._sockets_accepted - accepted >= len(old)
            return reconnected or not any(socket in self._sockets for socket in old)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SOCKET_GRACE_S):
                await self._socket_wait(replaced)
        await self._close_sockets(old)

    async def _link(self, request: web.Request) -> web.StreamResponse:
        """The Socket Mode websocket: one connection per ``apps.connections.open`` ticket."""
        outage = await self._outage()
        if outage is not None:
            return outage
        if self._closing:
            return _error_page(503)
        socket = web.WebSocketResponse(timeout=SOCKET_CLOSE_S)
        if not socket.can_prepare(request).ok:
            return web.Response(status=400, text="websocket upgrade expected")
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        await socket.prepare(request)
        self._sockets.append(socket)
        try:
            await socket.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": SOCKET_HOST,
                        "approximate_connection_time": SOCKET_CONNECTION_TIME_S,
                    },
                    "connection_info": {"app_id": APP_ID},
                }
            )
            self._sockets_accepted += 1
            self._socket_changed()
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    self._socket_ack(message.data)
        finally:
            self._sockets.remove(socket)
            self._socket_changed()
        return socket

    def _socket_ack(self, text: str) -> None:
        """Record an ack and resolve its delivery; other messages are ignored, as Slack does."""
        try:
            ack = json.loads(text)
        except ValueError:
            return
        if not isinstance(ack, dict) or "envelope_id" not in ack:
            return
        self.socket_acks.append(ack)
        acked = self._unacked.pop(str(ack["envelope_id"]), None)
        if acked is not None and not acked.done():
            payload = ack.get("payload")
            acked.set_result(payload if isinstance(payload, dict) else {})

    def _socket_changed(self) -> None:
        """Wake the waiters of ``_socket_wait``: a socket was accepted or closed."""
        self._socket_change.set()
        self._socket_change = asyncio.Event()

    async def _socket_wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._socket_change.wait()

    async def _close_sockets(self, sockets: list[web.WebSocketResponse]) -> None:
        """Close ``sockets`` from the server side, each bounded by ``SOCKET_CLOSE_S``."""

        async def close(socket: web.WebSocketResponse) -> None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                async with asyncio.timeout(SOCKET_CLOSE_S):
                    await socket.close(code=WSCloseCode.GOING_AWAY)

        await asyncio.gather(*(close(socket) for socket in sockets))

    # ---- HTTP

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        index = self._record(method, {}, time.monotonic())
        args, token, unreadable = await _read_args(request)
        self._record_args(index, args)
        outage = await self._outage()
        if outage is not None:
            return self._answered(index, outage)
        self._arrival = self.calls[index].at
        try:
            body = self._call(method, args, token, unreadable)
        except _Refused as refused:
            answer = {"ok": False, "error": refused.error, **refused.extra}
            response = web.json_response(answer, status=refused.status, headers=refused.headers)
            return self._answered(index, response)
        return self._answered(index, web.json_response(body))

    def _call(
        self, method: str, args: dict[str, Any], token: str | None, unreadable: str | None
    ) -> dict[str, Any]:
        if unreadable is not None:
            raise _Refused(unreadable)
        script = self._scripted_429.get(method)
        if script and script[0] > 0:
            script[0] -= 1
            raise _ratelimited(script[1])
        handler = self._methods.get(method)
        if handler is None:
            raise _Refused("unknown_method", req_method=method)
        if not token:
            raise _Refused("not_authed")
        expected = self.app_token if method in APP_TOKEN_METHODS else self.bot_token
        if token != expected:
            known = token in (self.app_token, self.bot_token)
            raise _Refused("not_allowed_token_type" if known else "invalid_auth")
        return handler(args)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        index = self._record("upload", {"file_id": file_id}, time.monotonic())
        outage = await self._outage()
        if outage is not None:
            return self._answered(index, outage)
        pending = self._files.get(file_id)
        if pending is None:
            return self._answered(index, web.Response(status=404, text="upload not found"))
        content = await _upload_content(request)
        pending.content = content
        self._record_args(index, {"file_id": file_id, "length": len(content)})
        return self._answered(index, web.Response(text=f"OK - {len(content)}"))

    async def _response(self, request: web.Request) -> web.StreamResponse:
        key = self._response_keys.get(request.match_info["token"])
        index = self._record("response_url", {"key": key}, time.monotonic())
        outage = await self._outage()
        if outage is not None:
            return self._answered(index, outage)
        if key is None:
            return self._answered(index, web.Response(status=404, text="no_service"))
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._answered(index, web.Response(status=400, text="invalid_payload"))
        self._record_args(index, {"key": key, "body": body})
        self.responses[key].append(body)
        return self._answered(index, web.json_response({"ok": True}))

    async def _outage(self) -> web.Response | None:
        """The answer while Slack is hung (after release) or down, else None."""
        if self._hung is not None:
            await self._hung.wait()
            return _error_page(503)
        if self._down_status is not None:
            return _error_page(self._down_status)
        return None

    def _record(self, method: str, args: dict[str, Any], at: float) -> int:
        self.calls.append(SlackCall(method, args, UNPROCESSED, at))
        return len(self.calls) - 1

    def _record_args(self, index: int, args: dict[str, Any]) -> None:
        self.calls[index] = self.calls[index]._replace(args=args)

    def _answered(self, index: int, response: web.Response) -> web.Response:
        self.calls[index] = self.calls[index]._replace(status=response.status)
        return response

    # ---- methods

    def _auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": self.bot_user,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _text(args, "name")
        problem = channel_name_error(name)
        if problem is not None:
            raise _Refused(problem)
        if self.channel_named(name) is not None:
            raise _Refused("name_taken")
        channel = FakeChannel(
            id=self._new_id("C"),
            name=name,
            created_by=self.bot_user,
            members={self.bot_user},
            is_private=_flag(args, "is_private"),
        )
        self.channels[channel.id] = channel
        return {"ok": True, "channel": self._channel_json(channel)}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, member=True)
        users = [user.strip() for user in _text(args, "users").split(",") if user.strip()]
        if not users:
            raise _Refused("no_user")
        if self.bot_user in users:
            raise _Refused("cant_invite_self")
        unknown = [user for user in users if not self._user_exists(user)]
        if unknown:
            raise _Refused("user_not_found")
        if all(user in channel.members for user in users):
            raise _Refused("already_in_channel")
        channel.members.update(users)
        return {"ok": True, "channel": self._channel_json(channel)}

    def _conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, member=True)
        topic = _text(args, "topic")
        if len(topic) > TOPIC_MAX:
            raise _Refused("too_long")
        channel.topic = topic
        return {"ok": True, "channel": self._channel_json(channel)}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        answer = self._channel_json(channel)
        if _flag(args, "include_num_members"):
            answer["num_members"] = len(channel.members)
        return {"ok": True, "channel": answer}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = set(_text(args, "types", "public_channel").split(","))
        visible = [
            channel
            for channel in self.channels.values()
            if ("private_channel" if channel.is_private else "public_channel") in types
            and (not channel.is_private or self.bot_user in channel.members)
            and not (channel.is_archived and _flag(args, "exclude_archived"))
        ]
        start = _cursor_offset(_text(args, "cursor"))
        limit = _int(args, "limit", LIST_LIMIT_DEFAULT) or LIST_LIMIT_DEFAULT
        end = start + min(max(limit, 1), LIST_LIMIT_MAX)
        page = visible[start:end]
        cursor = _cursor(end) if end < len(visible) else ""
        return {
            "ok": True,
            "channels": [self._channel_json(channel) for channel in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, member=True, by_name=True)
        text, blocks = _content(args)
        thread_ts = _text(args, "thread_ts") or None
        if thread_ts is not None:
            parent = self._message(channel, thread_ts, missing="thread_not_found")
            thread_ts = parent.thread_ts or parent.ts
        self._check_post_interval(channel.id)
        message = FakeMessage(self._new_ts(), channel.id, text, blocks, thread_ts, self.bot_user)
        channel.messages.append(message)
        self._posts[channel.id].append(self._arrival)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": self._message_json(message),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._message(channel, _text(args, "ts"), missing="message_not_found")
        if message.user != self.bot_user:
            raise _Refused("cant_update_message")
        if not any(key in args for key in ("text", "blocks", "attachments")):
            raise _Refused("no_text")
        text = _text(args, "text") if "text" in args else message.text
        if len(text) > TEXT_MAX:
            raise _Refused("msg_too_long")
        if "blocks" in args:
            message.blocks = _blocks(args)
        elif "text" in args:
            message.blocks = []  # new text without blocks drops the blocks (Slack's rule)
        message.text = text
        message.edits += 1
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, by_name=True)
        user = _text(args, "user")
        if not user or not self._user_exists(user):
            raise _Refused("user_not_found")
        if user not in channel.members:
            raise _Refused("user_not_in_channel")
        text, blocks = _content(args)
        message_ts = self._new_ts()
        self.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": text,
                "blocks": blocks,
                "thread_ts": _text(args, "thread_ts") or None,
                "message_ts": message_ts,
            }
        )
        return {"ok": True, "message_ts": message_ts}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, member=True)
        ts = _text(args, "timestamp")
        if not ts:
            raise _Refused("no_item_specified")
        self._message(channel, ts, missing="message_not_found")
        if ts in channel.pins:
            raise _Refused("already_pinned")
        channel.pins.add(ts)
        return {"ok": True}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(_text(args, "usergroup"))
        if group is None:
            raise _Refused("no_such_subteam")
        return {"ok": True, "users": sorted(group)}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _text(args, "user")
        if not user or not self._user_exists(user):
            raise _Refused("user_not_found")
        is_bot = user == self.bot_user
        name = BOT_NAME if is_bot else self.users.get(user, user.lower())
        answer = {
            "id": user,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": name,
            "tz": "Etc/UTC",
            "is_bot": is_bot,
            "is_app_user": False,
            "profile": {"real_name": name, "display_name": name, "team": TEAM_ID},
        }
        return {"ok": True, "user": answer}

    def _apps_connections_open(self, _args: dict[str, Any]) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        base = self._base().replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{base}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _text(args, "filename")
        length = _int(args, "length", 0)
        if not filename or length <= 0:
            raise _Refused("invalid_arguments")
        pending = _PendingFile(self._new_id("F"), filename, length)
        self._files[pending.file_id] = pending
        upload_url = f"{self._base()}/upload/v1/{pending.file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": pending.file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise _Refused("invalid_arguments")
        channel_id = _text(args, "channel_id") or None
        thread_ts = _text(args, "thread_ts") or None
        if channel_id is not None:
            channel = self._channel({"channel": channel_id}, member=True)
            if thread_ts is not None:
                self._message(channel, thread_ts, missing="thread_not_found")
        shared: list[tuple[_PendingFile, str]] = []
        for entry in files:
            pending = self._files.get(entry.get("id", "")) if isinstance(entry, dict) else None
            if pending is None or pending.content is None:
                raise _Refused("file_not_found")
            shared.append((pending, str(entry.get("title") or pending.filename)))
        answer = []
        for pending, title in shared:
            del self._files[pending.file_id]
            upload = FakeUpload(
                file_id=pending.file_id,
                filename=pending.filename,
                title=title,
                content=pending.content or b"",
                channel_id=channel_id,
                thread_ts=thread_ts,
                initial_comment=_text(args, "initial_comment") or None,
            )
            self.uploads.append(upload)
            answer.append(
                {
                    "id": upload.file_id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": len(upload.content),
                    "user": self.bot_user,
                    "channels": [channel_id] if channel_id else [],
                }
            )
        return {"ok": True, "files": answer}

    # ---- helpers

    def _channel(
        self, args: dict[str, Any], *, member: bool = False, by_name: bool = False
    ) -> FakeChannel:
        """The channel named by ``args["channel"]`` (an id; also ``#name`` where Slack takes
        names), refusing unknown, archived and (``member``) bot-less channels."""
        key = _text(args, "channel")
        channel = self.channels.get(key)
        if channel is None and by_name and key:
            channel = self.channel_named(key)
        if channel is None:
            raise _Refused("channel_not_found")
        if member and channel.is_archived:
            raise _Refused("is_archived")
        if member and self.bot_user not in channel.members:
            raise _Refused("not_in_channel")
        return channel

    def _message(self, channel: FakeChannel, ts: str, *, missing: str) -> FakeMessage:
        for message in channel.messages:
            if message.ts == ts:
                return message
        raise _Refused(missing)

    def _check_post_interval(self, channel_id: str) -> None:
        posts = self._posts[channel_id]
        if not posts:
            return
        wait = self.post_interval_s - (self._arrival - max(posts))
        if wait > 0:
            raise _ratelimited(max(1, math.ceil(wait)))

    def _user_exists(self, user: str) -> bool:
        return not self.users or user in self.users or user == self.bot_user

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{next(self._ids):04d}"

    def _new_ts(self) -> str:
        """Like Slack's: epoch seconds with 6 decimals, unique and increasing."""
        self._last_ts_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _channel_json(self, channel: FakeChannel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.bot_user in channel.members,
            "created": channel.created,
            "creator": channel.created_by,
            "context_team_id": TEAM_ID,
            "unlinked": 0,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }

    def _message_json(self, message: FakeMessage) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": message.text,
            "ts": message.ts,
            "team": TEAM_ID,
        }
        if message.blocks:
            answer["blocks"] = message.blocks
        if message.thread_ts is not None:
            answer["thread_ts"] = message.thread_ts
            answer["parent_user_id"] = self.bot_user
        return answer


def channel_name_error(name: str) -> str | None:
    """Slack's refusal of ``name`` as a new channel's name, or None if it is valid."""
    if not name:
        return "invalid_name_required"
    if len(name) > CHANNEL_NAME_MAX:
        return "invalid_name_maxlength"
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        return "invalid_name_specials"
    if not re.search(r"[a-z0-9]", name):
        return "invalid_name_punctuation"
    return None


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None, str | None]:
    """The call's arguments (query, then form or JSON body), its token (header or field) and
    Slack's error for a body it cannot read (else None)."""
    args: dict[str, Any] = dict(request.query)
    if request.body_exists and request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return args, None, "invalid_json"
        if not isinstance(body, dict):
            return args, None, "json_not_object"
        args.update(body)
    elif request.body_exists:
        form = await request.post()
        args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in JSON_ARGS:
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):  # else left a string: the method refuses it
                args[key] = json.loads(args[key])
    token = args.pop("token", None)
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        token = authorization.removeprefix("Bearer ").strip()
    return args, token if isinstance(token, str) else None, None


async def _upload_content(request: web.Request) -> bytes:
    """The bytes POSTed to an upload URL: the raw body, or the file part of a multipart form."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        for value in form.values():
            if isinstance(value, web.FileField):
                return value.file.read()
        return b""
    return await request.read()


def _content(args: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A new message's text and blocks, refused as Slack refuses them."""
    text = _text(args, "text")
    blocks = _blocks(args) if "blocks" in args else []
    attachments = args.get("attachments")
    if not text and not blocks and not attachments:
        raise _Refused("no_text")
    if len(text) > TEXT_MAX:
        raise _Refused("msg_too_long")
    return text, blocks


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks")
    if not isinstance(blocks, list):
        raise _Refused("invalid_blocks_format")
    errors = block_errors(blocks)
    if errors:
        messages = [f"[ERROR] {error}" for error in errors]
        raise _Refused("invalid_blocks", errors=errors, response_metadata={"messages": messages})
    return blocks


def block_errors(blocks: list[Any]) -> list[str]:
    """Block Kit's limits that Medic's messages can reach, as Slack words its refusals."""
    if len(blocks) > BLOCKS_MAX:
        return [f"no more than {BLOCKS_MAX} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_LIMITS:
            errors.append(f"unsupported block type [json-pointer:{where}/type]")
            continue
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                errors.append(f"block_id must be unique [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
        errors += _BLOCK_LIMITS[block["type"]](block, where)
    return errors


def _section_limits(block: dict[str, Any], where: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [f"must provide text or fields [json-pointer:{where}]"]
    errors = _text_limit(block["text"], 3000, f"{where}/text") if "text" in block else []
    for number, item in enumerate(block.get("fields") or []):
        errors += _text_limit(item, 2000, f"{where}/fields/{number}")
    return errors


def _elements_limits(most: int) -> Callable[[dict[str, Any], str], list[str]]:
    def limits(block: dict[str, Any], where: str) -> list[str]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= most:
            return [f"must have 1 to {most} elements [json-pointer:{where}/elements]"]
        errors: list[str] = []
        for number, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "button":
                errors += _button_limits(element, f"{where}/elements/{number}")
        return errors

    return limits


def _button_limits(button: dict[str, Any], where: str) -> list[str]:
    errors = _text_limit(button.get("text"), 75, f"{where}/text", plain=True)
    for key, most in (("action_id", 255), ("value", 2000)):
        if len(str(button.get(key, ""))) > most:
            errors.append(f"must be less than {most + 1} characters [json-pointer:{where}/{key}]")
    return errors


def _no_limits(_block: dict[str, Any], _where: str) -> list[str]:
    return []


_BLOCK_LIMITS: dict[str, Callable[[dict[str, Any], str], list[str]]] = {
    "section": _section_limits,
    "header": lambda block, where: _text_limit(block.get("text"), 150, f"{where}/text", plain=True),
    "markdown": lambda block, where: _text_limit(block, 12000, where),
    "context": _elements_limits(10),
    "actions": _elements_limits(25),
    **dict.fromkeys(("divider", "file", "image", "input", "rich_text", "video"), _no_limits),
}
"""Per block type, its limits that Medic can reach (other limits are not checked)."""


def _text_limit(obj: Any, most: int, where: str, *, plain: bool = False) -> list[str]:
    """A text object (or markdown block) whose ``text`` is 1..``most`` characters."""
    kinds = {"plain_text"} if plain else {"plain_text", "mrkdwn", "markdown"}
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"must be a valid text object [json-pointer:{where}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > most:
        return [f"must be less than {most + 1} characters [json-pointer:{where}/text]"]
    return []


def _text(args: dict[str, Any], key: str, default: str = "") -> str:
    value = args.get(key)
    return default if value is None else str(value)


def _int(args: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(args.get(key, default))
    except (TypeError, ValueError):
        return default


def _flag(args: dict[str, Any], key: str) -> bool:
    return str(args.get(key, "")).lower() in ("1", "true")


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("offset:"))
    except ValueError:
        raise _Refused("invalid_cursor") from None


def _error_page(status: int) -> web.Response:
    """What an unhealthy Slack edge answers: an HTML page, no JSON."""
    page = f"<html><body><h1>{status}</h1><p>Slack is unavailable.</p></body></html>"
    return web.Response(status=status, text=page, content_type="text/html")
