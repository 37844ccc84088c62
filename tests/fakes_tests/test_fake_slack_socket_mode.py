"""The fake's Socket Mode, driven by slack_sdk's real aiohttp ``SocketModeClient`` (and by a
plain aiohttp websocket where the client would hide what is checked): the app-level token,
single-use tickets, ``hello``, envelopes and their acks, ``disconnect`` and reconnection."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from fakes.slack import APP_ID, APP_TOKEN, BOT_TOKEN, FakeSlack

SLASH_COMMAND = {"command": "/medic", "text": "status", "user_id": "U0ALICE"}
LINK = re.compile(r"ws://127\.0\.0\.1:\d+/link/\?ticket=(?P<ticket>[0-9a-f-]{36})&app_id=" + APP_ID)


@dataclass
class Connected:
    """A real Socket Mode client on the fake, acking every request with ``{"text": "pong"}``."""

    client: SocketModeClient
    requests: list[SocketModeRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Every message the client received (``hello`` and ``disconnect`` included)."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A started fake, closed after the test."""
    fake = FakeSlack(post_interval_s=0.0)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def socket_client(fake: FakeSlack) -> AsyncIterator[Connected]:
    """slack_sdk's Socket Mode client with the app token, not yet connected; closed after the
    test (before the fake)."""
    client = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=fake.url))
    connected = Connected(client)

    async def on_message(
        _client: AsyncBaseSocketModeClient, message: dict[str, Any], _raw: Any
    ) -> None:
        connected.messages.append(message)

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        connected.requests.append(request)
        ack = SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "pong"})
        await client.send_socket_mode_response(ack)

    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    yield connected
    await client.close()


def web(fake: FakeSlack, token: str | None = None) -> AsyncWebClient:
    """slack_sdk's Web API client pointed at the fake."""
    return AsyncWebClient(token=token, base_url=fake.url)


async def open_link(fake: FakeSlack) -> str:
    """A fresh Socket Mode URL from apps.connections.open."""
    answer = await web(fake).apps_connections_open(app_token=APP_TOKEN)
    return str(answer["url"])


async def test_real_client_gets_hello_and_acks_envelopes(
    fake: FakeSlack, socket_client: Connected
) -> None:
    """The real client connects through apps.connections.open, is greeted with hello and
    answers pings; a slash command's ack payload comes back from socket_deliver, and an
    events_api envelope carries Slack's retry fields."""
    await socket_client.client.connect()
    await fake.socket_connected()
    await fake.wait_for(lambda: socket_client.client.last_ping_pong_time, "the client's pong")

    answer = await fake.socket_deliver("slash_commands", SLASH_COMMAND)
    event = await fake.socket_deliver("events_api", {"event": {"type": "app_mention"}})

    assert answer == {"text": "pong"}
    assert event == {"text": "pong"}
    hello = socket_client.messages[0]
    assert hello["type"] == "hello"
    assert hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": APP_ID}
    assert hello["debug_info"]["host"] == "fake-slack"
    command, mention = socket_client.requests
    assert (command.type, command.payload, command.accepts_response_payload) == (
        "slash_commands",
        SLASH_COMMAND,
        True,
    )
    assert (mention.type, mention.accepts_response_payload) == ("events_api", False)
    assert (mention.retry_attempt, mention.retry_reason) == (0, "")
    assert [ack["envelope_id"] for ack in fake.socket_acks] == [
        command.envelope_id,
        mention.envelope_id,
    ]
    assert (fake.socket_connections, fake.open_sockets) == (1, 1)
    [call] = fake.calls_to("apps.connections.open")
    assert (call.status, call.args) == (200, {})


