"""What Medic remembers about the silences it creates (implemented by the engine).

The responder only announces: a silence was created for a step, a silence was expired. The
engine keeps them (to expire them when the incident resolves, and to poll Alertmanager for
the resolution the silence mutes); a client without a ledger remembers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


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
