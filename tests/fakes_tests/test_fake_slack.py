"""The fake Slack Web API, driven by slack_sdk's real ``AsyncWebClient``: Slack's checks and
answer shapes, its per-channel post rate limit, scripted outages and the upload flow."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from fakes.slack import BOT_TOKEN, FakeChannel, FakeSlack

BOT = "UMEDICBOT"
ALICE = "U0ALICE"
BOB = "U0BOB"

StartFake = Callable[..., Awaitable[FakeSlack]]


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    """Start fakes with the given constructor arguments; all are closed after the test."""
    started: list[FakeSlack] = []

    async def start(**kwargs: Any) -> FakeSlack:
        kwargs.setdefault("post_interval_s", 0.0)
        fake = FakeSlack(**kwargs)
        await fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.close()


@pytest.fixture
async def fake(start_fake: StartFake) -> FakeSlack:
    """A fake knowing Alice and Bob, with no post rate limit (tests of the limit make their own)."""
    return await start_fake(users=[ALICE, BOB], usergroups={"S0ONCALL": [ALICE, BOB]})


def client(fake: FakeSlack, token: str | None = BOT_TOKEN, **kwargs: Any) -> AsyncWebClient:
    """slack_sdk's client pointed at the fake."""
    return AsyncWebClient(token=token, base_url=fake.url, **kwargs)


async def refusal(call: Awaitable[Any]) -> SlackApiError:
    """The SlackApiError ``call`` raises."""
    with pytest.raises(SlackApiError) as raised:
        await call
    return raised.value


async def incident_channel(fake: FakeSlack, name: str = "inc-20250101-db-down") -> FakeChannel:
    """A channel created by the bot through the API."""
    await client(fake).conversations_create(name=name)
    channel = fake.channel_named(name)
    assert channel is not None
    return channel


async def test_auth_test_answers_the_bot_identity(fake: FakeSlack) -> None:
    """auth.test answers Slack's shape with the bot user and bot id."""
    answer = await client(fake).auth_test()

    assert answer.status_code == 200
    assert answer["ok"] is True
    assert answer["user_id"] == BOT
    assert {"url", "team", "user", "team_id", "bot_id"} <= set(answer.data)
    assert fake.url.endswith("/api/")


@pytest.mark.parametrize(
    ("token", "error"), [(None, "not_authed"), ("xoxb-somebody-else", "invalid_auth")]
)
async def test_bad_token_is_refused_with_http_200(
    fake: FakeSlack, token: str | None, error: str
) -> None:
    """A missing or wrong token gets ok=false (HTTP 200, as Slack does), changes nothing and
    is still recorded."""
    refused = await refusal(client(fake, token).conversations_create(name="inc-x"))

    assert refused.response.status_code == 200
    assert refused.response["error"] == error
    assert fake.channels == {}
    assert [(c.method, c.status) for c in fake.calls] == [("conversations.create", 200)]


async def test_token_may_come_as_a_form_field(fake: FakeSlack) -> None:
    """Slack also takes the token as a POST parameter; it is kept out of the recorded args."""
    answer = await client(fake, token=None).api_call(
        "auth.test", data={"token": BOT_TOKEN, "extra": "1"}
    )

    assert answer["ok"] is True
    assert fake.calls[0].args == {"extra": "1"}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc-DB", "invalid_name_specials"),
        ("inc db", "invalid_name_specials"),
        ("inc.db", "invalid_name_specials"),
        ("inc#1", "invalid_name_specials"),
        ("--__", "invalid_name_punctuation"),
    ],
)
async def test_channel_name_rules(fake: FakeSlack, name: str, error: str) -> None:
    """conversations.create refuses names outside lowercase letters, digits, - and _, empty,
    longer than 80, or only punctuation, with Slack's error codes."""
    refused = await refusal(client(fake).conversations_create(name=name))

    assert refused.response["error"] == error
    assert fake.channels == {}


async def test_create_answers_a_channel_the_bot_is_in_and_names_are_unique(
    fake: FakeSlack,
) -> None:
    """A valid 80-character name is accepted; the answer is a channel object; the same name
    again, or a pre-existing channel's name, is name_taken."""
    name = "inc-" + "a" * 76
    answer = await client(fake).conversations_create(name=name)

    channel = answer["channel"]
    assert channel["id"].startswith("C")
    assert (channel["name"], channel["creator"], channel["is_channel"]) == (name, BOT, True)
    assert isinstance(channel["created"], int)
    assert fake.channels[channel["id"]].members == {BOT}
    refused = await refusal(client(fake).conversations_create(name=name))
    assert refused.response["error"] == "name_taken"
    fake.add_channel("security")
    refused = await refusal(client(fake).conversations_create(name="security"))
    assert refused.response["error"] == "name_taken"


