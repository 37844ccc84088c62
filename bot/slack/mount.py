"""Slack on a running Medic: its delivery (built before the engine, which asks it whether an
approval was shown and for an incident's channel) and ``POST /slack/events``."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.engine.replicas.lease import Replica
from bot.engine.safety.pause import PauseSwitch
from bot.playbooks.playbook import PlaybookSet
from bot.runtime import Runtime
from bot.slack.attachments import Attachments
from bot.slack.context import SlackContext
from bot.slack.inbound import SLACK, SlackSurface, build_bolt
from bot.slack.sync import SlackSync, SlackTiming
from bot.store import Database
from responders.slack.client import SlackClient


def build_sync(
    client: SlackClient,
    *,
    db: Database,
    settings: Settings,
    playbooks: PlaybookSet,
    pause: PauseSwitch,
    clock: Clock,
    http: aiohttp.ClientSession,
    timing: SlackTiming,
    replica: Replica,
) -> SlackSync:
    """Slack delivery for this replica (each incident's channel narrated by the replica
    holding its lease); the caller starts and stops it."""
    return SlackSync(
        db=db,
        client=client,
        settings=settings,
        playbooks=playbooks,
        pause=pause,
        clock=clock,
        attachments=Attachments(
            db=db, client=client, settings=settings, playbooks=playbooks, http=http, clock=clock
        ),
        timing=timing,
        narrates=replica.holds,
        recheck_s=replica.lease_seconds,
    )


def mount_slack(
    app: web.Application, runtime: Runtime, client: SlackClient, sync: SlackSync
) -> None:
    """Serve ``POST /slack/events`` on ``app``."""
    context = SlackContext(
        settings=runtime.settings,
        db=runtime.db,
        engine=runtime.engine,
        approvals=runtime.approvals,
        pause=runtime.pause,
        runs=runtime.runs,
        playbooks=runtime.playbooks,
        client=client,
        sync=sync,
    )
    app[SLACK] = SlackSurface(bolt=build_bolt(context))
