"""What Medic remembers about the silences it creates.

The client announces: a silence was created for a step, a silence was expired. A running
Medic keeps them on its incident desk (:class:`DeskLedger`), to expire them when the
incident resolves and to poll Alertmanager for the resolution the silence mutes; a client
without a ledger remembers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from bot.actions.hooks import HeldSilence, IncidentDesk
from bot.models import parse_incident_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence a step created: its id, the step (``INC-3``, ``RUN-5``, step id), its
    matchers (as Alertmanager parses them) and its lifetime."""

    silence_id: str
    incident_id: str
    run_id: str
    step_id: str
    matchers: tuple[str, ...]
    created_at: datetime
    expires_at: datetime


class SilenceLedger(Protocol):
    """Where the Alertmanager client reports the silences it creates and expires."""

    async def created(self, record: SilenceRecord) -> None:
        """A silence now exists in Alertmanager."""

    async def expired(self, silence_id: str, reason: str) -> None:
        """A silence was expired in Alertmanager (``reason`` says by whom or why)."""


class NoLedger:
    """Remembers nothing (a client used outside a running Medic)."""

    async def created(self, record: SilenceRecord) -> None:
        """Forget."""

    async def expired(self, silence_id: str, reason: str) -> None:
        """Forget."""


class DeskLedger:
    """Keeps the silences of the shared client on Medic's incident desk."""

    def __init__(self, desk: IncidentDesk) -> None:
        self._desk = desk

    async def created(self, record: SilenceRecord) -> None:
        """Remember the silence for its incident."""
        incident_seq = parse_incident_id(record.incident_id)
        if incident_seq is None:
            log.warning("silence.unowned", silence=record.silence_id, incident=record.incident_id)
            return
        run = record.run_id.removeprefix("RUN-")
        await self._desk.remember_silence(
            HeldSilence(
                id=record.silence_id,
                incident_seq=incident_seq,
                run_seq=int(run) if run.isdigit() else None,
                step_id=record.step_id,
                matchers=list(record.matchers),
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )

    async def expired(self, silence_id: str, reason: str) -> None:
        """Mark the silence expired and say so on its incident's timeline (once)."""

        def describe(silence: HeldSilence) -> tuple[str, str]:
            matchers = ", ".join(silence.matchers)
            return "silence.expired", (
                f"Silence {silence.id} ({matchers}) expired in Alertmanager: {reason}"
            )

        await self._desk.silence_expired(silence_id, describe)
