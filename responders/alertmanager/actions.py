"""``alertmanager.silence`` and ``alertmanager.expire_silence`` (Alertmanager API v2)."""

from __future__ import annotations

from datetime import UTC

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.config import format_duration
from bot.errors import PermanentError
from responders.alertmanager.client import AlertmanagerClient
from responders.alertmanager.const import SYSTEM
from responders.alertmanager.models import (
    ExpireSilenceOutput,
    ExpireSilenceParams,
    SilenceOutput,
    SilenceParams,
    parse_matcher,
)
from responders.alertmanager.silence_ledger import SilenceRecord
from responders.common import quoted


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


def client_for(ctx: StepContext) -> AlertmanagerClient:
    """The shared client (it remembers what it silences), else one on ``ctx.http`` for
    ``alertmanager.url``; PermanentError when that is unset."""
    shared = ctx.clients.get(SYSTEM)
    if isinstance(shared, AlertmanagerClient):
        return shared
    url = ctx.settings.alertmanager.url
    if not url:
        raise PermanentError("alertmanager.url is not set")
    return AlertmanagerClient(ctx.http, url)


def silence_comment(ctx: StepContext, params: SilenceParams) -> str:
    """``Medic INC-3 (RUN-5): <the params' comment, or which step silenced>``."""
    reason = params.comment or f"silenced by step {ctx.step_id} while Medic handles the incident"
    return f"Medic {ctx.incident_id} ({ctx.run_id}): {reason}"


@action(
    "alertmanager.silence",
    kind=ActionKind.WRITE,
    integration=SYSTEM,
    describe=describe_silence,
    output=SilenceOutput,
)
async def silence(ctx: StepContext, params: SilenceParams) -> StepResult:
    """Silence alerts matching every matcher from now for ``duration``; the output carries
    the ``silence_id``. Medic remembers the silence and expires it when the incident
    resolves."""
    try:
        matchers = [parse_matcher(text) for text in params.matchers]
    except ValueError as err:
        raise PermanentError(f"matchers: {err}") from err
    starts_at = ctx.now()
    ends_at = starts_at + params.duration
    comment = silence_comment(ctx, params)
    texts = tuple(m.text() for m in matchers)
    output: dict[str, object] = {
        "matchers": list(texts),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "comment": comment,
    }
    if ctx.dry_run:
        would = describe_silence(params)
        return StepResult(output={**output, "would": would}, summary=would, dry_run=True)
    client = client_for(ctx)
    silence_id = await client.create_silence(matchers, starts_at, ends_at, comment)
    await client.ledger.created(
        SilenceRecord(
            silence_id=silence_id,
            incident_id=ctx.incident_id,
            run_id=ctx.run_id,
            step_id=ctx.step_id,
            matchers=texts,
            created_at=starts_at,
            expires_at=ends_at,
        )
    )
    return StepResult(
        output={"silence_id": silence_id, **output},
        summary=(
            f"silence {silence_id} mutes {{{', '.join(texts)}}} until "
            f"{ends_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        ),
    )


@action(
    "alertmanager.expire_silence",
    kind=ActionKind.WRITE,
    integration=SYSTEM,
    describe=describe_expire_silence,
    output=ExpireSilenceOutput,
)
async def expire_silence(ctx: StepContext, params: ExpireSilenceParams) -> StepResult:
    """Expire a silence; a silence Alertmanager does not know fails the step."""
    if ctx.dry_run:
        would = describe_expire_silence(params)
        return StepResult(
            output={"silence_id": params.silence_id, "would": would}, summary=would, dry_run=True
        )
    client = client_for(ctx)
    if not await client.expire_silence(params.silence_id):
        raise PermanentError(f"Alertmanager has no silence {params.silence_id}")
    await client.ledger.expired(params.silence_id, f"step {ctx.step_id} of {ctx.run_id}")
    return StepResult(
        output={"silence_id": params.silence_id, "expired": True},
        summary=f"silence {params.silence_id} expired",
    )
