"""PagerDuty responder constants."""

from __future__ import annotations

SYSTEM = "pagerduty"
SUMMARY_LIMIT = 1024
"""Events API v2 limit on ``payload.summary``; longer summaries are cut when sent."""

EVENTS_PATH = "/v2/enqueue"
"""Events API v2: trigger, acknowledge and resolve."""

DEFAULT_SOURCE = "medic"
"""``payload.source`` when the step has no target."""

RETRIES = 3
"""At most this many retries after a 429 or 5xx (so at most ``RETRIES + 1`` attempts)."""

BACKOFF_S = 0.5
"""First wait before a retry; doubled for each further retry unless PagerDuty says how long."""

MAX_WAIT_S = 5.0
"""A ``Retry-After``/``ratelimit-reset`` longer than this is not waited for in the step: the
call fails as retryable and the engine's retry policy takes over."""

TIMEOUT_S = 10.0
"""Per-request timeout (the library's default is 60 s)."""

ERROR_TEXT_LIMIT = 300
"""How much of an unexpected PagerDuty body an error message quotes."""
