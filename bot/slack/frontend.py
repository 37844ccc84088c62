"""Slack as Medic's chat front end (narration, approvals, ``/incident``), started with the
app when the Slack integration's client is open. The integration itself (responders/slack)
is only the Web API client and ``slack.notify``; this human surface is Medic's core."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.actions.hooks import Service
from bot.clock import Clock
from bot.engine.directory import GroupDirectory, NoGroups
from bot.runtime import Runtime
from bot.slack.directory import SlackGroupDirectory
from bot.slack.inbound import SLACK
from bot.slack.mount import mount_slack
from bot.slack.socket_mode import SlackSocket
from bot.slack.sync import SlackTiming
from responders.slack.client import SlackClient
from responders.slack.integration import CALL_TIMEOUT, POST_INTERVAL


def client_tuning(timing: SlackTiming) -> dict[str, float]:
    """The Slack client's ``ClientSetup.tuning`` knobs, from ``timing``."""
    return {POST_INTERVAL: timing.post_interval_s, CALL_TIMEOUT: timing.call_timeout_s}


def group_directory(
    given: GroupDirectory | None, clients: Mapping[str, object], timing: SlackTiming
) -> GroupDirectory:
    """The directory for ``slack.approver_groups``: the one given, else Slack's when its
    client is open."""
    if given is not None:
        return given
    client = _client(clients)
    if client is not None:
        return SlackGroupDirectory(client, timing.group_cache_s)
    return NoGroups()


async def start_slack(
    app: web.Application,
    runtime: Runtime,
    clients: Mapping[str, object],
    clock: Clock,
    timing: SlackTiming,
) -> list[Service]:
    """Mount and start Slack delivery, ``POST /slack/events`` and Socket Mode when the Slack
    client is open; the services started (to stop, last first)."""
    client = _client(clients)
    if client is None:
        return []
    started: list[Service] = []
    slack_sync = mount_slack(app, runtime, client, clock, timing)
    runtime.metrics.slack_failures = lambda: slack_sync.failed_deliveries
    await slack_sync.start()
    started.append(slack_sync)
    if runtime.settings.slack.app_token is not None:
        socket = SlackSocket(app[SLACK].bolt, runtime.settings.slack.app_token.get_secret_value())
        await socket.start()
        started.append(socket)
    return started


def _client(clients: Mapping[str, object]) -> SlackClient | None:
    client = clients.get("slack")
    return client if isinstance(client, SlackClient) else None