async def test_invite_rules(fake: FakeSlack) -> None:
    """conversations.invite adds the users; it refuses unknown channels and users, the bot
    itself, and a list whose users are all members already."""
    channel = await incident_channel(fake)
    slack = client(fake)

    answer = await slack.conversations_invite(channel=channel.id, users=[ALICE])
    assert answer["channel"]["id"] == channel.id
    assert channel.members == {BOT, ALICE}
    await slack.conversations_invite(channel=channel.id, users=[ALICE, BOB])
    assert channel.members == {BOT, ALICE, BOB}
    for target, users, error in [
        (channel.id, [ALICE, BOB], "already_in_channel"),
        (channel.id, ["U0NOBODY"], "user_not_found"),
        (channel.id, [BOT], "cant_invite_self"),
        ("C0MISSING", [ALICE], "channel_not_found"),
    ]:
        refused = await refusal(slack.conversations_invite(channel=target, users=users))
        assert refused.response["error"] == error


async def test_invite_accepts_any_user_when_users_are_not_given(start_fake: StartFake) -> None:
    """Without a ``users`` list, every user id exists."""
    fake = await start_fake()
    channel = await incident_channel(fake)

    await client(fake).conversations_invite(channel=channel.id, users="U0ANYONE,U0OTHER")

    assert channel.members == {BOT, "U0ANYONE", "U0OTHER"}


async def test_set_topic_up_to_250_characters(fake: FakeSlack) -> None:
    """conversations.setTopic keeps a 250-character topic and refuses 251 with too_long."""
    channel = await incident_channel(fake)

    answer = await client(fake).conversations_setTopic(channel=channel.id, topic="t" * 250)

    assert answer["channel"]["topic"]["value"] == "t" * 250
    refused = await refusal(
        client(fake).conversations_setTopic(channel=channel.id, topic="x" * 251)
    )
    assert refused.response["error"] == "too_long"
    assert channel.topic == "t" * 250


async def test_post_thread_update_pin(fake: FakeSlack) -> None:
    """A status message is posted, replied to in its thread, edited in place and pinned, with
    Slack's answer shapes; ts values are unique and increasing."""
    channel = await incident_channel(fake)
    slack = client(fake)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*DB down*"}}]

    status = await slack.chat_postMessage(channel=channel.id, text="DB down", blocks=blocks)
    reply = await slack.chat_postMessage(channel=channel.id, text="step 1", thread_ts=status["ts"])
    nested = await slack.chat_postMessage(channel=channel.id, text="step 2", thread_ts=reply["ts"])
    edited = await slack.chat_update(channel=channel.id, ts=status["ts"], text="DB up", blocks=[])
    await slack.pins_add(channel=channel.id, timestamp=status["ts"])

    assert (status["channel"], status["message"]["text"]) == (channel.id, "DB down")
    assert status["message"]["blocks"] == blocks
    assert reply["message"]["thread_ts"] == status["ts"]
    assert status["ts"] < reply["ts"] < nested["ts"]
    assert (edited["channel"], edited["ts"], edited["text"]) == (channel.id, status["ts"], "DB up")
    [top] = fake.top_level(channel.id)
    assert (top.text, top.blocks, top.edits, top.user) == ("DB up", [], 1, BOT)
    assert [m.text for m in fake.thread(channel.id, status["ts"])] == ["step 1", "step 2"]
    assert channel.pins == {status["ts"]}
    refused = await refusal(slack.pins_add(channel=channel.id, timestamp=status["ts"]))
    assert refused.response["error"] == "already_pinned"


async def test_update_without_blocks_keeps_or_drops_them_as_slack_does(fake: FakeSlack) -> None:
    """chat.update with blocks only keeps the text; with text only it drops the blocks."""
    channel = await incident_channel(fake)
    slack = client(fake)
    first = [{"type": "section", "text": {"type": "plain_text", "text": "one"}}]
    second = [{"type": "section", "text": {"type": "plain_text", "text": "two"}}]
    posted = await slack.chat_postMessage(channel=channel.id, text="fallback", blocks=first)

    await slack.api_call(
        "chat.update", json={"channel": channel.id, "ts": posted["ts"], "blocks": second}
    )
    [message] = fake.top_level(channel.id)
    assert (message.text, message.blocks) == ("fallback", second)
    await slack.chat_update(channel=channel.id, ts=posted["ts"], text="plain")
    assert (message.text, message.blocks, message.edits) == ("plain", [], 2)


