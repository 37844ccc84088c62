"""``slack.*`` actions: ``slack.notify`` posts to a named channel (the security channel, a
channel id or ``#name``, or the incident's own) with a link back to the incident channel."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.errors import PermanentError, RetryableError
from responders.common import quoted
from responders.common import slack_escape as escape
from responders.slack.client import SlackClient
from responders.slack.const import SECURITY_CHANNEL, SYSTEM
from responders.slack.models import NotifyOutput, NotifyParams


def describe_notify(params: NotifyParams) -> str:
    """Dry-run sentence."""
    if params.channel is None:
        where = "the incident channel"
    elif params.channel == SECURITY_CHANNEL:
        where = "the security channel (slack.security_channel)"
    else:
        where = f"channel {params.channel}"
    return f"would post to {where}: {quoted(params.text)}"


@action(
    "slack.notify",
    kind=ActionKind.NOTIFY,
    integration=SYSTEM,
    describe=describe_notify,
    output=NotifyOutput,
)
async def notify(ctx: StepContext, params: NotifyParams) -> StepResult:
    """Post ``text`` to a channel, with a link back to the incident channel."""
    client = ctx.clients.get(SYSTEM)
    if not isinstance(client, SlackClient):
        raise PermanentError("slack.notify: Slack is not enabled")
    if ctx.dry_run:  # touches nothing in Slack, not even the incident channel
        return StepResult(
            dry_run=True,
            output={"would": describe_notify(params), "text": params.text},
            summary=describe_notify(params),
        )
    incident_channel = ctx.slack_channel
    if incident_channel is None and ctx.open_incident_channel is not None:
        incident_channel = await ctx.open_incident_channel()
    channel = _channel(client, params, incident_channel)
    text = f"*{ctx.incident_id}* {escape(params.text)}"
    if incident_channel and channel != incident_channel:
        text += f"\n(from the incident channel <#{incident_channel}>)"
    ts = await client.post(channel, text)
    return StepResult(
        output={"channel": channel, "ts": ts, "text": text},
        summary=f"posted to {channel}",
    )


def _channel(client: SlackClient, params: NotifyParams, incident_channel: str | None) -> str:
    if params.channel is None:
        if incident_channel is None:
            raise RetryableError("slack.notify: the incident has no Slack channel yet")
        return incident_channel
    if params.channel == SECURITY_CHANNEL:
        if client.security_channel is None:
            raise PermanentError("slack.notify: channel 'security' needs slack.security_channel")
        return client.security_channel
    return params.channel
