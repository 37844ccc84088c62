"""``alertmanager.*`` actions. Their ``run`` arrives with the Alertmanager responder's own
issue; until then the engine records dry runs from the ``describe_*`` sentences."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.config import format_duration
from responders.alertmanager.const import SYSTEM
from responders.alertmanager.models import ExpireSilenceParams, SilenceParams
from responders.common import not_built, quoted


def describe_silence(params: SilenceParams) -> str:
    """Dry-run sentence."""
    comment = f" with comment {quoted(params.comment)}" if params.comment else ""
    return (
        f"would silence alerts matching {{{', '.join(params.matchers)}}} for "
        f"{format_duration(params.duration)} in Alertmanager{comment}"
    )


def describe_expire_silence(params: ExpireSilenceParams) -> str:
    """Dry-run sentence."""
    return f"would expire Alertmanager silence {params.silence_id}"


@action(
    "alertmanager.silence", kind=ActionKind.WRITE, integration=SYSTEM, describe=describe_silence
)
async def silence(ctx: StepContext, params: SilenceParams) -> StepResult:
    """Create a silence; the output carries its ``silence_id``."""
    raise not_built("alertmanager.silence", SYSTEM)


@action(
    "alertmanager.expire_silence",
    kind=ActionKind.WRITE,
    integration=SYSTEM,
    describe=describe_expire_silence,
)
async def expire_silence(ctx: StepContext, params: ExpireSilenceParams) -> StepResult:
    """Expire a silence."""
    raise not_built("alertmanager.expire_silence", SYSTEM)
