"""``pagerduty.*`` actions: page through the Events API v2, note through REST v2, and
acknowledge/resolve the alert Medic paged (Events API, by dedup key).

``page`` and ``note`` are ``notify`` (they tell humans: they run while Medic is paused and
under ``safety.dry_run``); ``acknowledge`` and ``resolve`` are ``write`` (they quiet the
pager, so the pause and dry run hold them). The Events API calls are idempotent by dedup key,
so one found running after a crash is sent again; a note is not.

Each takes the process's ``PagerDutyClient`` from ``ctx.clients["pagerduty"]``; in a dry run
none calls PagerDuty and the output says what would have been done.
"""

from __future__ import annotations

from typing import Any

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.errors import PermanentError
from responders.common import one_line, quoted
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.const import DEFAULT_SOURCE, SUMMARY_LIMIT, SYSTEM
from responders.pagerduty.models import (
    AcknowledgeParams,
    AlertOutput,
    NoteOutput,
    NoteParams,
    PageOutput,
    PageParams,
    ResolveParams,
)

WRITE = ActionKind.WRITE
NOTIFY = ActionKind.NOTIFY
DEDUP_KEY = (
    "dedup_key: PagerDuty's Events API folds a repeated event with the same dedup key into "
    "the same alert"
)


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


def default_dedup_key(ctx: StepContext) -> str:
    """``medic/<install id>/<incident id>``: one PagerDuty alert per installation and incident."""
    if not ctx.install_id:
        return f"medic/{ctx.incident_id}"
    return f"medic/{ctx.install_id}/{ctx.incident_id}"


def client_for(ctx: StepContext) -> PagerDutyClient:
    """The process's PagerDuty client; PermanentError when the app has none."""
    client = ctx.clients.get(SYSTEM)
    if not isinstance(client, PagerDutyClient):
        raise PermanentError("no PagerDuty client is set up (is pagerduty.enabled true?)")
    return client


def links_for(ctx: StepContext) -> list[dict[str, str]]:
    """Links on the alert back to Medic (when ``server.public_url`` is set) and to Slack."""
    links: list[dict[str, str]] = []
    public_url = ctx.settings.server.public_url
    if public_url:
        href = f"{public_url.rstrip('/')}/api/incidents/{ctx.incident_id}"
        links.append({"href": href, "text": f"Medic incident {ctx.incident_id}"})
    if ctx.slack_channel:
        href = f"https://slack.com/app_redirect?channel={ctx.slack_channel}"
        links.append({"href": href, "text": "Slack incident channel"})
    return links


def _dry_run(sentence: str, output: dict[str, Any]) -> StepResult:
    return StepResult(dry_run=True, output={"would": sentence, **output}, summary=sentence)


@action(
    "pagerduty.page",
    kind=NOTIFY,
    integration=SYSTEM,
    describe=describe_page,
    output=PageOutput,
    idempotent=DEDUP_KEY,
)
async def page(ctx: StepContext, params: PageParams) -> StepResult:
    """Trigger a PagerDuty alert (Events API v2); the output never holds the routing key."""
    output: dict[str, Any] = {
        "dedup_key": params.dedup_key or default_dedup_key(ctx),
        "routing_key_name": params.routing_key_name,
        "severity": params.severity,
        "summary": one_line(params.summary, SUMMARY_LIMIT),
    }
    if ctx.dry_run:
        return _dry_run(describe_page(params), output)
    client = client_for(ctx)
    output["dedup_key"] = await client.trigger(
        client.routing_key_for(params.routing_key_name),
        output["dedup_key"],
        summary=output["summary"],
        severity=params.severity,
        source=ctx.target or DEFAULT_SOURCE,
        custom_details={**params.details, "medic_incident_id": ctx.incident_id},
        links=links_for(ctx),
    )
    return StepResult(
        output=output,
        summary=(
            f"paged PagerDuty ({params.severity}, {_routing(params.routing_key_name)}, "
            f"dedup key {output['dedup_key']}): {quoted(params.summary)}"
        ),
    )


@action(
    "pagerduty.note",
    kind=NOTIFY,
    integration=SYSTEM,
    describe=describe_note,
    output=NoteOutput,
)
async def note(ctx: StepContext, params: NoteParams) -> StepResult:
    """Add a note to the PagerDuty incident linked to this incident (REST v2)."""
    output: dict[str, Any] = {"pagerduty_incident_id": ctx.pagerduty_incident_id}
    if ctx.dry_run:
        return _dry_run(describe_note(params), output)
    if params.dedup_key is not None:
        raise PermanentError(
            "pagerduty.note goes to the PagerDuty incident linked to this incident; "
            "finding one by dedup_key is not supported (leave dedup_key out)"
        )
    if ctx.pagerduty_incident_id is None:
        raise PermanentError("this incident is not linked to a PagerDuty incident yet")
    client = client_for(ctx)
    output["note_id"] = await client.add_note(ctx.pagerduty_incident_id, params.content)
    return StepResult(
        output=output,
        summary=(
            f"added a note to PagerDuty incident {ctx.pagerduty_incident_id}: "
            f"{quoted(params.content)}"
        ),
    )


@action(
    "pagerduty.acknowledge",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_acknowledge,
    output=AlertOutput,
    idempotent=DEDUP_KEY,
)
async def acknowledge(ctx: StepContext, params: AcknowledgeParams) -> StepResult:
    """Acknowledge the PagerDuty alert (Events API v2, by dedup key)."""
    output = _alert(ctx, params.dedup_key, params.routing_key_name)
    if ctx.dry_run:
        return _dry_run(describe_acknowledge(params), output)
    client = client_for(ctx)
    routing_key = client.routing_key_for(params.routing_key_name)
    await client.acknowledge(routing_key, output["dedup_key"])
    return StepResult(
        output=output, summary=f"acknowledged {_incident(output['dedup_key'])} in PagerDuty"
    )


@action(
    "pagerduty.resolve",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_resolve,
    output=AlertOutput,
    idempotent=DEDUP_KEY,
)
async def resolve(ctx: StepContext, params: ResolveParams) -> StepResult:
    """Resolve the PagerDuty alert (Events API v2, by dedup key)."""
    output = _alert(ctx, params.dedup_key, params.routing_key_name)
    if ctx.dry_run:
        return _dry_run(describe_resolve(params), output)
    client = client_for(ctx)
    routing_key = client.routing_key_for(params.routing_key_name)
    await client.resolve(routing_key, output["dedup_key"])
    return StepResult(
        output=output, summary=f"resolved {_incident(output['dedup_key'])} in PagerDuty"
    )


def _alert(ctx: StepContext, dedup_key: str | None, routing_key_name: str | None) -> dict[str, Any]:
    return {
        "dedup_key": dedup_key or default_dedup_key(ctx),
        "routing_key_name": routing_key_name,
    }
