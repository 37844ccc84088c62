"""``slack.*`` actions. Their ``run`` arrives with the Slack responder's own issue; until then
the engine records dry runs from the ``describe_*`` sentences."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from responders.common import not_built, quoted
from responders.slack.const import SECURITY_CHANNEL, SYSTEM
from responders.slack.models import NotifyParams


def describe_notify(params: NotifyParams) -> str:
    """Dry-run sentence."""
    if params.channel is None:
        where = "the incident channel"
    elif params.channel == SECURITY_CHANNEL:
        where = "the security channel (slack.security_channel)"
    else:
        where = f"channel {params.channel}"
    return f"would post to {where}: {quoted(params.text)}"


@action("slack.notify", kind=ActionKind.WRITE, integration=SYSTEM, describe=describe_notify)
async def notify(ctx: StepContext, params: NotifyParams) -> StepResult:
    """Post a message."""
    raise not_built("slack.notify", SYSTEM)
