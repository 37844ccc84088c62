"""Mount Slack on a running Medic: delivery (sync + narrator) and ``POST /slack/events``."""

from __future__ import annotations

from aiohttp import web

from bot.clock import Clock
from bot.runtime import Runtime
from bot.slack.attachments import Attachments
from bot.slack.context import SlackContext
from bot.slack.inbound import SLACK, SlackSurface, build_bolt
from bot.slack.narrator import SlackNarrator
from bot.slack.sync import SlackSync, SlackTiming
from responders.slack.client import SlackClient


def mount_slack(
    app: web.Application,
    runtime: Runtime,
    client: SlackClient,
    clock: Clock,
    timing: SlackTiming,
) -> SlackSync:
    """Wire Slack into ``app``; the caller starts and stops the returned sync."""
    sync = SlackSync(
        db=runtime.db,
        client=client,
        settings=runtime.settings,
        playbooks=runtime.playbooks,
        pause=runtime.pause,
        clock=clock,
        attachments=Attachments(
            db=runtime.db,
            client=client,
            settings=runtime.settings,
            playbooks=runtime.playbooks,
            http=runtime.http,
            clock=clock,
        ),
        timing=timing,
        narrates=runtime.runs.replica.holds,
        recheck_s=runtime.runs.replica.lease_seconds,
    )
    runtime.narration.add(SlackNarrator(sync))
    runtime.engine.hub.shown = sync.approval_shown
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
    return sync
