"""Medic's domain vocabulary: statuses and the normalised alert every source is turned into."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Via(StrEnum):
    """How a human's decision reached Medic (recorded in the audit trail)."""

    SLACK = "slack"
    """A signed Slack click or command: Slack vouches for the user id."""
    API_USER = "api_user"
    """A personal token from ``server.api_users``: the token is the identity."""
    BRIDGE = "bridge"
    """The bridge token ``server.api_token``: a trusted proxy or chat bridge names the user."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is deciding, and how Medic knows."""

    user: str
    via: Via


class AlertSource(StrEnum):
    """Where an alert came from."""

    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"
    MANUAL = "manual"


class AlertStatus(StrEnum):
    """Firing or resolved, decided per alert (never from a group's top-level status)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class IncidentStatus(StrEnum):
    """open → acknowledged → mitigating → resolved."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """sev1 (worst) .. sev4."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class RunStatus(StrEnum):
    """A playbook run's lifecycle."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


class StepStatus(StrEnum):
    """A step's lifecycle."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"


class ApprovalStatus(StrEnum):
    """An approval's lifecycle."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Alert(BaseModel):
    """One alert notification, normalised from any source; dedup identity is
    (source, fingerprint, starts_at, status)."""

    model_config = ConfigDict(frozen=True)

    source: AlertSource
    fingerprint: str
    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    group_key: str


def incident_id(seq: int) -> str:
    """The public id of incident number ``seq``."""
    return f"INC-{seq}"


# Sequence numbers are positive 64-bit integers in the store (SQLite INTEGER, PostgreSQL
# bigint): written in ASCII digits without a sign or leading zeros.
MAX_SEQ = 2**63 - 1
_SEQ = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)


def parse_seq(text: str, prefix: str) -> int | None:
    """The number inside ``<prefix><n>``, or None when ``text`` is not such an id (another
    prefix, digits that are not ASCII, a sign, leading zeros, or a number the store cannot
    hold)."""
    number = text.removeprefix(prefix)
    if not text.startswith(prefix) or not _SEQ.fullmatch(number):
        return None
    value = int(number)
    return value if value <= MAX_SEQ else None


def parse_incident_id(text: str) -> int | None:
    """The number inside ``INC-<n>``, or None when ``text`` is not an incident id."""
    return parse_seq(text, "INC-")
