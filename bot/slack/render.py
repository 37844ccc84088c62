"""Block Kit and mrkdwn for the status message, the timeline thread and approval messages.

Pure functions of typed views; each rendering has a digest so an unchanged message is never
edited again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.store.slack import TimelineEvent
from responders.common import slack_escape as escape

APPROVE_ACTION = "medic_approve"
REJECT_ACTION = "medic_reject"
TIMELINE_LINES = 20
EVIDENCE_BLOCKS = 3
EVIDENCE_CHARS = 1200
TEXT_LIMIT = 2900  # a section's text may hold 3,000 characters
HEADER_LIMIT = 150

Blocks = list[dict[str, Any]]

_MARKS = {
    "incident.opened": ":rotating_light:",
    "incident.resolved": ":white_check_mark:",
    "incident.escalated": ":loudspeaker:",
    "incident.acknowledged": ":eyes:",
    "alert.firing": ":red_circle:",
    "alert.resolved": ":large_green_circle:",
    "step.running": ":arrow_forward:",
    "step.succeeded": ":heavy_check_mark:",
    "step.failed": ":x:",
    "step.aborted": ":no_entry:",
    "step.interrupted": ":warning:",
    "approval.requested": ":raised_hand:",
    "approval.approve": ":+1:",
    "approval.reject": ":-1:",
    "safety.paused": ":double_vertical_bar:",
    "safety.resumed": ":arrow_forward:",
}
_APPROVAL_MARKS = {
    "approved": ":white_check_mark:",
    "rejected": ":x:",
    "expired": ":hourglass:",
    "cancelled": ":heavy_minus_sign:",
}


def digest(blocks: Blocks, text: str = "") -> str:
    """A short stable hash of what a message shows."""
    raw = json.dumps([text, blocks], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def mention(user: str) -> str:
    """``<@U123>`` for a Slack user id; Medic and API users as plain text."""
    return "Medic" if user == "medic" else f"<@{user}>" if user[:1] in "UW" else user


def _clock(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _slack_date(at: datetime, fmt: str, fallback: str) -> str:
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def _text(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class StatusView:
    """What the pinned status message shows."""

    incident_id: str
    title: str
    severity: str
    status: str
    commander: str
    alert_count: int
    last_update: datetime
    playbook: str | None = None
    current_step: str | None = None
    progress: tuple[int, int] | None = None
    generator_url: str | None = None
    alertmanager_url: str | None = None
    pagerduty_url: str | None = None
    api_url: str | None = None
    paused: bool = False


def stable_digest(view: StatusView) -> str:
    """A digest of what matters at once in the status message: not the alert count nor the
    time of the last update, which change with every alert of a storm."""
    return digest(
        [], repr(replace(view, alert_count=0, last_update=datetime.min.replace(tzinfo=UTC)))
    )


def status_message(view: StatusView) -> tuple[str, Blocks]:
    """The status message: title, severity, status, playbook, current step, progress, links
    and the last update."""
    summary = f"{view.incident_id} [{view.severity.upper()}] {view.status}: {escape(view.title)}"
    fields = [
        f"*Severity*\n{view.severity.upper()}",
        f"*Status*\n{view.status}" + (" (paused)" if view.paused else ""),
        f"*Playbook*\n{view.playbook or '—'}",
        f"*Current step*\n{view.current_step or '—'}",
        "*Progress*\n" + (f"{view.progress[0]}/{view.progress[1]} steps" if view.progress else "—"),
        f"*Commander*\n{mention(view.commander)}",
    ]
    links = [
        f"<{url}|{name}>"
        for name, url in (
            ("Alert source", view.generator_url),
            ("Alertmanager", view.alertmanager_url),
            ("PagerDuty", view.pagerduty_url),
            ("Medic API", view.api_url),
        )
        if url
    ]
    fallback = f"{view.last_update:%Y-%m-%d %H:%M:%S} UTC"
    updated = _slack_date(view.last_update, "{date_short_pretty} {time_secs}", fallback)
    context = " · ".join([*links, f"{view.alert_count} alert(s)", f"last update {updated}"])
    blocks: Blocks = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _text(f"{view.incident_id} · {view.title}", HEADER_LIMIT),
            },
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(context)}]},
    ]
    return summary, blocks


@dataclass(frozen=True, slots=True)
class Evidence:
    """A step's output to show under its timeline line."""

    step: str
    output: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Burst:
    """What one thread reply tells: the events it lists, and the alert changes it only
    counts (a storm of alerts must not crowd out steps, approvals and errors)."""

    events: list[TimelineEvent]
    alerts_counted: dict[str, int] = field(default_factory=dict)


ALERT_KINDS = ("alert.firing", "alert.resolved")
ALERT_LINES = 5


