"""What ``incident.*`` actions do to an incident, over the store (IncidentControl)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.engine.deps import EngineDeps
from bot.engine.events import IncidentChangeKind, RunEvent
from bot.engine.intake import MEDIC, IntakeResult, resolve_incident
from bot.errors import PermanentError
from bot.models import IncidentStatus, RunStatus, Severity
from bot.store import incidents as incident_store
from bot.store.audit import record_event


class IncidentOps:
    """IncidentControl for one run's incident."""

    def __init__(self, deps: EngineDeps, incident_seq: int, actor: str = MEDIC) -> None:
        self._deps = deps
        self._seq = incident_seq
        self._actor = actor

    async def note(self, text: str) -> None:
        """A timeline note."""
        async with self._deps.db.begin() as conn:
            await record_event(
                conn,
                at=self._deps.clock.now(),
                actor=self._actor,
                kind="incident.note",
                text=text,
                incident_seq=self._seq,
            )

    async def set_severity(self, severity: str) -> str:
        """Change severity; returns the previous one."""
        now = self._deps.clock.now()
        result = IntakeResult()
        async with self._deps.db.begin() as conn:
            incident = await self._incident(conn)
            await incident_store.set_severity(conn, self._seq, Severity(severity), now)
            text = f"Severity {incident.severity} → {severity}"
            await record_event(
                conn,
                at=now,
                actor=self._actor,
                kind="incident.severity",
                text=text,
                incident_seq=self._seq,
            )
            updated = incident_store.IncidentRow(
                seq=incident.seq,
                title=incident.title,
                severity=Severity(severity),
                status=incident.status,
            )
            result.note(updated, IncidentChangeKind.UPDATED, text)
            changes = await result.changes(conn, now)
        self._deps.narration.publish(changes)
        return incident.severity.value

    async def escalate(self, reason: str) -> bool:
        """Say it loudly; page when PagerDuty is ready (its responder arrives separately)."""
        paged = self._deps.integration_ready("pagerduty")
        suffix = "" if paged else " (PagerDuty is not enabled: nobody was paged)"
        text = f"ESCALATED: {reason}{suffix}"
        result = IntakeResult()
        now = self._deps.clock.now()
        async with self._deps.db.begin() as conn:
            incident = await self._incident(conn)
            await record_event(
                conn,
                at=now,
                actor=self._actor,
                kind="incident.escalated",
                text=text,
                incident_seq=self._seq,
            )
            result.note(incident, IncidentChangeKind.UPDATED, text)
            changes = await result.changes(conn, now)
        self._deps.narration.publish(changes)
        return paged

    async def resolve(self, summary: str) -> None:
        """Resolve the incident (cancelling what its playbooks say to cancel)."""
        result = IntakeResult()
        now = self._deps.clock.now()
        async with self._deps.db.begin() as conn:
            incident = await self._incident(conn)
            if incident.status is IncidentStatus.RESOLVED:
                return
            await resolve_incident(
                conn,
                incident,
                now,
                result,
                self._deps.playbooks,
                actor=self._actor,
                text=f"Incident resolved by {self._actor}" + (f": {summary}" if summary else ""),
            )
            changes = await result.changes(conn, now)
        self._deps.narration.publish(changes)
        for approval_seq in result.cancelled_approvals:
            self._deps.hub.notify(approval_seq)
        for run in result.cancelled_runs:
            self._deps.narration.run_finished(
                RunEvent(
                    incident_seq=run.incident_seq,
                    run_id=f"RUN-{run.seq}",
                    playbook=run.playbook,
                    status=RunStatus.ABORTED.value,
                    detail="the incident resolved",
                )
            )

    async def mitigating(self) -> None:
        """The first real write step started: open/acknowledged → mitigating."""
        now = self._deps.clock.now()
        result = IntakeResult()
        async with self._deps.db.begin() as conn:
            incident = await self._incident(conn)
            if incident.status not in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
                return
            await incident_store.set_status(conn, self._seq, IncidentStatus.MITIGATING, now)
            text = "Mitigating: the first change to the world has started"
            await record_event(
                conn,
                at=now,
                actor=self._actor,
                kind="incident.mitigating",
                text=text,
                incident_seq=self._seq,
            )
            updated = incident_store.IncidentRow(
                seq=incident.seq,
                title=incident.title,
                severity=incident.severity,
                status=IncidentStatus.MITIGATING,
            )
            result.note(updated, IncidentChangeKind.UPDATED, text)
            changes = await result.changes(conn, now)
        self._deps.narration.publish(changes)

    async def _incident(self, conn: AsyncConnection) -> incident_store.IncidentRow:
        incident = await incident_store.get_incident(conn, self._seq)
        if incident is None:
            raise PermanentError(f"INC-{self._seq} does not exist")
        return incident
