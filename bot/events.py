"""What the engine tells narrators after a commit; narration never steers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.models import IncidentStatus, Severity, incident_id


class IncidentChangeKind(StrEnum):
    """What happened to an incident."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"


class IncidentChange(BaseModel):
    """An incident opened, gained or changed an alert, or resolved."""

    model_config = ConfigDict(frozen=True)

    kind: IncidentChangeKind
    incident_seq: int
    title: str
    severity: Severity
    status: IncidentStatus
    alert_count: int
    text: str

    @property
    def incident_id(self) -> str:
        """The public ``INC-<n>`` id."""
        return incident_id(self.incident_seq)


class StepEvent(BaseModel):
    """A step started or finished."""

    model_config = ConfigDict(frozen=True)

    incident_seq: int
    run_id: str
    playbook: str
    step_id: str
    action: str
    status: str
    dry_run: bool = False
    summary: str = ""
    error: str | None = None

    @property
    def incident_id(self) -> str:
        """The public ``INC-<n>`` id."""
        return incident_id(self.incident_seq)


class ApprovalEvent(BaseModel):
    """An approval was requested or decided."""

    model_config = ConfigDict(frozen=True)

    incident_seq: int
    run_id: str
    approval_id: str
    step_id: str
    mode: str
    status: str
    prompt: str = ""
    reason: str | None = None
    required: int = 1
    expires_at: datetime | None = None
    decided_by: str | None = None

    @property
    def incident_id(self) -> str:
        """The public ``INC-<n>`` id."""
        return incident_id(self.incident_seq)


class RunEvent(BaseModel):
    """A run finished (or was skipped, aborted, interrupted)."""

    model_config = ConfigDict(frozen=True)

    incident_seq: int
    run_id: str
    playbook: str
    status: str
    detail: str = ""

    @property
    def incident_id(self) -> str:
        """The public ``INC-<n>`` id."""
        return incident_id(self.incident_seq)


EngineEvent = IncidentChange | StepEvent | ApprovalEvent | RunEvent
