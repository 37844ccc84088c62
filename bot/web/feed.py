"""The store's change feed for live pages: the audit trail's sequence number.

Every change a page shows (an incident opened, a step started or finished, a decision, a
pause) appends an audit event in the same transaction, so the highest audit ``seq`` says
"something changed" for every replica sharing the store. One task per server reads it (one
small query per interval, however many browsers listen) and wakes the event streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

import structlog

from bot.errors import StoreError
from bot.store import Database
from bot.store.audit import changes_after, latest_seq
from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)

POLL_S = 0.5
BATCH = 500
REMEMBERED = 5000


@dataclass(frozen=True, slots=True)
class Change:
    """One audit event: its sequence number and incident (None: global, e.g. a pause)."""

    seq: int
    incident_seq: int | None


class ChangeFeed(BackgroundService):
    """The latest audit sequence number, recent changes, and a wake-up for listeners."""

    task_name = "web-change-feed"

    def __init__(self, db: Database, poll_s: float = POLL_S) -> None:
        super().__init__()
        self._db = db
        self._poll_s = poll_s
        self._recent: deque[Change] = deque(maxlen=REMEMBERED)
        self._changed = asyncio.Condition()
        self.latest = 0

    async def _prepare(self) -> bool:
        """Read the current position; the loop follows the store from there."""
        async with self._db.connect() as conn:
            self.latest = await latest_seq(conn)
        return True

    def since(self, seq: int) -> list[Change] | None:
        """Changes after ``seq``; None when they are older than what is remembered."""
        if seq >= self.latest:
            return []
        if not self._recent or self._recent[0].seq > seq + 1:
            return None
        return [c for c in self._recent if c.seq > seq]

    async def wait_past(self, seq: int, within: float) -> None:
        """Return once ``latest`` is past ``seq``, or after ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: self.latest > seq)

    async def _run(self) -> None:
        while True:
            try:
                await self._read()
            except StoreError as err:
                log.warning("web.feed_unavailable", error=type(err).__name__)
            await asyncio.sleep(self._poll_s)

    async def _read(self) -> None:
        async with self._db.connect() as conn:
            rows = await changes_after(conn, self.latest, BATCH)
        if not rows:
            return
        self._recent.extend(Change(seq, incident) for seq, incident in rows)
        async with self._changed:
            self.latest = rows[-1][0]
            self._changed.notify_all()
