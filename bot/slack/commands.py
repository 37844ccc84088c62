"""``/incident`` subcommands: each commits its decision, then answers with a short reply.

In an incident's channel a command acts on that incident; elsewhere it may name one
(``/incident status INC-3``) and otherwise says how to pick one. Unknown input gets the help.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.engine.incidents.ops import IncidentOps, declare_incident
from bot.errors import DecisionRefused, MedicError
from bot.models import Identity, IncidentStatus, Severity, Via, parse_incident_id
from bot.slack.context import SlackContext
from bot.slack.render import mention
from bot.store import incidents as incident_store
from bot.store import slack as slack_store
from bot.store import views
from responders.common import slack_escape as escape

HELP = """*/incident* — Medic's incident commands
• `/incident declare <title> [--sev 1-4]` — open an incident (default sev3) in its own
  channel; you are its commander
• `/incident status` — the incident's state, runs and pending approvals
• `/incident ack` — acknowledge (PagerDuty too, when linked; responders only)
• `/incident resolve [summary]` — resolve it (PagerDuty too)
• `/incident list` — open incidents
• `/incident run <playbook> [key=value …]` — run a playbook on this incident (approvals apply)
• `/incident pause [reason]` / `/incident resume` — stop / allow every automatic change,
  everywhere (slack.admins)
• `/incident help` — this text
Outside an incident channel, name the incident first: `/incident status INC-3`."""

_SEV = re.compile(r"(?:^|\s)--sev(?:=|\s+)(\S+)")
LIST_LIMIT = 20
MAX_TITLE = 200
"""The most characters of a declared title kept (and echoed back)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the command answers: ``public`` replies are seen by the channel."""

    text: str
    public: bool = False
    poke: int | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """One ``/incident`` call."""

    user: str
    channel: str
    words: list[str]
    raw_args: str


Handler = Callable[[SlackContext, Invocation], Awaitable[Reply]]


def parse(text: str, user: str, channel: str) -> tuple[str, Invocation]:
    """The subcommand (lowercased; ``help`` when empty) and its arguments."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ")
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    return head.lower() or "help", Invocation(user, channel, words, rest.strip())


async def dispatch(ctx: SlackContext, text: str, user: str, channel: str) -> Reply:
    """Run one ``/incident`` command; refusals become replies, never stack traces."""
    sub, call = parse(text, user, channel)
    handler = HANDLERS.get(sub)
    if handler is None:
        return Reply(f"Unknown subcommand `{sub}`.\n{HELP}")
    try:
        return await handler(ctx, call)
    except DecisionRefused as err:
        return Reply(f":no_entry: {err.detail}")
    except MedicError as err:  # an engine refusal is an answer, never a stack trace
        return Reply(f":no_entry: {err}")


async def _help(_ctx: SlackContext, _call: Invocation) -> Reply:
    return Reply(HELP)


async def _declare(ctx: SlackContext, call: Invocation) -> Reply:
    severity = Severity.SEV3
    raw = call.raw_args
    found = _SEV.search(raw)
    if found is not None:
        level = found.group(1)
        if level not in {"1", "2", "3", "4"}:
            return Reply(f"`--sev` takes 1, 2, 3 or 4, not `{level}`.")
        severity = Severity(f"sev{level}")
        raw = (raw[: found.start()] + " " + raw[found.end() :]).strip()
    title = " ".join(raw.split()).strip("\"'")
    if not title:
        return Reply("Give the incident a title: `/incident declare <title> [--sev 1-4]`.")
    title = title[:MAX_TITLE]
    seq = await declare_incident(ctx.engine, title, severity, call.user)
    return Reply(
        f":rotating_light: INC-{seq} declared by {mention(call.user)} ({severity}): "
        f"{escape(title)}. "
        "Its channel is on the way.",
        public=True,
        poke=seq,
    )


async def _status(ctx: SlackContext, call: Invocation) -> Reply:
    seq = await _pick(ctx, call)
    async with ctx.db.connect() as conn:
        detail = await views.incident_detail(conn, seq)
    if detail is None:
        raise DecisionRefused("not_found", f"no incident INC-{seq}")
    inc = detail.incident
    lines = [
        f"*INC-{seq}* {escape(inc.title)}",
        f"{inc.severity.upper()} · {inc.status} · {inc.alert_count} alert(s)"
        + (f" · <#{inc.slack_channel}>" if inc.slack_channel else ""),
    ]
    for run in detail.runs:
        current = next((s.id for s in run.steps if s.status in ("running", "waiting_approval")), "")
        lines.append(
            f"• {run.id} {run.playbook}: {run.status}" + (f" (at {current})" if current else "")
        )
        lines += [
            f"  ◦ {a.id} {a.mode} on `{a.step}` is pending"
            for a in run.approvals
            if a.status == "pending"
        ]
    if ctx.pause.paused:
        lines.append(f":double_vertical_bar: Medic is paused ({ctx.pause.reason})")
    return Reply("\n".join(lines))


