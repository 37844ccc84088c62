"""What the engine tells narrators after a commit; narration never steers."""

from __future__ import annotations

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
