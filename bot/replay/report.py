"""What ``medic replay`` found, as typed models (``--json`` dumps them as they are)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class StepPlan(BaseModel):
    """One step of a run as it would go: ``runs`` is ``yes``, ``no`` (its ``when``/
    ``unless`` says so for this alert) or ``depends`` (on earlier steps' output)."""

    id: str
    action: str
    kind: str
    runs: str
    approval: str | None = None
    limit: str | None = None


class RunPlan(BaseModel):
    """A run a playbook would get: ``outcome`` ``runs`` or ``skipped`` (with the reason)."""

    playbook: str
    target: str | None
    at: datetime
    outcome: str
    reason: str = ""
    steps: list[StepPlan] = Field(default_factory=list)


class IncidentPlan(BaseModel):
    """An incident that would open (numbered in replay order, ``R-<n>``)."""

    id: str
    key: str
    title: str
    severity: str
    opened_at: datetime
    resolved_at: datetime | None = None
    previous: str | None = None
    reopened: int = 0
    alerts: list[str] = Field(default_factory=list)
    runs: list[RunPlan] = Field(default_factory=list)


class Summary(BaseModel):
    """The totals a team looks at first."""

    alerts: int = 0
    ignored: int = 0
    incidents: int = 0
    reopened: int = 0
    runs: int = 0
    skipped_runs: int = 0
    approvals: int = 0
    write_steps: int = 0
    limits_tripped: int = 0
    by_playbook: dict[str, int] = Field(default_factory=dict)


class ReplayReport(BaseModel):
    """The whole replay."""

    source: str
    playbooks: list[str]
    dry_run: bool
    summary: Summary = Field(default_factory=Summary)
    incidents: list[IncidentPlan] = Field(default_factory=list)
