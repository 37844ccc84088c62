"""``medic replay``'s text report: the totals, then each incident with its runs and steps."""

from __future__ import annotations

from bot.replay.report import ReplayReport, RunPlan

_MARK = {"yes": "", "no": " (skipped: when/unless)", "depends": " (depends on earlier steps)"}


def render_text(report: ReplayReport) -> str:
    """The report as a person reads it."""
    s = report.summary
    mode = (
        "would be dry runs (safety.dry_run)"
        if report.dry_run
        else "would change the world (safety.dry_run: false)"
    )
    lines = [
        f"Replay of {report.source} through {len(report.playbooks)} playbooks; write steps "
        f"{mode}. Nothing was changed.",
        f"{s.alerts} alerts ({s.ignored} ignored): {s.incidents} incidents "
        f"({s.reopened} reopenings by flapping), {s.runs} runs ({s.skipped_runs} skipped), "
        f"{s.approvals} approvals, {s.write_steps} write steps, {s.limits_tripped} limits "
        "tripped.",
    ]
    if s.by_playbook:
        lines.append(
            "Runs by playbook: " + ", ".join(f"{k} {v}" for k, v in sorted(s.by_playbook.items()))
        )
    for incident in report.incidents:
        status = (
            f"resolved {incident.resolved_at:%Y-%m-%d %H:%M}Z" if incident.resolved_at else "open"
        )
        extra = f", reopened {incident.reopened}x" if incident.reopened else ""
        extra += f", after {incident.previous}" if incident.previous else ""
        lines += [
            "",
            f"{incident.id} {incident.severity} {incident.title}",
            f"  opened {incident.opened_at:%Y-%m-%d %H:%M}Z, {status}{extra}; "
            f"{len(incident.alerts)} alerts; key {incident.key}",
        ]
        if not incident.runs:
            lines.append("  no playbook matched: an incident without runs")
        for run in incident.runs:
            lines += _run_lines(run)
    return "\n".join(lines) + "\n"


def _run_lines(run: RunPlan) -> list[str]:
    target = f" on {run.target}" if run.target else ""
    head = f"  {run.playbook}{target}: {run.outcome}" + (f" ({run.reason})" if run.reason else "")
    lines = [head]
    for step in run.steps:
        detail = f"{step.id} {step.action} [{step.kind}]{_MARK.get(step.runs, '')}"
        if step.approval:
            detail += f" — asks {step.approval}"
        if step.limit:
            detail += f" — {step.limit}"
        lines.append(f"    {detail}")
    return lines
