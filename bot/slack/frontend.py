"""Slack as Medic's chat front end (narration, approvals, ``/incident``), started with the
app when the Slack integration's client is open. The integration itself (responders/slack)
is only the Web API client and ``slack.notify``; this human surface is Medic's core."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from aiohttp import web

from bot.actions.hooks import Service
from bot.clock import Clock
from bot.config import Settings
from bot.engine.approvals.directory import GroupDirectory, NoGroups
from bot.engine.replicas.lease import Replica
from bot.engine.safety.pause import PauseSwitch
from bot.playbooks.playbook import PlaybookSet
from bot.runtime import Runtime
from bot.slack.directory import SlackGroupDirectory
from bot.slack.inbound import SLACK
from bot.slack.mount import build_sync, mount_slack
from bot.slack.socket_mode import SlackSocket
from bot.slack.sync import SlackSync, SlackTiming
from bot.store import Database
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


def slack_delivery(
    clients: Mapping[str, object],
    *,
    db: Database,
    settings: Settings,
    playbooks: PlaybookSet,
    pause: PauseSwitch,
    clock: Clock,
    http: aiohttp.ClientSession,
    timing: SlackTiming,
    replica: Replica,
) -> SlackSync | None:
    """Slack delivery when the Slack client is open (not started yet), else None."""
    client = _client(clients)
    if client is None:
        return None
    return build_sync(
        client,
        db=db,
        settings=settings,
        playbooks=playbooks,
        pause=pause,
        clock=clock,
        http=http,
        timing=timing,
        replica=replica,
    )


async def start_slack(
    app: web.Application,
    runtime: Runtime,
    clients: Mapping[str, object],
    slack_sync: SlackSync | None,
) -> list[Service]:
    """Start Slack delivery and mount ``POST /slack/events`` and Socket Mode when the Slack
    client is open; the services started (to stop, last first)."""
    client = _client(clients)
    if client is None or slack_sync is None:
        return []
    started: list[Service] = []
    mount_slack(app, runtime, client, slack_sync)
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
