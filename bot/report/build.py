"""Build the typed report view of one incident from the store (read only)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.report.followups import derive_followups
from bot.report.models import (
    AlertInfo,
    ApprovalInfo,
    Change,
    Decision,
    IncidentReport,
    RunInfo,
    StepInfo,
    TimelineItem,
)
from bot.store import AsyncConnection
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store.views import AlertView, ApprovalView, RunView, incident_detail

Describe = Callable[[str], str]
"""A playbook's description by name ("" when it is not loaded any more)."""


async def load_report(
    conn: AsyncConnection, incident_seq: int, *, now: datetime, describe: Describe
) -> IncidentReport | None:
    """The report view of incident ``incident_seq`` as of ``now``; None when it is unknown."""
    detail = await incident_detail(conn, incident_seq)
    record = await incident_store.incident_record(conn, incident_seq)
    if detail is None or record is None:
        return None
    run_seqs = [int(run.id.removeprefix("RUN-")) for run in detail.runs]
    approval_rows = await run_store.approvals_of_runs(conn, run_seqs)
    decision_rows = await run_store.decisions_of_approvals(conn, [a.seq for a in approval_rows])
    decisions: dict[str, list[Decision]] = defaultdict(list)
    for d in decision_rows:
        decisions[f"APR-{d.approval_seq}"].append(
            Decision(user=d.user, decision=d.decision, at=d.at)
        )
    extra = {f"APR-{a.seq}": a for a in approval_rows}

    def approval(view: ApprovalView) -> ApprovalInfo:
        row = extra[view.id]
        return ApprovalInfo(
            id=view.id,
            step=view.step,
            mode=view.mode,
            status=view.status,
            prompt=row.prompt,
            reason=row.reason,
            four_eyes=row.four_eyes,
            decided_by=view.decided_by,
            decided_at=view.decided_at,
            decisions=decisions.get(view.id, []),
        )

    incident = detail.incident
    alerts = [_alert(a) for a in detail.alerts]
    starts = [a.starts_at for a in alerts]
    report = IncidentReport(
        id=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        start=min([*starts, record.created_at]),
        end=record.resolved_at if incident.status == "resolved" else None,
        generated_at=now,
        opened_at=record.created_at,
        commander=record.commander,
        pagerduty_incident_id=record.pagerduty_incident_id,
        previous=incident.previous,
        alerts=alerts,
        runs=[_run(run, describe(run.playbook), approval) for run in detail.runs],
        timeline=[
            TimelineItem(at=t.at, actor=t.actor, kind=t.kind, text=t.text) for t in detail.timeline
        ],
    )
    return report.model_copy(update={"followups": derive_followups(report)})


def _alert(view: AlertView) -> AlertInfo:
    return AlertInfo(
        name=view.labels.get("alertname", view.fingerprint),
        fingerprint=view.fingerprint,
        source=view.source,
        status=view.status,
        labels=view.labels,
        annotations=view.annotations,
        starts_at=view.starts_at,
        ends_at=view.ends_at,
    )


def _run(
    run: RunView, description: str, approval: Callable[[ApprovalView], ApprovalInfo]
) -> RunInfo:
    approvals = [approval(a) for a in run.approvals]
    latest: dict[str, ApprovalInfo] = {}
    for a in approvals:  # oldest first: a step asked again keeps its newest approval
        latest[a.step] = a
    steps: list[StepInfo] = []
    guard: ApprovalInfo | None = None
    for step in run.steps:
        own = latest.get(step.id)
        steps.append(
            StepInfo(
                id=step.id,
                action=step.action,
                status=step.status,
                dry_run=step.dry_run,
                started_at=step.started_at,
                finished_at=step.finished_at,
                error=step.error,
                output=step.output,
                changes=changes_of(step.output),
                approval=own,
                guarded_by=None if step.action == "approval" else guard,
            )
        )
        if step.action == "approval" and own is not None:
            guard = own
    return RunInfo(
        id=run.id,
        playbook=run.playbook,
        description=description,
        status=run.status,
        target=run.target,
        started_by=run.started_by,
        steps=steps,
        approvals=approvals,
    )


def changes_of(output: Any) -> list[Change]:
    """The before/after pairs in a step's output: the output itself (``{"before", "after"}``)
    or its fields that are such pairs (``{"env": {"before": …, "after": …}}``)."""
    if not isinstance(output, Mapping):
        return []
    if _is_pair(output):
        return [Change(field="", before=output["before"], after=output["after"])]
    return [
        Change(field=str(name), before=value["before"], after=value["after"])
        for name, value in output.items()
        if isinstance(value, Mapping) and _is_pair(value)
    ]


def _is_pair(value: Mapping[Any, Any]) -> bool:
    """Both sides present, and at least one known (a dry run that never reached the system
    holds empty defaults: nothing to show)."""
    if "before" not in value or "after" not in value:
        return False
    return value["before"] not in (None, {}) or value["after"] not in (None, {})
