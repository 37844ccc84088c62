"""PagerDuty v3 webhook bodies, validated at the edge; unknown fields accepted."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.timestamps import UtcTime


class Reference(BaseModel):
    """A PagerDuty ``*_reference`` object."""

    model_config = ConfigDict(extra="allow")

    id: str
    summary: str = ""


class IncidentData(BaseModel):
    """``event.data`` of an incident event (other resources keep their own fields)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    number: int | None = None
    status: str | None = None
    incident_key: str | None = None
    title: str = ""
    html_url: str | None = None
    urgency: str | None = None
    service: Reference | None = None
    assignees: list[Reference] = Field(default_factory=list)
    content: str | None = None  # annotations carry the note's text
    incident: Reference | None = None  # annotations point at their incident


class PagerDutyEvent(BaseModel):
    """One event; v3 sends one per POST."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str = ""
    occurred_at: UtcTime
    agent: Reference | None = None
    data: IncidentData


class PagerDutyWebhook(BaseModel):
    """``{"event": {...}}``."""

    model_config = ConfigDict(extra="allow")

    event: PagerDutyEvent
