"""Render the report view as Markdown (sandboxed Jinja2, no autoescape: this is not HTML)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.report.models import AlertInfo, ApprovalInfo, IncidentReport, StepInfo
from bot.report.template import REPORT_TEMPLATE

VALUE_LIMIT = 200
"""A step output or before/after value longer than this (as JSON) is cut with an ellipsis."""


def render_report(report: IncidentReport) -> str:
    """The report as Markdown."""
    return _TEMPLATE.render(r=report)


def timestamp(at: datetime) -> str:
    """``2026-11-24 03:00:00 UTC``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(at: datetime, report: IncidentReport) -> str:
    """``03:00:05``, with the date in front when the incident spans more than one day."""
    end = report.end or report.generated_at
    moment = at.astimezone(UTC)
    if report.start.astimezone(UTC).date() == end.astimezone(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M:%S")


def duration(span: timedelta) -> str:
    """``1 hour 5 minutes``, ``3 minutes 20 seconds``, ``42 seconds``, ``2 days 3 hours``."""
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute"), (secs, "second")]
    shown = [(n, unit) for n, unit in parts if n][:2]
    if not shown:
        return "0 seconds"
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in shown)


def one_line(text: Any) -> str:
    """Whitespace (newlines too) collapsed, so a value cannot break the Markdown structure."""
    return " ".join(str(text).split())


def code(text: Any) -> str:
    """An inline code span that survives backticks in ``text``."""
    flat = one_line(text)
    if "`" not in flat:
        return f"`{flat}`"
    return f"`` {flat.replace('``', '` `')} ``"


def value(data: Any) -> str:
    """A step value as compact JSON in a code span, cut at ``VALUE_LIMIT`` characters."""
    text = json.dumps(data, sort_keys=True, separators=(", ", ": "), default=str)
    if len(text) > VALUE_LIMIT:
        text = text[: VALUE_LIMIT - 1] + "…"
    return code(text)


def labels(pairs: dict[str, str]) -> str:
    """``alertname="X", severity="critical"`` in a code span."""
    return code(", ".join(f'{k}="{v}"' for k, v in sorted(pairs.items())) or "(none)")


def approval_text(approval: ApprovalInfo) -> str:
    """What became of an approval: who decided, how and when."""
    kind = approval.mode + (", four eyes" if approval.four_eyes else "")
    head = f"{approval.id} ({kind})"
    reason = f" [{one_line(approval.reason)}]" if approval.reason else ""
    when = f" at {timestamp(approval.decided_at)}" if approval.decided_at else ""
    if approval.status == "approved":
        who = ", ".join(approval.approvers) or "?"
        how = " (veto window passed unrejected)" if who == "medic" else ""
        return f"{head}{reason}: approved by {who}{how}{when}"
    if approval.status == "rejected":
        return f"{head}{reason}: rejected by {approval.rejected_by or approval.decided_by}{when}"
    if approval.status == "pending":
        return f"{head}{reason}: still waiting for a decision"
    return f"{head}{reason}: {approval.status}{when}"


def go_ahead(step: StepInfo) -> str:
    """Which approval the step ran under (its own, for a rate-limited step, else the latest
    approval step before it)."""
    approval = step.approval or step.guarded_by
    if approval is None:
        return "approval: none needed (the playbook runs it on its own)"
    return "approval: " + approval_text(approval)


def span(step: StepInfo, report: IncidentReport) -> str:
    """``, 03:00:05-03:00:07`` when the step started (and finished)."""
    if step.started_at is None:
        return ""
    end = f"-{clock(step.finished_at, report)}" if step.finished_at else ""
    return f", {clock(step.started_at, report)}{end}"


def alert_span(alert: AlertInfo, report: IncidentReport) -> str:
    """How long the alert fired (so far, while it still fires)."""
    if alert.ends_at is not None and alert.status == "resolved":
        return f"{duration(alert.ends_at - alert.starts_at)} ({timestamp(alert.starts_at)} to " + (
            f"{timestamp(alert.ends_at)})"
        )
    fired = max(report.generated_at - alert.starts_at, timedelta(0))
    return f"{duration(fired)} so far (since {timestamp(alert.starts_at)})"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        ts=timestamp,
        clock=clock,
        duration=duration,
        one_line=one_line,
        code=code,
        value=value,
        labels=labels,
        approval_text=approval_text,
        go_ahead=go_ahead,
        span=span,
        alert_span=alert_span,
    )
    return env


_TEMPLATE = _environment().from_string(REPORT_TEMPLATE)
