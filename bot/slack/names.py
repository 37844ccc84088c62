"""Incident channel names and topics, within Slack's rules."""

from __future__ import annotations

import re
from datetime import datetime

NAME_LIMIT = 80
TOPIC_LIMIT = 250
# Room kept for a ``-<n>`` suffix when the name is taken.
_SUFFIX_ROOM = 3
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slug(text: str) -> str:
    """``"DB pool exhausted: api/v2!"`` → ``"db-pool-exhausted-api-v2"``."""
    flat = _NOT_ALLOWED.sub("-", text.lower())
    return _DASHES.sub("-", flat).strip("-_")


def channel_name(prefix: str, created_at: datetime, title: str, incident_id: str) -> str:
    """``<prefix>-<yyyymmdd>-<slug>``: lowercase, only ``a-z0-9-_``, at most 80 characters
    (less the room for a ``-<n>`` suffix); the incident id stands in for an empty slug."""
    head = f"{slug(prefix) or 'inc'}-{created_at:%Y%m%d}-"
    body = slug(title) or slug(incident_id)
    room = NAME_LIMIT - _SUFFIX_ROOM - len(head)
    return head + (body[:room].rstrip("-_") or slug(incident_id))


def topic(severity: str, title: str, status: str) -> str:
    """``SEV1 · mitigating · <title>``, cut to Slack's 250 characters."""
    text = f"{severity.upper()} · {status} · {' '.join(title.split())}"
    return text if len(text) <= TOPIC_LIMIT else text[: TOPIC_LIMIT - 1] + "…"