async def test_message_refusals(fake: FakeSlack) -> None:
    """Posting needs a known channel the bot is in, some text or blocks, an existing thread and
    valid blocks; updating and pinning need an existing message."""
    channel = await incident_channel(fake)
    outside = fake.add_channel("elsewhere", bot_member=False)
    slack = client(fake)
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    cases = [
        (slack.chat_postMessage(channel="C0MISSING", text="hi"), "channel_not_found"),
        (slack.chat_postMessage(channel=outside.id, text="hi"), "not_in_channel"),
        (slack.api_call("chat.postMessage", json={"channel": channel.id}), "no_text"),
        (
            slack.chat_postMessage(channel=channel.id, text="hi", thread_ts="1.2"),
            "thread_not_found",
        ),
        (
            slack.chat_postMessage(channel=channel.id, text="x", blocks=long_section),
            "invalid_blocks",
        ),
        (slack.chat_update(channel=channel.id, ts="1.2", text="x"), "message_not_found"),
        (slack.pins_add(channel=channel.id, timestamp="1.2"), "message_not_found"),
    ]
    for call, error in cases:
        refused = await refusal(call)
        assert refused.response["error"] == error
    assert channel.messages == []
    assert outside.messages == []


async def test_form_encoded_blocks_and_channel_names(fake: FakeSlack) -> None:
    """A form-encoded post with blocks as a JSON string is stored with parsed blocks; a post may
    name its channel as Slack allows (``#name``); the answer carries the channel id."""
    channel = await incident_channel(fake, "sec-notices")
    blocks = [{"type": "divider"}]

    answer = await client(fake).api_call(
        "chat.postMessage", data={"channel": "#sec-notices", "blocks": json.dumps(blocks)}
    )

    assert answer["channel"] == channel.id
    [message] = fake.top_level("sec-notices")
    assert message.blocks == blocks
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == blocks


async def test_second_post_within_the_interval_is_429_with_retry_after(
    start_fake: StartFake,
) -> None:
    """With Slack's 1 message/s/channel, a second post to the same channel at once answers HTTP
    429, Retry-After (whole seconds, at least 1) and ratelimited, and is not stored; a post to
    another channel is accepted."""
    fake = await start_fake(post_interval_s=1.0)
    first = await incident_channel(fake, "inc-one")
    second = await incident_channel(fake, "inc-two")
    slack = client(fake)

    await slack.chat_postMessage(channel=first.id, text="a")
    refused = await refusal(slack.chat_postMessage(channel=first.id, text="b"))
    await slack.chat_postMessage(channel=second.id, text="c")

    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "1"
    assert refused.response["error"] == "ratelimited"
    assert [m.text for m in first.messages] == ["a"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 429, 200]
    assert fake.posts_per_channel() == {first.id: 1, second.id: 1}
    assert fake.max_posts_per_second(first.id) == 1


async def test_post_after_the_interval_is_accepted_and_counted(start_fake: StartFake) -> None:
    """Once the interval has passed a post to the same channel is accepted again; both count in
    the same 1-second window."""
    fake = await start_fake(post_interval_s=0.05)
    channel = await incident_channel(fake)
    slack = client(fake)
    await slack.chat_postMessage(channel=channel.id, text="a")
    posted_at = fake.calls_to("chat.postMessage")[0].at

    await fake.wait_for(lambda: time.monotonic() - posted_at > 0.05, "the post interval to pass")
    await slack.chat_postMessage(channel=channel.id, text="b")

    assert [m.text for m in fake.top_level(channel.id)] == ["a", "b"]
    assert fake.max_posts_per_second(channel.id) == 2


