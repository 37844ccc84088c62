"""Backing off per incident while Slack fails: exponential delays between a minimum and a
maximum, reset by the first delivery that succeeds."""

from __future__ import annotations

import time


class DeliveryBackoff:
    """Failures in a row and the next allowed attempt, per incident."""

    def __init__(self, min_s: float, max_s: float) -> None:
        self._min_s = min_s
        self._max_s = max_s
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}
        self.failed_deliveries = 0
        """Failed deliveries since start (medic_delivery_failures_total{target="slack"})."""

    def waiting(self, seq: int, now: float) -> bool:
        """The incident's next attempt is not due yet."""
        return self._retry_at.get(seq, 0.0) > now

    def failures(self, seq: int) -> int:
        """Failed deliveries of the incident in a row."""
        return self._failures.get(seq, 0)

    def failed(self, seq: int) -> float:
        """A delivery failed: count it; returns the delay before the next attempt."""
        self.failed_deliveries += 1
        failures = self._failures.get(seq, 0) + 1
        self._failures[seq] = failures
        delay = min(self._max_s, self._min_s * float(2 ** (failures - 1)))
        self._retry_at[seq] = time.monotonic() + delay
        return delay

    def reset(self, seq: int) -> None:
        """A delivery succeeded (or was given up): the next attempt may come at once."""
        self._failures.pop(seq, None)
        self._retry_at.pop(seq, None)
