"""A typed view of one incident as the post-incident report tells it (built from the store)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

SEVERITY_LABELS = {"sev1": "Critical", "sev2": "High", "sev3": "Medium", "sev4": "Low"}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Decision(_View):
    """One human's decision on an approval."""

    user: str
    decision: str
    at: datetime


class ApprovalInfo(_View):
    """An approval a run asked for, with every decision taken on it."""

    id: str
    step: str
    mode: str
    status: str
    prompt: str
    reason: str | None
    four_eyes: bool
    decided_by: str | None
    decided_at: datetime | None
    decisions: list[Decision]

    @property
    def approvers(self) -> list[str]:
        """Who approved (``medic`` when a veto window passed unrejected)."""
        humans = [d.user for d in self.decisions if d.decision == "approve"]
        if humans:
            return humans
        return [self.decided_by] if self.status == "approved" and self.decided_by else []

    @property
    def rejected_by(self) -> str | None:
        """Who rejected it, if anyone did."""
        return next((d.user for d in self.decisions if d.decision == "reject"), None)


class Change(_View):
    """One field a step changed: ``field`` is empty when the output itself is before/after."""

    field: str
    before: Any
    after: Any


class StepInfo(_View):
    """A step of a run: what it did, what it changed, which approval let it run."""

    id: str
    action: str
    status: str
    dry_run: bool
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    output: Any
    changes: list[Change]
    approval: ApprovalInfo | None
    """The approval this step asked for (approval steps and rate-limited steps)."""
    guarded_by: ApprovalInfo | None
    """The latest approval step before it in the run: the human go-ahead it ran under."""

    @property
    def would(self) -> str | None:
        """A dry run's sentence of what it would have done."""
        if not self.dry_run or not isinstance(self.output, dict):
            return None
        text = self.output.get("would")
        return text if isinstance(text, str) else None

    @property
    def is_approval(self) -> bool:
        """An ``approval`` step (its own row in the report, not an action on the world)."""
        return self.action == "approval"


class RunInfo(_View):
    """A playbook run on the incident."""

    id: str
    playbook: str
    description: str
    status: str
    target: str | None
    started_by: str
    steps: list[StepInfo]
    approvals: list[ApprovalInfo]


class AlertInfo(_View):
    """One distinct alert of the incident, in its latest state."""

    name: str
    fingerprint: str
    source: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None


class TimelineItem(_View):
    """One audit event of the incident."""

    at: datetime
    actor: str
    kind: str
    text: str


class FollowUp(_View):
    """Something a human should do (or check) after the incident."""

    text: str
    done: bool = False


class IncidentReport(_View):
    """Everything the post-incident report says about one incident."""

    id: str
    title: str
    severity: str
    status: str
    start: datetime
    end: datetime | None
    generated_at: datetime
    opened_at: datetime
    commander: str
    pagerduty_incident_id: str | None
    previous: str | None
    alerts: list[AlertInfo]
    runs: list[RunInfo]
    timeline: list[TimelineItem]
    followups: list[FollowUp] = []

    @property
    def resolved(self) -> bool:
        """The incident is over; otherwise the report is a draft so far."""
        return self.status == "resolved"

    @property
    def duration(self) -> timedelta:
        """From the first alert's start to resolution (to ``generated_at`` while unresolved)."""
        end = self.end if self.end is not None else self.generated_at
        return max(end - self.start, timedelta(0))

    @property
    def severity_label(self) -> str:
        """``SEV-1 (Critical)``."""
        number = self.severity.removeprefix("sev")
        label = SEVERITY_LABELS.get(self.severity)
        return f"SEV-{number} ({label})" if label else self.severity

    @property
    def playbooks(self) -> list[RunInfo]:
        """The first run of each playbook (the playbooks that matched or were started)."""
        seen: dict[str, RunInfo] = {}
        for run in self.runs:
            seen.setdefault(run.playbook, run)
        return list(seen.values())
