"""Medic's incidents as integrations see them (``IncidentDesk``), over the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.actions.hooks import HeldSilence
from bot.clock import Clock
from bot.models import Alert
from bot.store import Database, audit
from bot.store import incidents as incident_store
from bot.store import silences as silence_store

MEDIC = "medic"


def _held(row: silence_store.SilenceRow) -> HeldSilence:
    return HeldSilence(
        id=row.id,
        incident_seq=row.incident_seq,
        run_seq=row.run_seq,
        step_id=row.step_id,
        matchers=list(row.matchers),
        created_at=row.created_at,
        expires_at=row.expires_at,
        expired_at=row.expired_at,
    )


class StoreDesk:
    """``IncidentDesk`` over ``db``: each call is its own transaction."""

    def __init__(self, db: Database, clock: Clock, install: str) -> None:
        self._db = db
        self._clock = clock
        self._install = install

    @property
    def install(self) -> str:
        """This installation's id."""
        return self._install

    def now(self) -> datetime:
        """The engine's clock."""
        return self._clock.now()

    async def record(
        self, seq: int, kind: str, text: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """A timeline event of Medic's on incident ``seq``."""
        async with self._db.begin() as conn:
            await audit.record_event(
                conn,
                at=self._clock.now(),
                actor=MEDIC,
                kind=kind,
                text=text,
                incident_seq=seq,
                detail=dict(detail) if detail is not None else None,
            )

    async def timeline_details(self, seq: int, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """The details of the incident's timeline events of ``kinds``."""
        async with self._db.connect() as conn:
            return await audit.details_of(conn, seq, kinds)

    async def step_outputs(self, seq: int, action: str) -> list[dict[str, Any]]:
        """The outputs of the incident's real steps of ``action`` that succeeded."""
        async with self._db.connect() as conn:
            return await audit.real_step_outputs(conn, seq, action)

    async def linked_id(self, seq: int) -> str | None:
        """The linked incident id in the other system."""
        async with self._db.connect() as conn:
            return await incident_store.pagerduty_link(conn, seq)

    async def remember_silence(self, silence: HeldSilence) -> None:
        """Remember a silence just created."""
        async with self._db.begin() as conn:
            await silence_store.insert_silence(
                conn,
                silence_store.SilenceRow(
                    id=silence.id,
                    incident_seq=silence.incident_seq,
                    run_seq=silence.run_seq,
                    step_id=silence.step_id,
                    matchers=list(silence.matchers),
                    created_at=silence.created_at,
                    expires_at=silence.expires_at,
                    expired_at=silence.expired_at,
                ),
            )

    async def silence_expired(
        self, silence_id: str, describe: Callable[[HeldSilence], tuple[str, str]]
    ) -> HeldSilence | None:
        """Mark the silence expired and, in the same transaction, put ``describe(silence)``
        (its timeline kind and text) on its incident's timeline; None when not held."""
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = await silence_store.mark_expired(conn, silence_id, now)
            if row is None:
                return None
            held = _held(row)
            kind, text = describe(held)
            await audit.record_event(
                conn,
                at=now,
                actor=MEDIC,
                kind=kind,
                incident_seq=row.incident_seq,
                text=text,
                detail={
                    "silence_id": row.id,
                    "matchers": row.matchers,
                    "run": row.run_seq,
                    "step": row.step_id,
                },
            )
        return held

    async def silences_in_force(self) -> list[HeldSilence]:
        """Silences in force on unresolved incidents."""
        async with self._db.connect() as conn:
            return [_held(row) for row in await silence_store.active(conn, self._clock.now())]

    async def silences_of_resolved(self) -> list[HeldSilence]:
        """Silences still held for resolved incidents."""
        async with self._db.connect() as conn:
            return [_held(row) for row in await silence_store.held_for_resolved(conn)]

    async def firing_alerts(self, seqs: Sequence[int]) -> dict[int, list[Alert]]:
        """The firing alerts of each incident."""
        async with self._db.connect() as conn:
            return await silence_store.firing_alerts(conn, seqs)
