"""What ``incident.*`` actions do to an incident, over the store (IncidentControl)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import structlog

from bot.actions.contract import Escalation
from bot.engine.deps import EngineDeps
from bot.engine.intake.after_commit import after_commit
from bot.engine.intake.grouping import MEDIC, IntakeResult, resolve_incident
from bot.engine.integrations.hooks import PageOutcome
from bot.errors import PermanentError
from bot.events import IncidentChange, IncidentChangeKind
from bot.models import IncidentStatus, Severity
from bot.store import AsyncConnection
from bot.store import incidents as incident_store
from bot.store.audit import record_event

log = structlog.get_logger(__name__)


class IncidentOps:
    """IncidentControl for one run's incident.

    Given ``conn``, its changes join that transaction (a ``control`` step's effect commits
    with the step's outcome) and are narrated by :meth:`publish` once the caller committed.
    """

    def __init__(
        self,
        deps: EngineDeps,
        incident_seq: int,
        actor: str = MEDIC,
        run_seq: int | None = None,
        conn: AsyncConnection | None = None,
    ) -> None:
        self._deps = deps
        self._seq = incident_seq
        self._actor = actor
        self._run = run_seq
        self._conn = conn
        self._committed_later: list[tuple[list[IncidentChange], IntakeResult]] = []

    def publish(self) -> None:
        """Narrate what this joined a transaction for (call once that committed)."""
        for changes, result in self._committed_later:
            self._deps.narration.publish(changes)
            after_commit(self._deps, result)
        self._committed_later.clear()

    async def note(self, text: str) -> None:
        """A timeline note."""
        async with self._change() as (conn, _, _):
            await self._record(conn, "incident.note", text)

    async def set_severity(self, severity: str) -> str:
        """Change severity; returns the previous one."""
        async with self._change() as (conn, incident, result):
            now = self._deps.clock.now()
            await incident_store.set_severity(conn, self._seq, Severity(severity), now)
            text = f"Severity {incident.severity} → {severity}"
            await self._record(conn, "incident.severity", text)
            updated = replace(incident, severity=Severity(severity))
            result.note(updated, IncidentChangeKind.UPDATED, text)
        return incident.severity.value

    async def escalate(self, reason: str, *, page: bool = True) -> Escalation:
        """Say it loudly, and page through the enabled integration that pages (PagerDuty)
        when ``page`` (once per reason). An incident already resolved is never escalated:
        nobody is paged for it."""
        async with self._deps.db.connect() as conn:
            incident = await incident_store.get_incident(conn, self._seq)
        if incident is None or incident.status is IncidentStatus.RESOLVED:
            log.info("incident.escalation_skipped", incident=f"INC-{self._seq}", reason=reason)
            return Escalation(escalated=False, paged=False)
        outcome = await self._deps.hooks.page(self._seq, reason) if page else None
        paged = outcome is not None and outcome.paged
        text = f"ESCALATED: {reason}{self._page_suffix(outcome)}"
        async with self._change() as (conn, incident, result):
            await self._record(conn, "incident.escalated", text)
            result.note(incident, IncidentChangeKind.UPDATED, text)
        return Escalation(escalated=True, paged=paged)

    def _page_suffix(self, outcome: PageOutcome | None) -> str:
        if outcome is None:
            return " (not paged: this playbook escalates without paging)"
        if outcome.pager is None:
            pagers = " or ".join(self._deps.hooks.pager_names()) or "no pager"
            return f" ({pagers} is not enabled: nobody was paged)"
        if outcome.paged:
            return f" ({outcome.pager} paged)"
        return f" (the {outcome.pager} page failed: see the timeline)"

    async def resolve(self, summary: str) -> None:
        """Resolve the incident (cancelling what its playbooks say to cancel)."""
        async with self._change() as (conn, incident, result):
            if incident.status is IncidentStatus.RESOLVED:
                return
            text = f"Incident resolved by {self._actor}" + (f": {summary}" if summary else "")
            await resolve_incident(
                conn,
                incident,
                self._deps.clock.now(),
                result,
                self._deps.playbooks,
                actor=self._actor,
                text=text,
                resolving_run=self._run,
            )

    async def acknowledge(self) -> bool:
        """A human took the incident: open → acknowledged (a later status stays), and the
        linked PagerDuty incident is acknowledged too. False when already resolved."""
        async with self._change() as (conn, incident, result):
            if incident.status is IncidentStatus.RESOLVED:
                return False
            text = f"Acknowledged by {self._actor}"
            now_status = incident.status
            if incident.status is IncidentStatus.OPEN:
                now_status = IncidentStatus.ACKNOWLEDGED
                now = self._deps.clock.now()
                await incident_store.set_status(conn, self._seq, now_status, now)
            await self._record(conn, "incident.acknowledged", text)
            result.note(replace(incident, status=now_status), IncidentChangeKind.UPDATED, text)
        self._deps.hooks.acknowledged(self._seq, self._actor)
        return True

    async def mitigating(self) -> None:
        """The first real write step started: open/acknowledged → mitigating."""
        async with self._change() as (conn, incident, result):
            if incident.status not in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
                return
            now = self._deps.clock.now()
            await incident_store.set_status(conn, self._seq, IncidentStatus.MITIGATING, now)
            text = "Mitigating: the first change to the world has started"
            await self._record(conn, "incident.mitigating", text)
            result.note(
                replace(incident, status=IncidentStatus.MITIGATING),
                IncidentChangeKind.UPDATED,
                text,
            )

    @asynccontextmanager
    async def _change(
        self,
    ) -> AsyncIterator[tuple[AsyncConnection, incident_store.IncidentRow, IntakeResult]]:
        """A transaction on the incident; what it noted is narrated once it commits."""
        result = IntakeResult()
        if self._conn is not None:
            incident = await incident_store.get_incident(self._conn, self._seq)
            if incident is None:
                raise PermanentError(f"INC-{self._seq} does not exist")
            yield self._conn, incident, result
            changes = await result.changes(self._conn, self._deps.clock.now())
            self._committed_later.append((changes, result))
            return
        async with self._deps.db.begin() as conn:
            incident = await incident_store.get_incident(conn, self._seq)
            if incident is None:
                raise PermanentError(f"INC-{self._seq} does not exist")
            yield conn, incident, result
            changes = await result.changes(conn, self._deps.clock.now())
        self._deps.narration.publish(changes)
        after_commit(self._deps, result)

    async def _record(self, conn: AsyncConnection, kind: str, text: str) -> None:
        await record_event(
            conn,
            at=self._deps.clock.now(),
            actor=self._actor,
            kind=kind,
            text=text,
            incident_seq=self._seq,
        )


async def declare_incident(deps: EngineDeps, title: str, severity: Severity, commander: str) -> int:
    """A human declares an incident (``/incident declare``): open it with them as commander.
    Returns its number."""
    now = deps.clock.now()
    result = IntakeResult()
    async with deps.db.begin() as conn:
        incident = await incident_store.open_incident(
            conn,
            title=title,
            severity=severity,
            group_key=f"declared/{uuid.uuid4()}",
            at=now,
            previous_seq=None,
            commander=commander,
        )
        text = f"Declared by {commander}: {title} ({severity})"
        await record_event(
            conn,
            at=now,
            actor=commander,
            kind="incident.opened",
            text=text,
            incident_seq=incident.seq,
        )
        result.note(incident, IncidentChangeKind.OPENED, text)
        changes = await result.changes(conn, now)
    deps.narration.publish(changes)
    return incident.seq
