"""Which timeline events are already in Slack, above each channel's durable cursor.

Audit numbers are handed out when a row is inserted, not when its transaction commits, so on
PostgreSQL event 51 can become visible before event 50. A cursor advanced to 51 at once would
skip 50 for ever. So a posted event is remembered here, and the durable cursor only moves
over events first seen at least ``settle_s`` ago: every transaction that took a smaller
number started before that and, being short, has committed since (and was posted by a later
round, since rounds post every visible event not remembered here). A restart forgets this
ledger, so at most ``settle_s`` of narration may be posted twice; none is ever lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable


class SentLedger:
    """Per incident: the events posted above its durable cursor, and when each was seen."""

    def __init__(self, settle_s: float) -> None:
        self._settle_s = settle_s
        self._sent: dict[int, dict[int, float]] = {}

    def unsent(self, incident: int, seqs: Iterable[int]) -> list[int]:
        """``seqs`` not posted yet, in order."""
        sent = self._sent.get(incident, {})
        return sorted(seq for seq in seqs if seq not in sent)

    def mark(self, incident: int, seqs: Iterable[int]) -> None:
        """These events are in Slack now."""
        now = time.monotonic()
        sent = self._sent.setdefault(incident, {})
        for seq in seqs:
            sent.setdefault(seq, now)

    def settled_through(self, incident: int) -> int | None:
        """The newest posted event that the durable cursor may pass (None if none yet)."""
        horizon = time.monotonic() - self._settle_s
        settled = [seq for seq, seen in self._sent.get(incident, {}).items() if seen <= horizon]
        return max(settled) if settled else None

    def forget_through(self, incident: int, cursor: int) -> None:
        """The durable cursor reached ``cursor``: events up to it need no memory."""
        sent = self._sent.get(incident)
        if sent is None:
            return
        for seq in [s for s in sent if s <= cursor]:
            del sent[seq]
        if not sent:
            del self._sent[incident]

    def settling(self) -> list[int]:
        """Incidents whose cursor still has to move over posted events."""
        return list(self._sent)
