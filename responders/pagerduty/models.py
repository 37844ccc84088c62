"""Params models of the ``pagerduty.*`` actions.

Which PagerDuty incident: the one whose ``dedup_key`` (incident key) is given, or, when None,
the one Medic paged for this Medic incident (Medic pages with its incident id as dedup key) or
that PagerDuty's webhook linked to it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from bot.actions.contract import ActionOutput, ActionParams
from responders.common import NonEmptyStr, ScalarStr, non_empty

Severity = Literal["critical", "error", "warning", "info"]
DedupKey = Annotated[str, StringConstraints(max_length=255), AfterValidator(non_empty)]
"""PagerDuty's incident key (at most 255 characters)."""


class PageParams(ActionParams):
    """``pagerduty.page``: trigger an alert through the Events API v2.

    ``routing_key_name`` picks ``pagerduty.routing_keys[name]``; None = ``pagerduty.routing_key``.
    """

    summary: NonEmptyStr
    severity: Severity = "critical"
    routing_key_name: NonEmptyStr | None = None
    dedup_key: DedupKey | None = None
    details: dict[str, ScalarStr] = Field(default_factory=dict)


class NoteParams(ActionParams):
    """``pagerduty.note``: add a note to the PagerDuty incident."""

    content: NonEmptyStr
    dedup_key: DedupKey | None = None


class AcknowledgeParams(ActionParams):
    """``pagerduty.acknowledge``: acknowledge the PagerDuty incident."""

    dedup_key: DedupKey | None = None
    routing_key_name: NonEmptyStr | None = None


class ResolveParams(ActionParams):
    """``pagerduty.resolve``: resolve the PagerDuty incident."""

    dedup_key: DedupKey | None = None
    routing_key_name: NonEmptyStr | None = None


class AlertOutput(ActionOutput):
    """``pagerduty.acknowledge`` / ``resolve``: the alert's dedup key and routing key name
    (never the key itself)."""

    dedup_key: str = ""
    routing_key_name: str | None = None


class PageOutput(AlertOutput):
    """``pagerduty.page``: the alert triggered."""

    severity: str = ""
    summary: str = ""


class NoteOutput(ActionOutput):
    """``pagerduty.note``: the PagerDuty incident and the note's id."""

    pagerduty_incident_id: str | None = None
    note_id: str | None = None
