"""Play Slack's side in tests: sign requests with Slack's real algorithm, send slash commands
and button clicks to ``POST /slack/events``, and start Medic against the fake Slack
(fixtures ``fake_slack`` and ``slack_medic``, a pytest plugin of the root conftest)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from bot.slack.sync import SlackTiming

from enginekit import RecordingNarrator, write_playbooks
from fakes.slack import FakeMessage, FakeSlack
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-medic-test"
APPROVERS = ["U0APPROVER", "U0APPROVER2"]
ADMINS = ["U0ADMIN"]
INVITE = ["U0WATCHER"]

FAST = SlackTiming(
    sweep_s=0.05, retry_min_s=0.05, retry_max_s=0.2, post_interval_s=0.05, settle_s=0.5
)
"""Test timing: Slack's 1 msg/s/channel scaled down (the fake is told the same)."""


DISK_FULL = """
name: test
match: ['alertname="DiskFull"']
target: "host/{{ labels.instance }}"
steps:
  - id: evidence
    uses: prometheus.query
    with: {query: 'up'}
  - id: clean
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""
"""A two-step playbook (a read, then a write) for the DiskFull alert."""


CONSENT = """
name: test
match: ['alertname="DiskFull"']
target: "host/{{ labels.instance }}"
steps:
  - id: approve
    uses: approval
    with: {mode: {mode}, timeout: {timeout}, four_eyes: {four_eyes}, prompt: "Clean {{ target }}?"}
  - id: clean
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


def consent_playbook(mode: str = "consent", timeout: str = "10m", four_eyes: str = "false") -> str:
    """A DiskFull playbook that asks an approval (its mode, timeout and four eyes), then
    writes."""
    return (
        CONSENT.replace("{mode}", mode)
        .replace("{timeout}", timeout)
        .replace("{four_eyes}", four_eyes)
    )


async def fire_disk_full(client: TestClient[Any, Any], narrator: RecordingNarrator) -> str:
    """Fire the DiskFull alert; the id of the approval its run asks for."""
    payload = am_payload(am_alert("fp1", alertname="DiskFull", instance="db-1:9100"))
    assert (await client.post("/webhooks/alertmanager", json=payload, headers=bearer())).status
    requested = await narrator.wait_for("approval_requested")
    return str(requested.approval_id)


APPROVAL_WAIT_S = 30.0


async def approval_message(fake: FakeSlack, approval: str) -> FakeMessage:
    """The channel message with the buttons for ``approval``."""

    def find() -> FakeMessage | None:
        for channel in fake.channels.values():
            for message in channel.messages:
                if message.thread_ts is None and asks_for(message, approval):
                    return message
        return None

    return await fake.wait_for(find, f"the message asking for {approval}", APPROVAL_WAIT_S)


def asks_for(message: FakeMessage, approval: str) -> bool:
    """The message carries a button for ``approval``."""
    return f'"value": "{approval}"' in json.dumps(message.blocks)


def slack_section(fake: FakeSlack, **overrides: Any) -> dict[str, Any]:
    """The ``slack:`` settings pointing Medic at ``fake``."""
    return {
        "enabled": True,
        "api_url": fake.url,
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "approvers": APPROVERS,
        "admins": ADMINS,
        "invite": INVITE,
        **overrides,
    }


