"""Medic's own actions: ``approval`` (handled by the runner) and ``incident.*``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from bot.actions import ActionKind, ActionParams, StepContext, StepResult, action
from bot.config import Duration
from bot.errors import PermanentError
from bot.models import Severity

APPROVAL = "approval"
DEFAULT_CONSENT_TIMEOUT = timedelta(minutes=15)
DEFAULT_VETO_TIMEOUT = timedelta(seconds=30)


class ApprovalParams(ActionParams):
    """``with:`` of an approval step (DESIGN §6)."""

    mode: Literal["consent", "veto"] = "consent"
    timeout: Duration | None = None
    prompt: str = ""
    on_timeout: Literal["reject", "escalate"] = "reject"
    four_eyes: bool = False

    def window(self) -> timedelta:
        """The timeout, or the mode's default (consent 15m, veto 30s)."""
        if self.timeout is not None:
            return self.timeout
        return DEFAULT_CONSENT_TIMEOUT if self.mode == "consent" else DEFAULT_VETO_TIMEOUT


@action(APPROVAL, kind=ActionKind.CONTROL)
async def approval(ctx: StepContext, params: ApprovalParams) -> StepResult:
    """Approvals are waited for by the runner itself; this body is never the path taken."""
    raise PermanentError("approval steps are handled by the run engine")


class SetSeverityParams(ActionParams):
    """``incident.set_severity``."""

    severity: Severity


@action("incident.set_severity", kind=ActionKind.CONTROL)
async def set_severity(ctx: StepContext, params: SetSeverityParams) -> StepResult:
    """Change the incident's severity."""
    if ctx.incident is None:
        raise PermanentError("incident.set_severity needs an incident")
    before = await ctx.incident.set_severity(params.severity.value)
    return StepResult(
        output={"before": before, "after": params.severity.value},
        summary=f"severity {before} → {params.severity.value}",
    )


class EscalateParams(ActionParams):
    """``incident.escalate``."""

    reason: str = Field(min_length=1)


@action("incident.escalate", kind=ActionKind.CONTROL)
async def escalate(ctx: StepContext, params: EscalateParams) -> StepResult:
    """Escalate: pages PagerDuty when it is enabled, and always says so loudly."""
    if ctx.incident is None:
        raise PermanentError("incident.escalate needs an incident")
    paged = await ctx.incident.escalate(params.reason)
    return StepResult(
        output={"reason": params.reason, "paged": paged},
        summary=f"ESCALATED: {params.reason}",
    )


class NoteParams(ActionParams):
    """``incident.note``."""

    text: str = Field(min_length=1)


@action("incident.note", kind=ActionKind.CONTROL)
async def note(ctx: StepContext, params: NoteParams) -> StepResult:
    """Add a note to the incident's timeline."""
    if ctx.incident is None:
        raise PermanentError("incident.note needs an incident")
    await ctx.incident.note(params.text)
    return StepResult(output={"text": params.text}, summary=params.text)


class ResolveParams(ActionParams):
    """``incident.resolve``."""

    summary: str = ""


@action("incident.resolve", kind=ActionKind.CONTROL)
async def resolve(ctx: StepContext, params: ResolveParams) -> StepResult:
    """Resolve the incident."""
    if ctx.incident is None:
        raise PermanentError("incident.resolve needs an incident")
    await ctx.incident.resolve(params.summary)
    return StepResult(output={"summary": params.summary}, summary="incident resolved")
