"""Alertmanager responder constants."""

from __future__ import annotations

SYSTEM = "alertmanager"
CREATED_BY = "medic"
"""``createdBy`` of every silence Medic creates."""

SILENCES_PATH = "/api/v2/silences"
"""POST a silence → ``{"silenceID": ...}``."""

SILENCE_PATH = "/api/v2/silence/{id}"
"""DELETE expires one silence (singular ``silence``)."""

ALERTS_PATH = "/api/v2/alerts"
"""GET the alerts Alertmanager holds (active, silenced and inhibited), ``filter`` by matchers."""

RETRIES = 2
"""At most this many retries after a 5xx, a timeout or a connection error."""

BACKOFF_S = 0.5
"""First wait before a retry; doubled for each further retry."""

TIMEOUT_S = 10.0
"""Per-request timeout."""

ERROR_TEXT_LIMIT = 300
"""How much of an Alertmanager error body a message quotes."""

NOT_FOUND_TEXT = "silence not found"
"""Alertmanager 0.25 answers a DELETE of an unknown silence with a 500 saying this."""
