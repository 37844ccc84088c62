"""The global pause switch: no ``write`` step starts anywhere while it is on.

The switch lives in the store (the ``pause`` row of ``switches``); the transaction that
starts a write step locks and reads it (:func:`bot.store.safety.start_write_step`), so a
pause that has answered holds for every step that starts after it, in any process sharing
the store. What this class keeps in memory (for status lines and for waking paused runs)
follows the store; it never decides alone whether a write may start.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from bot.clock import Clock
from bot.errors import DecisionRefused
from bot.models import Identity
from bot.store import AsyncConnection, Database
from bot.store.audit import record_event
from bot.store.incidents import open_incident_seqs
from bot.store.notify import Topic, announce
from bot.store.safety import ensure_pause_row, read_pause
from bot.store.switches import PAUSE, write_switch

CONFIGURED = "safety.paused is set in the configuration"
POLL_S = 5.0
"""How often a paused run re-reads the switch (another process may have resumed)."""


class PauseSwitch:
    """On when ``safety.paused`` is set (only config can lift that) or when a human paused."""

    def __init__(self, db: Database, clock: Clock, *, configured: bool) -> None:
        self._db = db
        self._clock = clock
        self.configured = configured
        self._by_human = False
        self.reason = CONFIGURED if configured else ""
        self._resumed = asyncio.Event()
        self._row_ensured = False

    async def load(self) -> None:
        """Read the durable switch (a pause survives restarts; another replica may have
        paused or resumed since); the first time, make sure its row exists."""
        if not self._row_ensured:
            async with self._db.begin() as conn:
                await ensure_pause_row(conn, self._clock.now())
            self._row_ensured = True
        await self.refresh()

    async def refresh(self) -> bool:
        """Re-read the durable switch; True while paused."""
        async with self._db.connect() as conn:
            reason = await read_pause(conn)
        self._by_human = reason is not None
        self.reason = reason or (CONFIGURED if self.configured else "")
        self._sync()
        return self.paused

    @property
    def paused(self) -> bool:
        """True while write steps must wait (as last read from the store)."""
        return self.configured or self._by_human

    async def wait_resumed(self) -> None:
        """Return once the durable switch is off (woken at once by a resume here, and
        re-reading the store every ``POLL_S`` for a resume elsewhere)."""
        while await self.refresh():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._resumed.wait()

    async def pause(self, who: Identity, reason: str) -> None:
        """Turn the switch on (committed, audited). Updating the row waits for write steps
        starting right now; every later start sees the pause."""
        user = who.user
        now = self._clock.now()
        async with self._db.begin() as conn:
            await write_switch(conn, PAUSE, {"paused": True, "reason": reason}, user, now)
            await announce(conn, Topic.PAUSE)
            await _announce(
                conn,
                now,
                who,
                "safety.paused",
                f"Paused by {user}: {reason}. No automatic change starts anywhere until resumed",
            )
        self._by_human = True
        self.reason = f"paused by {user}: {reason}"
        self._sync()

    async def resume(self, who: Identity) -> None:
        """Turn the switch off; refused while the configuration pauses."""
        user = who.user
        if self.configured:
            raise DecisionRefused("conflict", f"{CONFIGURED}; change it there")
        now = self._clock.now()
        async with self._db.begin() as conn:
            await write_switch(conn, PAUSE, {"paused": False}, user, now)
            await announce(conn, Topic.PAUSE)
            await _announce(
                conn, now, who, "safety.resumed", f"Resumed by {user}: automatic steps may run"
            )
        self._by_human = False
        self.reason = ""
        self._sync()

    def _sync(self) -> None:
        if self.paused:
            self._resumed.clear()
        else:
            self._resumed.set()


async def _announce(
    conn: AsyncConnection, at: datetime, who: Identity, kind: str, text: str
) -> None:
    """The audit event, and the same line in every open incident's timeline."""
    via = {"via": who.via.value}
    await record_event(conn, at=at, actor=who.user, kind=kind, text=text, detail=via)
    for seq in await open_incident_seqs(conn):
        await record_event(
            conn, at=at, actor=who.user, kind=kind, text=text, incident_seq=seq, detail=via
        )