async def _ack(ctx: SlackContext, call: Invocation) -> Reply:
    seq = await _pick(ctx, call)
    await _require_responder(ctx, call.user, "acknowledge incidents")
    if not await IncidentOps(ctx.engine, seq, actor=call.user).acknowledge():
        return Reply(f"INC-{seq} is already resolved.")
    return Reply(f":eyes: INC-{seq} acknowledged by {mention(call.user)}.", public=True, poke=seq)


async def _resolve(ctx: SlackContext, call: Invocation) -> Reply:
    seq = await _pick(ctx, call)
    await _require_responder(ctx, call.user, "resolve incidents")
    summary = " ".join(call.words)
    await IncidentOps(ctx.engine, seq, actor=call.user).resolve(summary)
    text = f":white_check_mark: INC-{seq} resolved by {mention(call.user)}"
    return Reply(text + (f": {summary}" if summary else "."), public=True, poke=seq)


async def _list(ctx: SlackContext, _call: Invocation) -> Reply:
    async with ctx.db.connect() as conn:
        found = await views.list_incidents(conn)
    open_ones = [i for i in found.incidents if i.status != IncidentStatus.RESOLVED.value]
    if not open_ones:
        return Reply("No open incidents.")
    lines = [
        f"• *{i.id}* {i.severity.upper()} {i.status} — {escape(i.title)}"
        + (f" <#{i.slack_channel}>" if i.slack_channel else "")
        for i in open_ones[:LIST_LIMIT]
    ]
    if len(open_ones) > LIST_LIMIT:
        lines.append(f"… and {len(open_ones) - LIST_LIMIT} more (GET /api/incidents?status=open)")
    return Reply("\n".join(lines))


async def _run(ctx: SlackContext, call: Invocation) -> Reply:
    seq = await _pick(ctx, call)
    await _require_responder(ctx, call.user, "start runs")
    if not call.words:
        return Reply("Name the playbook: `/incident run <playbook> [key=value …]`.")
    name, *pairs = call.words
    playbook = ctx.playbooks.get(name)
    if playbook is None:
        known = ", ".join(sorted(p.name for p in ctx.playbooks)) or "none"
        return Reply(f"No playbook `{name}`. Playbooks: {known}")
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            return Reply(f"`{pair}` is not key=value.")
        params[key] = value
    run_seq = await ctx.runs.start_manual(seq, playbook, _slack_user(call), params)
    return Reply(
        f":arrow_forward: RUN-{run_seq} {name} started on INC-{seq} by {mention(call.user)}"
        " (approvals apply).",
        public=True,
        poke=seq,
    )


async def _pause(ctx: SlackContext, call: Invocation) -> Reply:
    _require(call.user, ctx.settings.slack.admins, "pause Medic")
    reason = call.raw_args or "no reason given"
    await ctx.pause.pause(_slack_user(call), reason)
    return Reply(
        f":double_vertical_bar: Medic paused by {mention(call.user)}: {reason}. "
        "No automatic change starts anywhere until `/incident resume`.",
        public=True,
    )


async def _resume(ctx: SlackContext, call: Invocation) -> Reply:
    _require(call.user, ctx.settings.slack.admins, "resume Medic")
    await ctx.pause.resume(_slack_user(call))
    return Reply(f":arrow_forward: Medic resumed by {mention(call.user)}.", public=True)


async def _pick(ctx: SlackContext, call: Invocation) -> int:
    """The incident a command acts on: a leading ``INC-<n>``, else the channel's."""
    if call.words and (named := parse_incident_id(call.words[0])) is not None:
        call.words.pop(0)
        async with ctx.db.connect() as conn:
            if await incident_store.get_incident(conn, named) is None:
                raise DecisionRefused("not_found", f"no incident INC-{named}")
        return named
    async with ctx.db.connect() as conn:
        seq = await slack_store.incident_in_channel(conn, call.channel)
    if seq is None:
        raise DecisionRefused(
            "invalid",
            "this is not an incident channel: run the command in the incident's channel, "
            "or name it first, e.g. `/incident status INC-3` (see `/incident list`)",
        )
    return seq


def _require(user: str, allowed: list[str], what: str) -> None:
    if user not in allowed:
        raise DecisionRefused("forbidden", f"{mention(user)} may not {what} (slack.admins only)")


async def _require_responder(ctx: SlackContext, user: str, what: str) -> None:
    if not await ctx.may_act(user):
        raise DecisionRefused(
            "forbidden",
            f"{mention(user)} may not {what}: only slack.approvers, members of "
            "slack.approver_groups and slack.admins may",
        )


HANDLERS: dict[str, Handler] = {
    "help": _help,
    "declare": _declare,
    "status": _status,
    "ack": _ack,
    "resolve": _resolve,
    "list": _list,
    "run": _run,
    "pause": _pause,
    "resume": _resume,
}


def _slack_user(call: Invocation) -> Identity:
    """The invoking user, as Slack (a signed request) vouches for them."""
    return Identity(call.user, Via.SLACK)
