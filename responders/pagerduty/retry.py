"""How often and how long the PagerDuty client waits before sending a request again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from responders.pagerduty.const import BACKOFF_S, MAX_WAIT_S, RETRIES

_HINT_HEADERS = ("retry-after", "ratelimit-reset")
"""Seconds to wait, as PagerDuty (``ratelimit-reset`` on REST 429s) or a proxy says."""


def retryable(status: int) -> bool:
    """429 (rate limited) and 5xx may succeed later; other failures will not."""
    return status == 429 or status >= 500


def server_hint(headers: Mapping[str, str]) -> float | None:
    """The wait the server asked for in seconds, if it gave one as a number."""
    for name in _HINT_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``retries`` retries; waits ``backoff_s``, then doubling, unless the server says
    how long, which is honoured up to ``max_wait_s``."""

    retries: int = RETRIES
    backoff_s: float = BACKOFF_S
    max_wait_s: float = MAX_WAIT_S

    def delay(self, retry: int, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based); None when the server asks
        for longer than ``max_wait_s`` (not worth holding the step for)."""
        hint = server_hint(headers)
        if hint is None:
            return self.backoff_s * 2.0**retry
        return hint if hint <= self.max_wait_s else None