async def test_rate_limit_next_then_the_sdk_retry_handler_gets_through(fake: FakeSlack) -> None:
    """rate_limit_next makes the next calls of one method answer 429 with the given
    Retry-After; slack_sdk's rate-limit retry handler honours it and succeeds after."""
    channel = await incident_channel(fake)
    fake.rate_limit_next("chat.postMessage", 1, retry_after=0)
    retrying = client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])

    answer = await retrying.chat_postMessage(channel=channel.id, text="hi")

    assert answer["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(channel.messages) == 1
    fake.rate_limit_next("auth.test", 1, retry_after=7)
    refused = await refusal(client(fake).auth_test())
    assert refused.response.headers["Retry-After"] == "7"


async def test_go_down_then_back_up(fake: FakeSlack) -> None:
    """While down every call answers the scripted HTTP status and changes nothing; after
    back_up calls work again."""
    fake.go_down(503)
    refused = await refusal(client(fake).conversations_create(name="inc-down"))

    assert refused.response.status_code == 503
    assert fake.channels == {}
    fake.back_up()
    await client(fake).conversations_create(name="inc-down")
    assert [c.status for c in fake.calls] == [503, 200]


async def test_hang_times_clients_out_until_back_up(fake: FakeSlack) -> None:
    """While hung a call gets no answer (a client with a short timeout gives up) and has no
    effect; back_up answers the held call 503, and new calls work."""
    fake.hang()

    with pytest.raises(TimeoutError):
        await client(fake, timeout=0.2).auth_test()
    held = asyncio.create_task(client(fake).conversations_create(name="inc-hung"))
    [call] = await fake.wait_for(lambda: fake.calls_to("conversations.create"), "the held call")

    assert (call.status, fake.channels) == (0, {})
    fake.back_up()
    refused = await refusal(held)
    assert refused.response.status_code == 503
    assert fake.calls_to("conversations.create")[0].status == 503
    await client(fake).conversations_create(name="inc-hung")
    assert len(fake.channels) == 1


async def test_ephemeral_messages_go_to_channel_members(fake: FakeSlack) -> None:
    """chat.postEphemeral records the message and answers message_ts; a user outside the
    channel is user_not_in_channel, as in Slack."""
    channel = await incident_channel(fake)
    slack = client(fake)
    await slack.conversations_invite(channel=channel.id, users=[ALICE])

    answer = await slack.chat_postEphemeral(channel=channel.id, user=ALICE, text="not allowed")
    refused = await refusal(slack.chat_postEphemeral(channel=channel.id, user=BOB, text="no"))

    assert answer["message_ts"]
    assert [(e["user"], e["text"]) for e in fake.ephemerals] == [(ALICE, "not allowed")]
    assert refused.response["error"] == "user_not_in_channel"


async def test_usergroups_and_users(fake: FakeSlack) -> None:
    """usergroups.users.list answers the group's members or no_such_subteam; users.info answers
    a user object or user_not_found."""
    slack = client(fake)

    members = await slack.usergroups_users_list(usergroup="S0ONCALL")
    missing = await refusal(slack.usergroups_users_list(usergroup="S0NOPE"))
    user = await slack.users_info(user=ALICE)
    stranger = await refusal(slack.users_info(user="U0NOBODY"))

    assert sorted(members["users"]) == [ALICE, BOB]
    assert missing.response["error"] == "no_such_subteam"
    assert user["user"]["id"] == ALICE
    assert {"name", "real_name"} <= set(user["user"])
    assert "display_name" in user["user"]["profile"]
    assert stranger.response["error"] == "user_not_found"


async def test_conversations_info_and_paginated_list(fake: FakeSlack) -> None:
    """conversations.info answers the channel; conversations.list pages with next_cursor and
    leaves archived channels out when asked."""
    channels = [await incident_channel(fake, f"inc-{n}") for n in range(3)]
    channels[2].is_archived = True
    slack = client(fake)

    info = await slack.conversations_info(channel=channels[0].id)
    first = await slack.conversations_list(limit=2)
    rest = await slack.conversations_list(limit=2, cursor=first["response_metadata"]["next_cursor"])
    live = await slack.conversations_list(exclude_archived=True)

    assert info["channel"]["name"] == "inc-0"
    assert [c["name"] for c in first["channels"]] == ["inc-0", "inc-1"]
    assert [c["name"] for c in rest["channels"]] == ["inc-2"]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert [c["name"] for c in live["channels"]] == ["inc-0", "inc-1"]


async def test_upload_flow(fake: FakeSlack) -> None:
    """files_upload_v2 (getUploadURLExternal, POST of the bytes, completeUploadExternal) shares
    the file into a thread; the fake records name, title, bytes, channel and thread."""
    channel = await incident_channel(fake)
    slack = client(fake)
    parent = await slack.chat_postMessage(channel=channel.id, text="status")

    answer = await slack.files_upload_v2(
        channel=channel.id,
        thread_ts=parent["ts"],
        content=b"pod-1 OOMKilled\n",
        filename="logs.txt",
        title="Pod logs",
    )

    [upload] = fake.uploads
    assert answer["files"][0]["id"] == upload.file_id
    assert (upload.filename, upload.title, upload.content) == (
        "logs.txt",
        "Pod logs",
        b"pod-1 OOMKilled\n",
    )
    assert (upload.channel_id, upload.thread_ts) == (channel.id, parent["ts"])
    methods = [c.method for c in fake.calls[-3:]]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


async def test_response_url_bodies_are_recorded(fake: FakeSlack) -> None:
    """JSON posted to a response URL lands in ``responses`` under its key."""
    url = fake.response_url("click-1")

    async with aiohttp.ClientSession() as session, session.post(url, json={"text": "ok"}) as resp:
        assert resp.status == 200

    assert fake.responses["click-1"] == [{"text": "ok"}]
    assert fake.response_url("click-1") == url


async def test_unknown_method(fake: FakeSlack) -> None:
    """A method Slack does not have answers unknown_method."""
    refused = await refusal(client(fake).api_call("chat.shout", json={"text": "hi"}))

    assert refused.response["error"] == "unknown_method"
