"""Events other systems sent to an integration's webhook, journaled, taken into incidents by
the integration's ``inbound`` hook inside the intake transaction (``IntakeDesk``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import structlog

from bot.actions.hooks import InboundMapper, IncidentRef
from bot.engine.intake.grouping import IntakeResult, resolve_incident, take_batch
from bot.events import IncidentChangeKind
from bot.models import Alert, IncidentStatus
from bot.playbooks.playbook import PlaybookSet
from bot.store import AsyncConnection, inbound_events, journal
from bot.store import incidents as incident_store
from bot.store.audit import record_event

log = structlog.get_logger(__name__)


def _ref(row: incident_store.IncidentRow | None) -> IncidentRef | None:
    return None if row is None else IncidentRef(seq=row.seq, status=row.status)


class TransactionDesk:
    """``IntakeDesk`` over the intake transaction ``conn``; changes go to ``result``."""

    def __init__(
        self,
        conn: AsyncConnection,
        now: datetime,
        result: IntakeResult,
        playbooks: PlaybookSet,
        install: str,
    ) -> None:
        self._conn = conn
        self._now = now
        self._result = result
        self._playbooks = playbooks
        self._install = install

    @property
    def install(self) -> str:
        """This installation's id."""
        return self._install

    @property
    def now(self) -> datetime:
        """The time the batch is taken at."""
        return self._now

    async def linked(self, external_id: str) -> IncidentRef | None:
        """The incident linked to ``external_id``."""
        return _ref(await incident_store.find_by_pagerduty(self._conn, external_id))

    async def incident(self, seq: int) -> IncidentRef | None:
        """Incident ``seq``."""
        return _ref(await incident_store.get_incident(self._conn, seq))

    async def open_from_alert(self, alert: Alert) -> IncidentRef | None:
        """Journal ``alert`` and take it through the normal intake."""
        inserted = await journal.insert_alerts(self._conn, [alert], self._now)
        alert_id = inserted.get(journal.identity(alert))
        if alert_id is None:
            return None
        await take_batch(self._conn, [(alert_id, alert)], self._now, self._result, self._playbooks)
        seq = await journal.get_alert_incident(self._conn, alert_id)
        return None if seq is None else await self.incident(seq)

    async def link(self, seq: int, external_id: str) -> None:
        """Link incident ``seq`` to ``external_id``."""
        await incident_store.link_pagerduty(self._conn, seq, external_id, self._now)

    async def resolve(self, incident: IncidentRef, *, actor: str, text: str) -> None:
        """Resolve by the normal rules."""
        row = await self._row(incident)
        await resolve_incident(
            self._conn, row, self._now, self._result, self._playbooks, actor=actor, text=text
        )

    async def update(
        self, incident: IncidentRef, status: IncidentStatus, *, actor: str, kind: str, text: str
    ) -> None:
        """Set the status (when it changes) and say ``text`` on the timeline."""
        row = await self._row(incident)
        if status is not row.status:
            await incident_store.set_status(self._conn, row.seq, status, self._now)
        await record_event(
            self._conn, at=self._now, actor=actor, kind=kind, text=text, incident_seq=row.seq
        )
        self._result.note(replace(row, status=status), IncidentChangeKind.UPDATED, text)

    async def _row(self, incident: IncidentRef) -> incident_store.IncidentRow:
        row = await incident_store.get_incident(self._conn, incident.seq)
        if row is None:
            raise LookupError(f"INC-{incident.seq} does not exist")
        return row


async def take_external_events(
    conn: AsyncConnection,
    mappers: Mapping[str, InboundMapper],
    desk: TransactionDesk,
    limit: int,
) -> int | None:
    """Map up to ``limit`` journaled events through their source's mapper; the last one's
    number (None when there were none). An event whose integration is not installed (any
    more) is logged and marked processed."""
    pending = await inbound_events.unprocessed_events(conn, limit)
    for seq, source, payload in pending:
        mapper = mappers.get(source)
        if mapper is None:
            log.warning("inbound.unmapped_event", inbound_event=seq, source=source)
        else:
            await mapper(desk, payload)
        await inbound_events.mark_event_processed(conn, seq, desk.now)
    return pending[-1][0] if pending else None
