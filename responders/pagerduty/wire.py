"""PagerDuty's request and response bodies (Events API v2, REST v2) as Medic sends and reads them.

Requests are built from these models so a wrong shape fails in Medic, not at PagerDuty.
Responses are read leniently (unknown keys ignored): PagerDuty adds fields over time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from responders.pagerduty.const import ERROR_TEXT_LIMIT, SUMMARY_LIMIT
from responders.pagerduty.models import Severity

EventAction = Literal["trigger", "acknowledge", "resolve"]
IncidentStatus = Literal["acknowledged", "resolved"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def body(self) -> dict[str, Any]:
        """The JSON body (unset optional parts left out)."""
        return self.model_dump(exclude_none=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Link(_Request):
    """A link shown on the PagerDuty alert."""

    href: str
    text: str


class EventPayload(_Request):
    """``payload`` of a trigger event."""

    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT)
    source: str = Field(min_length=1)
    severity: Severity
    custom_details: dict[str, Any] = Field(default_factory=dict)


class Event(_Request):
    """An Events API v2 event; the library adds ``routing_key`` to the body."""

    event_action: EventAction
    dedup_key: str = Field(min_length=1, max_length=255)
    payload: EventPayload | None = None
    links: list[Link] | None = None


class EventAnswer(_Answer):
    """What ``POST /v2/enqueue`` answers (202 accepted, 400 invalid event, 429 throttled)."""

    status: str = ""
    message: str = ""
    dedup_key: str | None = None
    errors: list[str] = Field(default_factory=list)


class NoteBody(_Request):
    """``{"note": {"content"}}``."""

    content: str = Field(min_length=1)


class NoteRequest(_Request):
    """Body of ``POST /incidents/{id}/notes``."""

    note: NoteBody


class IncidentReference(_Request):
    """``{"type": "incident_reference", "status"}``."""

    type: Literal["incident_reference"] = "incident_reference"
    status: IncidentStatus


class IncidentUpdate(_Request):
    """Body of ``PUT /incidents/{id}``."""

    incident: IncidentReference


class Note(_Answer):
    """A note as PagerDuty returns it."""

    id: str
    content: str = ""


class NoteAnswer(_Answer):
    """``{"note": {...}}``."""

    note: Note


class Incident(_Answer):
    """An incident as PagerDuty returns it (the fields Medic reads)."""

    id: str
    status: str


class IncidentAnswer(_Answer):
    """``{"incident": {...}}``."""

    incident: Incident


class RestErrorDetail(_Answer):
    """``error`` of a REST v2 error body."""

    message: str = ""
    code: int | None = None
    errors: list[str] = Field(default_factory=list)


class RestError(_Answer):
    """``{"error": {"message", "code", "errors"}}``."""

    error: RestErrorDetail


def refusal_text(body: bytes) -> str:
    """PagerDuty's own explanation from an error body (Events or REST shape), else its start."""
    for parse in (_events_refusal, _rest_refusal):
        text = parse(body)
        if text:
            return text
    text = body.decode("utf-8", errors="replace").strip()
    return text[:ERROR_TEXT_LIMIT] or "<empty body>"


def _events_refusal(body: bytes) -> str:
    try:
        answer = EventAnswer.model_validate_json(body)
    except ValidationError:
        return ""
    return _join(answer.message, answer.errors)


def _rest_refusal(body: bytes) -> str:
    try:
        answer = RestError.model_validate_json(body)
    except ValidationError:
        return ""
    return _join(answer.error.message, answer.error.errors)


def _join(message: str, errors: list[str]) -> str:
    details = "; ".join(errors)
    if message and details:
        return f"{message}: {details}"
    return message or details
