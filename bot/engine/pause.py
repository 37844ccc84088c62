"""The global pause switch: no automatic write step starts anywhere while it is on."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.errors import DecisionRefused
from bot.models import Identity
from bot.store import Database
from bot.store.audit import record_event
from bot.store.incidents import open_incident_seqs
from bot.store.switches import PAUSE, read_switch, write_switch


class PauseSwitch:
    """On when ``safety.paused`` is set (only config can lift that) or when a human paused."""

    def __init__(self, db: Database, clock: Clock, *, configured: bool) -> None:
        self._db = db
        self._clock = clock
        self._configured = configured
        self._by_human = False
        self.reason = "safety.paused is set in the configuration" if configured else ""
        self._resumed = asyncio.Event()

    async def load(self) -> None:
        """Read the durable state (a pause survives restarts; another replica may have
        paused or resumed since)."""
        async with self._db.connect() as conn:
            state = await read_switch(conn, PAUSE)
        self._by_human = state is not None and bool(state.value.get("paused"))
        if self._by_human and state is not None:
            self.reason = f"paused by {state.changed_by}: {state.value.get('reason', '')}"
        elif not self._configured:
            self.reason = ""
        self._sync()

    @property
    def paused(self) -> bool:
        """True while automatic write steps must wait."""
        return self._configured or self._by_human

    async def wait_resumed(self) -> None:
        """Return once the switch is off."""
        await self._resumed.wait()

    async def pause(self, who: Identity, reason: str) -> None:
        """Turn the switch on (committed, audited)."""
        user = who.user
        now = self._clock.now()
        async with self._db.begin() as conn:
            await write_switch(conn, PAUSE, {"paused": True, "reason": reason}, user, now)
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
        if self._configured:
            raise DecisionRefused(
                "conflict", "safety.paused is set in the configuration; change it there"
            )
        now = self._clock.now()
        async with self._db.begin() as conn:
            await write_switch(conn, PAUSE, {"paused": False}, user, now)
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