def plan_burst(pending: list[tuple[int, str]]) -> tuple[list[int], dict[str, int], list[int]]:
    """Split pending (number, kind) events into those to list now (at most
    ``TIMELINE_LINES``, at most ``ALERT_LINES`` of them alert changes), the alert changes
    only counted, and the numbers this reply covers (listed and counted). Events past the
    line limit that are not alert changes wait for the next reply: none is dropped."""
    listed: list[int] = []
    counted: dict[str, int] = {}
    covered: list[int] = []
    alert_lines = 0
    for seq, kind in pending:
        if kind in ALERT_KINDS:
            if alert_lines < ALERT_LINES and len(listed) < TIMELINE_LINES:
                alert_lines += 1
                listed.append(seq)
            else:
                counted[kind] = counted.get(kind, 0) + 1
            covered.append(seq)
        elif len(listed) < TIMELINE_LINES:
            listed.append(seq)
            covered.append(seq)
    return listed, counted, covered


def timeline_message(burst: Burst, evidence: dict[int, Evidence], more_at: str) -> str:
    """One thread reply: the listed events (with at most ``EVIDENCE_BLOCKS`` evidence code
    blocks) and a count of the alert changes not listed."""
    lines: list[str] = []
    blocks_left = EVIDENCE_BLOCKS
    for event in burst.events:
        mark = _MARKS.get(event.kind, ":small_blue_diamond:")
        who = "" if event.actor == "medic" else f" ({mention(event.actor)})"
        lines.append(f"`{event.at:%H:%M:%S}` {mark} {escape(event.text)}{who}")
        found = evidence.get(event.seq)
        if found is not None and found.output and blocks_left > 0:
            blocks_left -= 1
            lines.append(evidence_block(found.output, more_at))
    if burst.alerts_counted:
        counts = ", ".join(
            f"{n} {kind.removeprefix('alert.')}" for kind, n in sorted(burst.alerts_counted.items())
        )
        lines.append(f"… and more alert changes in this burst ({counts}); all of them: {more_at}")
    return "\n".join(lines)


def evidence_block(output: dict[str, Any], more_at: str) -> str:
    """A step's output as a compact code block, truncated with a note."""
    raw = json.dumps(output, indent=1, sort_keys=True, default=str).replace("```", "'''")
    if len(raw) <= EVIDENCE_CHARS:
        return f"```{raw}```"
    cut = len(raw) - EVIDENCE_CHARS
    return f"```{raw[:EVIDENCE_CHARS]}```\n_truncated: {cut} more characters at {more_at}_"


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """What an approval message shows."""

    approval_id: str
    run_id: str
    playbook: str
    step_id: str
    mode: str
    status: str
    prompt: str
    required: int
    reason: str | None = None
    expires_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    approvals: list[str] = field(default_factory=list)
    escalated: bool = False


def approval_message(view: ApprovalView) -> tuple[str, Blocks]:
    """consent → Approve / Reject; veto → a countdown and Reject; decided → who and when,
    buttons removed."""
    where = f"{view.run_id} ({view.playbook}), step `{view.step_id}`"
    why = f"\n_{escape(view.reason)}_" if view.reason else ""
    prompt = escape(view.prompt)
    if view.status != "pending":
        headline = _decided(view)
        text = f"{headline} — {prompt}"
        blocks: Blocks = [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _text(f"{text}{why}\n{where}")},
            }
        ]
        return text, blocks
    if view.mode == "veto" and not view.escalated:
        when = (
            _slack_date(view.expires_at, "{time_secs}", f"{view.expires_at:%H:%M:%S} UTC")
            if view.expires_at
            else "the end of the window"
        )
        headline = (
            f":hourglass_flowing_sand: *{view.approval_id}* proceeds at {when} unless rejected"
        )
        buttons = [_button("Reject", REJECT_ACTION, view.approval_id, "danger")]
    else:
        who = "two approvers (four eyes)" if view.required >= 2 else "one approver"
        headline = f":raised_hand: *{view.approval_id}* needs {who}"
        if view.escalated:
            headline += " (its window passed: an explicit decision is needed)"
        if view.approvals:
            got = ", ".join(mention(u) for u in view.approvals)
            headline += f" — {len(view.approvals)} of {view.required} so far: {got}"
        if view.expires_at and not view.escalated:
            headline += " · expires " + _slack_date(
                view.expires_at, "{time_secs}", f"{view.expires_at:%H:%M:%S} UTC"
            )
        buttons = [
            _button("Approve", APPROVE_ACTION, view.approval_id, "primary"),
            _button("Reject", REJECT_ACTION, view.approval_id, "danger"),
        ]
    text = f"{headline} — {prompt}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _text(f"{text}{why}\n{where}")}},
        {"type": "actions", "block_id": f"approval-{view.approval_id}", "elements": buttons},
    ]
    return text, blocks


def _decided(view: ApprovalView) -> str:
    mark = _APPROVAL_MARKS.get(view.status, ":grey_question:")
    at = f" at {_clock(view.decided_at)}" if view.decided_at else ""
    if view.status in ("approved", "rejected") and view.decided_by:
        people = ", ".join(mention(u) for u in view.decided_by.split(","))
        if view.decided_by == "medic":
            people = "Medic (the veto window passed)"
        return f"{mark} *{view.approval_id}* {view.status.capitalize()} by {people}{at}"
    return f"{mark} *{view.approval_id}* {view.status}{at}"


def _button(label: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        "style": style,
    }