async def test_connections_open_takes_only_the_app_token(fake: FakeSlack) -> None:
    """apps.connections.open answers a fresh ws:// link per call for the app token; the bot
    token is not_allowed_token_type, another token invalid_auth, none not_authed; the app
    token is refused by bot methods the same way. Tokens are never recorded."""
    first, second = await open_link(fake), await open_link(fake)
    refusals = []
    for call in (
        web(fake).apps_connections_open(app_token=BOT_TOKEN),
        web(fake).apps_connections_open(app_token="xapp-1-A0OTHER-1-nope"),
        web(fake).api_call("apps.connections.open"),
        web(fake, APP_TOKEN).auth_test(),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call
        refusals.append(refused.value.response["error"])

    first_link, second_link = LINK.fullmatch(first), LINK.fullmatch(second)
    assert first_link is not None
    assert second_link is not None
    assert first_link["ticket"] != second_link["ticket"]
    assert refusals == [
        "not_allowed_token_type",
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
    ]
    assert [call.args for call in fake.calls] == [{}] * 6


async def test_connections_open_follows_the_outage_script(fake: FakeSlack) -> None:
    """apps.connections.open is down with go_down and back with back_up, like every method."""
    fake.go_down(503)
    with pytest.raises(SlackApiError) as refused:
        await open_link(fake)

    assert refused.value.response.status_code == 503
    fake.back_up()
    assert LINK.fullmatch(await open_link(fake))
    assert [call.status for call in fake.calls] == [503, 200]


async def test_real_client_waits_out_a_rate_limited_connections_open(
    fake: FakeSlack, socket_client: Connected
) -> None:
    """A 429 from apps.connections.open makes the real client wait Retry-After and ask again."""
    fake.rate_limit_next("apps.connections.open", 1, retry_after=1)

    await socket_client.client.connect()
    await fake.socket_connected()

    assert [call.status for call in fake.calls_to("apps.connections.open")] == [429, 200]


async def test_ticket_is_good_for_one_connection(fake: FakeSlack) -> None:
    """A link connects once: the same URL again, or an unknown ticket, is refused with 401."""
    url = await open_link(fake)
    link = LINK.fullmatch(url)
    assert link is not None
    unknown = url.replace(link["ticket"], "0" * 36)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        hello = await socket.receive_json()
        statuses = []
        for again in (url, unknown):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(again)
            statuses.append(refused.value.status)

        assert hello["type"] == "hello"
        assert statuses == [401, 401]
        assert (fake.socket_connections, fake.open_sockets) == (1, 1)


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_real_client_reconnects_after_disconnect(
    fake: FakeSlack, socket_client: Connected, reason: str
) -> None:
    """After Slack's disconnect message the real client fetches a new link and reconnects by
    itself; the old socket is gone and a delivery is acked on the new one."""
    await socket_client.client.connect()
    await fake.socket_connected()

    await fake.socket_disconnect(reason)
    await fake.socket_connected(2)
    answer = await fake.socket_deliver("interactive", {"type": "block_actions"})

    assert answer == {"text": "pong"}
    assert fake.open_sockets == 1
    # The client handles disconnect itself: its message listeners never see it.
    kinds = [message["type"] for message in socket_client.messages]
    assert kinds == ["hello", "hello", "interactive"]
    assert [call.status for call in fake.calls_to("apps.connections.open")] == [200, 200]


async def test_unacked_envelope_times_out_and_stray_acks_are_kept(fake: FakeSlack) -> None:
    """An envelope nobody acks raises TimeoutError; an ack for an unknown envelope is recorded
    and ignored; an ack without payload answers {}."""
    url = await open_link(fake)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.receive_json()  # hello
        with pytest.raises(TimeoutError, match="no ack"):
            await fake.socket_deliver("slash_commands", SLASH_COMMAND, timeout=0.2)
        late = await socket.receive_json()
        await socket.send_json({"envelope_id": "not-an-envelope"})
        await socket.send_json({"envelope_id": late["envelope_id"]})
        await fake.wait_for(lambda: len(fake.socket_acks) == 2, "the stray acks")

        delivery = asyncio.create_task(fake.socket_deliver("interactive", {"type": "x"}))
        envelope = await socket.receive_json()
        await socket.send_json({"envelope_id": envelope["envelope_id"]})

        assert await delivery == {}
        assert envelope["accepts_response_payload"] is True
        assert "retry_attempt" not in envelope
        assert [ack["envelope_id"] for ack in fake.socket_acks] == [
            "not-an-envelope",
            late["envelope_id"],
            envelope["envelope_id"],
        ]


async def test_deliver_without_a_connection_says_so(fake: FakeSlack) -> None:
    """socket_deliver with no open socket fails at once, naming the problem."""
    with pytest.raises(AssertionError, match="no Socket Mode connection is open"):
        await fake.socket_deliver("slash_commands", SLASH_COMMAND)


async def test_close_closes_open_sockets() -> None:
    """close() shuts open sockets from the server side: the client sees a close frame."""
    fake = FakeSlack()
    await fake.start()
    url = await open_link(fake)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.receive_json()  # hello
        closing = asyncio.create_task(socket.receive())

        await fake.close()

        message = await closing
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.GOING_AWAY
        assert fake.open_sockets == 0
