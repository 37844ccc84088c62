"""``pagerduty.*`` actions. Their ``run`` arrives with the PagerDuty responder's own issue;
until then the engine records dry runs from the ``describe_*`` sentences."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from responders.common import not_built, quoted
from responders.pagerduty.const import SYSTEM
from responders.pagerduty.models import AcknowledgeParams, NoteParams, PageParams, ResolveParams

WRITE = ActionKind.WRITE


def _incident(dedup_key: str | None) -> str:
    if dedup_key is None:
        return "this incident's PagerDuty incident"
    return f"the PagerDuty incident with dedup key {dedup_key}"


def _routing(name: str | None) -> str:
    return "the default routing key" if name is None else f"routing key {name!r}"


def describe_page(params: PageParams) -> str:
    """Dry-run sentence."""
    dedup = params.dedup_key or "this incident's id"
    return (
        f"would page PagerDuty ({params.severity}, {_routing(params.routing_key_name)}, "
        f"dedup key {dedup}): {quoted(params.summary)}"
    )


def describe_note(params: NoteParams) -> str:
    """Dry-run sentence."""
    return f"would add a note to {_incident(params.dedup_key)}: {quoted(params.content)}"


def describe_acknowledge(params: AcknowledgeParams) -> str:
    """Dry-run sentence."""
    return f"would acknowledge {_incident(params.dedup_key)}"


def describe_resolve(params: ResolveParams) -> str:
    """Dry-run sentence."""
    return f"would resolve {_incident(params.dedup_key)}"


@action("pagerduty.page", kind=WRITE, integration=SYSTEM, describe=describe_page)
async def page(ctx: StepContext, params: PageParams) -> StepResult:
    """Trigger a PagerDuty alert (Events API v2)."""
    raise not_built("pagerduty.page", SYSTEM)


@action("pagerduty.note", kind=WRITE, integration=SYSTEM, describe=describe_note)
async def note(ctx: StepContext, params: NoteParams) -> StepResult:
    """Add a note to the PagerDuty incident (REST v2)."""
    raise not_built("pagerduty.note", SYSTEM)


@action("pagerduty.acknowledge", kind=WRITE, integration=SYSTEM, describe=describe_acknowledge)
async def acknowledge(ctx: StepContext, params: AcknowledgeParams) -> StepResult:
    """Acknowledge the PagerDuty incident."""
    raise not_built("pagerduty.acknowledge", SYSTEM)


@action("pagerduty.resolve", kind=WRITE, integration=SYSTEM, describe=describe_resolve)
async def resolve(ctx: StepContext, params: ResolveParams) -> StepResult:
    """Resolve the PagerDuty incident."""
    raise not_built("pagerduty.resolve", SYSTEM)