def signed(body: str, *, secret: str = SIGNING_SECRET, at: float | None = None) -> dict[str, str]:
    """Slack's headers for ``body``: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    timestamp = str(int(time.time() if at is None else at))
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_fields(
    text: str, *, user: str = "U0ONCALL1", channel: str = "C0INCIDENTS", trigger: str | None = None
) -> dict[str, str]:
    """The fields of ``/incident <text>`` (a form over HTTP, a payload over Socket Mode)."""
    return {
        "token": "deprecated-verification-token",
        "team_id": "T0001",
        "team_domain": "dwcp",
        "channel_id": channel,
        "channel_name": "somewhere",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/incident",
        "text": text,
        "api_app_id": "A0MEDIC",
        "response_url": "https://hooks.slack.invalid/commands/T0001/1/x",
        "trigger_id": trigger or f"trigger-{uuid.uuid4()}",
    }


def command_body(
    text: str, *, user: str = "U0ONCALL1", channel: str = "C0INCIDENTS", trigger: str | None = None
) -> str:
    """The urlencoded form of ``/incident <text>``."""
    return urlencode(command_fields(text, user=user, channel=channel, trigger=trigger))


def click_payload(
    approval_id: str,
    *,
    user: str,
    channel: str,
    approve: bool = True,
    message_ts: str = "1732417200.000200",
    trigger: str | None = None,
    response_url: str = "https://hooks.slack.invalid/actions/T0001/1/x",
) -> dict[str, Any]:
    """The ``block_actions`` payload of a click on Medic's Approve or Reject button."""
    action = "medic_approve" if approve else "medic_reject"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0MEDIC",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "trigger_id": trigger or f"trigger-{uuid.uuid4()}",
        "team": {"id": "T0001", "domain": "dwcp"},
        "channel": {"id": channel, "name": "inc"},
        "message": {"type": "message", "ts": message_ts, "text": "Approval needed"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action,
                "block_id": f"approval-{approval_id}",
                "type": "button",
                "value": approval_id,
                "action_ts": "1732417260.123456",
            }
        ],
    }


def click_body(approval_id: str, **fields: Any) -> str:
    """The interactivity POST of a click on Medic's Approve or Reject button (see
    :func:`click_payload` for the fields)."""
    return urlencode({"payload": json.dumps(click_payload(approval_id, **fields))})


async def send(
    client: TestClient[Any, Any], body: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """POST a signed (by default) body to ``/slack/events``; status and text."""
    response = await client.post("/slack/events", data=body, headers=headers or signed(body))
    return response.status, await response.text()


async def command(
    client: TestClient[Any, Any],
    text: str,
    *,
    user: str = "U0ONCALL1",
    channel: str = "C0INCIDENTS",
) -> dict[str, Any]:
    """Run ``/incident <text>``; the JSON reply (``text``, ``response_type``)."""
    status, raw = await send(client, command_body(text, user=user, channel=channel))
    assert status == 200, raw
    reply: dict[str, Any] = json.loads(raw)
    return reply


async def click(
    client: TestClient[Any, Any],
    approval_id: str,
    *,
    user: str,
    channel: str,
    fake: FakeSlack,
    approve: bool = True,
) -> int:
    """Click Approve (or Reject) as ``user``; the HTTP status. Replies to the click land in
    ``fake.responses[user]``."""
    body = click_body(
        approval_id,
        user=user,
        channel=channel,
        approve=approve,
        response_url=fake.response_url(user),
    )
    status, _ = await send(client, body)
    return status


PEOPLE = [*APPROVERS, *ADMINS, *INVITE, "U0ONCALL1", "U0STRANGER", "U0GROUPIE"]
GROUPS = {"S0ONCALL": ["U0GROUPIE"]}

SlackMedic = Callable[..., Awaitable[tuple[TestClient[Any, Any], RecordingNarrator]]]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API (1 post per 50 ms per channel, matching ``FAST``)."""
    fake = FakeSlack(
        bot_token=BOT_TOKEN, usergroups=GROUPS, users=PEOPLE, post_interval_s=FAST.post_interval_s
    )
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def slack_medic(
    start_medic: StartMedic, fake_slack: FakeSlack, store_url: str, tmp_path: Path
) -> SlackMedic:
    """``await slack_medic(playbook_yaml=None, timing=FAST, **settings_sections)``: Medic
    with Slack enabled against ``fake_slack``; a playbook named ``test`` when given."""

    async def start(
        playbook: str | None = None,
        *,
        timing: SlackTiming = FAST,
        slack: dict[str, Any] | None = None,
        **sections: dict[str, Any],
    ) -> tuple[TestClient[Any, Any], RecordingNarrator]:
        narrator = RecordingNarrator()
        extra: dict[str, dict[str, Any]] = {}
        if playbook is not None:
            extra["playbooks"] = {"dirs": [str(write_playbooks(tmp_path / "pb", test=playbook))]}
        settings = make_settings(
            store_url,
            server={"api_token": API_TOKEN},
            slack=slack_section(fake_slack, **(slack or {})),
            **extra,
            **sections,
        )
        client = await start_medic(settings, narrators=[narrator], slack_timing=timing)
        return client, narrator

    return start
