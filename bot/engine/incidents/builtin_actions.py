"""Medic's own actions: ``approval`` (handled by the runner) and ``incident.*``.

Kinds: ``approval``, ``incident.set_severity`` and ``incident.resolve`` are ``control`` (their
effect commits in the same transaction as the step's outcome, so a crash never leaves one
half done); ``incident.note`` and ``incident.escalate`` are ``notify`` (they tell humans, also
while paused; escalating pages PagerDuty when it is enabled).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, model_validator

from bot.actions import ActionKind, ActionOutput, ActionParams, StepContext, StepResult, action
from bot.config import Duration
from bot.errors import PermanentError
from bot.models import Severity

APPROVAL = "approval"
DEFAULT_CONSENT_TIMEOUT = timedelta(minutes=15)
DEFAULT_VETO_TIMEOUT = timedelta(seconds=30)


class ApprovalParams(ActionParams):
    """``with:`` of an approval step."""

    mode: Literal["consent", "veto"] = "consent"
    timeout: Duration | None = None
    prompt: str = ""
    on_timeout: Literal["reject", "escalate"] = "reject"
    four_eyes: bool = False

    @model_validator(mode="after")
    def _four_eyes_needs_consent(self) -> Self:
        if self.four_eyes and self.mode == "veto":
            raise ValueError(
                "four_eyes needs mode: consent (a veto window passes with nobody deciding, "
                "so it can never mean two people agreed)"
            )
        return self

    def window(self) -> timedelta:
        """The timeout, or the mode's default (consent 15m, veto 30s)."""
        if self.timeout is not None:
            return self.timeout
        return DEFAULT_CONSENT_TIMEOUT if self.mode == "consent" else DEFAULT_VETO_TIMEOUT


class ApprovalOutput(ActionOutput):
    """``approval``: the approval's id, how it ended and who decided."""

    approval: str = ""
    status: str = ""
    decided_by: str | None = None


@action(APPROVAL, kind=ActionKind.CONTROL, output=ApprovalOutput)
async def approval(ctx: StepContext, params: ApprovalParams) -> StepResult:
    """Wait for humans (consent or veto) before the steps after it; the run engine itself
    waits, this body is never called."""
    raise PermanentError("approval steps are handled by the run engine")


class SetSeverityParams(ActionParams):
    """``incident.set_severity``."""

    severity: Severity


class SeverityOutput(ActionOutput):
    """``incident.set_severity``: the severity before and after."""

    before: str = ""
    after: str = ""


@action("incident.set_severity", kind=ActionKind.CONTROL, output=SeverityOutput)
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
    page: bool = True
    """False: say it loudly without paging (the alert already reached PagerDuty)."""


class EscalateOutput(ActionOutput):
    """``incident.escalate``: the reason, and whether a pager was reached."""

    reason: str = ""
    paged: bool = False


@action("incident.escalate", kind=ActionKind.NOTIFY, output=EscalateOutput)
async def escalate(ctx: StepContext, params: EscalateParams) -> StepResult:
    """Escalate: pages PagerDuty when it is enabled (and ``page`` is true), and always says
    so loudly."""
    if ctx.incident is None:
        raise PermanentError("incident.escalate needs an incident")
    escalation = await ctx.incident.escalate(params.reason, page=params.page)
    summary = (
        f"ESCALATED: {params.reason}"
        if escalation.escalated
        else f"not escalated: the incident is already resolved ({params.reason})"
    )
    return StepResult(output={"reason": params.reason, "paged": escalation.paged}, summary=summary)


class NoteParams(ActionParams):
    """``incident.note``."""

    text: str = Field(min_length=1)


class NoteOutput(ActionOutput):
    """``incident.note``: the note's text."""

    text: str = ""


@action("incident.note", kind=ActionKind.NOTIFY, output=NoteOutput)
async def note(ctx: StepContext, params: NoteParams) -> StepResult:
    """Add a note to the incident's timeline."""
    if ctx.incident is None:
        raise PermanentError("incident.note needs an incident")
    await ctx.incident.note(params.text)
    return StepResult(output={"text": params.text}, summary=params.text)


class ResolveParams(ActionParams):
    """``incident.resolve``."""

    summary: str = ""


class ResolveOutput(ActionOutput):
    """``incident.resolve``: the summary it resolved with."""

    summary: str = ""


@action("incident.resolve", kind=ActionKind.CONTROL, output=ResolveOutput)
async def resolve(ctx: StepContext, params: ResolveParams) -> StepResult:
    """Resolve the incident."""
    if ctx.incident is None:
        raise PermanentError("incident.resolve needs an incident")
    await ctx.incident.resolve(params.summary)
    return StepResult(output={"summary": params.summary}, summary="incident resolved")
