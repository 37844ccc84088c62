"""Intake: dedup each alert against the journal and group it into an incident.

Runs in the engine after the journal committed the alert; the alert's effect on its
incident, the runs it starts and the alert's ``processed_at`` commit together, so after a
crash an alert is either fully taken or still waiting in the journal (the
leading playbook fixes the incident key; alerts no playbook matches group by their
sender's group key, Alertmanager's ``groupKey``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.config import format_duration
from bot.engine.runs.template_context import template_context
from bot.events import IncidentChange, IncidentChangeKind
from bot.models import Alert, AlertStatus, ApprovalStatus, IncidentStatus, RunStatus, Severity
from bot.playbooks.models import OnResolved
from bot.playbooks.playbook import Playbook, PlaybookSet, Selection
from bot.playbooks.templates import TemplateError, render
from bot.store import AsyncConnection
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.intake_batch import IntakeBatch

MEDIC = "medic"

_SEVERITY_BY_LABEL = {
    "emergency": Severity.SEV1,
    "critical": Severity.SEV1,
    "page": Severity.SEV1,
    "error": Severity.SEV2,
    "high": Severity.SEV2,
    "major": Severity.SEV2,
    "warning": Severity.SEV3,
    "minor": Severity.SEV3,
}
_TARGET_LABELS = ("namespace", "deployment", "node", "instance", "job")


@dataclass(slots=True)
class _Touched:
    incident: incident_store.IncidentRow
    events: list[tuple[IncidentChangeKind, str]] = field(default_factory=list)


@dataclass(slots=True)
class IntakeResult:
    """What a batch did: incident changes to narrate, runs to start, runs to stop."""

    touched: dict[int, _Touched] = field(default_factory=dict)
    new_runs: list[int] = field(default_factory=list)
    cancelled_runs: list[run_store.RunRow] = field(default_factory=list)
    cancelled_approvals: list[int] = field(default_factory=list)
    resolved: list[tuple[int, str]] = field(default_factory=list)

    def note(
        self, incident: incident_store.IncidentRow, kind: IncidentChangeKind, text: str
    ) -> None:
        """Remember a change of ``incident`` for narration after the commit."""
        entry = self.touched.setdefault(incident.seq, _Touched(incident))
        entry.incident = incident
        entry.events.append((kind, text))

    async def changes(self, conn: AsyncConnection, now: datetime) -> list[IncidentChange]:
        """Stamp each touched incident once; one narration per incident and kind of change,
        so a storm is a few lines, not a thousand."""
        found: list[IncidentChange] = []
        seqs = sorted(self.touched)
        await incident_store.touch(conn, seqs, now)
        counts = await incident_store.alert_counts(conn, seqs)
        for seq, entry in self.touched.items():
            count = counts.get(seq, 0)
            for kind, texts in _collapse(entry.events):
                text = texts[0] if len(texts) == 1 else f"{len(texts)} alert changes: {texts[-1]}"
                found.append(
                    IncidentChange(
                        kind=kind,
                        incident_seq=seq,
                        title=entry.incident.title,
                        severity=entry.incident.severity,
                        status=entry.incident.status,
                        alert_count=count,
                        text=text,
                    )
                )
        return found


def _collapse(
    events: list[tuple[IncidentChangeKind, str]],
) -> list[tuple[IncidentChangeKind, list[str]]]:
    """Merge consecutive changes of the same kind."""
    merged: list[tuple[IncidentChangeKind, list[str]]] = []
    for kind, text in events:
        if merged and merged[-1][0] is kind:
            merged[-1][1].append(text)
        else:
            merged.append((kind, [text]))
    return merged


def severity_of(alert: Alert) -> Severity:
    """Map the alert's ``severity`` label onto sev1..sev4 (unknown = sev4)."""
    return _SEVERITY_BY_LABEL.get(alert.labels.get("severity", "").lower(), Severity.SEV4)


def title_of(alert: Alert) -> str:
    """``summary`` annotation, else the alert name and where it fires."""
    summary = alert.annotations.get("summary", "").strip()
    if summary:
        return summary[:200]
    where = ", ".join(f"{k}={alert.labels[k]}" for k in _TARGET_LABELS if k in alert.labels)
    name = alert.labels.get("alertname", "alert")
    return f"{name} ({where})" if where else name


def describe(alert: Alert) -> str:
    """One line naming the alert for the timeline."""
    return f"{alert.labels.get('alertname', 'alert')} [{alert.fingerprint}] {alert.status.value}"


def incident_key(selection: Selection, alert: Alert) -> str:
    """The leading playbook's key, or the sender's group key when nothing matched."""
    leader = selection.leader
    return alert.group_key if leader is None else leader.incident_key(alert.labels)


async def take_batch(
    conn: AsyncConnection,
    pending: list[tuple[int, Alert]],
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
) -> None:
    """Group journaled alerts into incidents (and start runs), in the caller's transaction,
    one alert after the other, with the batch's state read and written in bulk."""
    selections = {alert_id: playbooks.select(alert.labels) for alert_id, alert in pending}
    keys = {alert_id: incident_key(selections[alert_id], a) for alert_id, a in pending}
    batch = IntakeBatch(conn, now, pending)
    await batch.load(keys.values())
    for alert_id, alert in pending:
        step = _Step(conn, batch, result, playbooks, now, alert_id, alert, keys[alert_id])
        if alert.status is AlertStatus.FIRING:
            seq = await _take_firing(step, selections[alert_id])
        else:
            seq = await _take_resolved(step)
        batch.processed(alert_id, seq)
    await batch.flush()


@dataclass(frozen=True, slots=True)
class _Step:
    """One alert being taken, with everything its rules need."""

    conn: AsyncConnection
    batch: IntakeBatch
    result: IntakeResult
    playbooks: PlaybookSet
    now: datetime
    alert_id: int
    alert: Alert
    key: str

    def record(self, seq: int, kind: str, text: str) -> None:
        """The alert's effect on the timeline."""
        self.batch.record(
            seq,
            kind,
            text,
            self.alert.source.value,
            {"fingerprint": self.alert.fingerprint, "labels": self.alert.labels},
        )


async def _take_firing(step: _Step, selection: Selection) -> int | None:
    alert, batch = step.alert, step.batch
    if selection.ignored_by is not None:
        return None  # Watchdog and the like: journaled, never an incident
    if batch.resolution_seen(alert, before_id=step.alert_id):
        return None  # a late copy of a firing whose resolution already arrived
    incident = batch.open_incident(step.key)
    if incident is None:
        incident = await _reopen_flapping(step)
    if incident is None:
        incident = await _open(step, selection.leader)
    else:
        state = await batch.alert_state(incident.seq, alert)
        if state is None or (
            state.status is AlertStatus.RESOLVED and alert.starts_at >= state.starts_at
        ):
            batch.save_alert_state(incident.seq, alert)
            text = f"Alert joined: {describe(alert)}"
            step.record(incident.seq, "alert.firing", text)
            step.result.note(incident, IncidentChangeKind.UPDATED, text)
    await _start_runs(step, incident, selection)
    return incident.seq


async def _reopen_flapping(step: _Step) -> incident_store.IncidentRow | None:
    """An incident of this key that resolved less than ``playbooks.flap_window`` ago is
    reopened: the flapping alert joins it, and the playbooks that already ran there do not
    start again (no new run, no new approval request)."""
    window = step.playbooks.flap_window
    if window.total_seconds() <= 0:
        return None
    found = await incident_store.recently_resolved(step.conn, step.key, step.now - window)
    if found is None:
        return None
    await incident_store.reopen(step.conn, found.seq, step.now)
    incident = replace(found, status=IncidentStatus.OPEN)
    await step.batch.reopened(step.key, incident)
    text = (
        f"Incident reopened by {describe(step.alert)}: it fired again within "
        f"{format_duration(window)} of resolving (flapping); runs are not started again, "
        "use /incident run to start one"
    )
    step.record(incident.seq, "incident.reopened", text)
    step.result.note(incident, IncidentChangeKind.OPENED, text)
    return incident


async def _open(step: _Step, leader: Playbook | None) -> incident_store.IncidentRow:
    alert = step.alert
    previous = await incident_store.last_resolved_seq(step.conn, step.key)
    incident = await incident_store.open_incident(
        step.conn,
        title=title_of(alert),
        severity=severity_of(alert) if leader is None else leader.spec.severity,
        group_key=step.key,
        at=step.now,
        previous_seq=previous,
    )
    step.batch.opened(step.key, incident)
    text = f"Incident opened by {describe(alert)}"
    if leader is None:
        text += "; no playbook matched"
    if previous is not None:
        text += f" (fired again after INC-{previous} resolved)"
    step.record(incident.seq, "incident.opened", text)
    step.batch.save_alert_state(incident.seq, alert)
    step.result.note(incident, IncidentChangeKind.OPENED, text)
    return incident


async def _start_runs(
    step: _Step, incident: incident_store.IncidentRow, selection: Selection
) -> None:
    """One run per (incident, playbook): a playbook that already ran here does not again."""
    for playbook in selection.playbooks:
        if playbook.name in step.batch.ran(incident.seq):
            continue
        target, error = _render_target(playbook, step.alert, incident, step.now)
        run_seq = await run_store.create_run(
            step.conn,
            incident_seq=incident.seq,
            playbook=playbook.name,
            target=target,
            started_by=MEDIC,
            params={},
            trigger_alert_id=step.alert_id,
            at=step.now,
        )
        step.batch.run_started(incident.seq, playbook.name)
        if error is not None:
            await run_store.set_run_status(
                step.conn, run_seq, RunStatus.FAILED, step.now, error=error
            )
            step.batch.record(
                incident.seq,
                "run.failed",
                f"RUN-{run_seq} {playbook.name} could not start: {error}",
                MEDIC,
            )
            continue
        step.batch.record(
            incident.seq,
            "run.created",
            f"RUN-{run_seq} {playbook.name} started" + (f" on {target}" if target else ""),
            MEDIC,
        )
        step.result.new_runs.append(run_seq)


def _render_target(
    playbook: Playbook, alert: Alert, incident: incident_store.IncidentRow, now: datetime
) -> tuple[str | None, str | None]:
    if playbook.spec.target is None:
        return None, None
    context = template_context(alert=alert, incident=incident.as_context(), now=now)
    try:
        return render(playbook.spec.target, context), None
    except TemplateError as err:
        return None, f"target: {err}"


async def _take_resolved(step: _Step) -> int | None:
    alert, batch = step.alert, step.batch
    incident = batch.open_incident(step.key)
    if incident is None:
        incident = await incident_store.find_incident_holding(step.conn, alert)
    if incident is None:
        return None
    state = await batch.alert_state(incident.seq, alert)
    if state is None or state.status is AlertStatus.RESOLVED or state.starts_at > alert.starts_at:
        return incident.seq
    batch.save_alert_state(incident.seq, alert)
    text = f"Alert resolved: {describe(alert)}"
    step.record(incident.seq, "alert.resolved", text)
    if incident.status is not IncidentStatus.RESOLVED and await batch.nothing_fires(incident.seq):
        await batch.flush_events()  # keep the timeline in order
        batch.closed(step.key)
        await resolve_incident(
            step.conn,
            incident,
            step.now,
            step.result,
            step.playbooks,
            actor=MEDIC,
            text="Incident resolved: all its alerts have resolved",
        )
    else:
        step.result.note(incident, IncidentChangeKind.UPDATED, text)
    return incident.seq


async def resolve_incident(
    conn: AsyncConnection,
    incident: incident_store.IncidentRow,
    now: datetime,
    result: IntakeResult,
    playbooks: PlaybookSet,
    *,
    actor: str,
    text: str,
    resolving_run: int | None = None,
) -> None:
    """Resolve the incident and cancel what its playbooks say to cancel (``on_resolved``);
    the run that resolves it (an ``incident.resolve`` step) goes on."""
    await incident_store.set_status(conn, incident.seq, IncidentStatus.RESOLVED, now)
    result.resolved.append((incident.seq, actor))
    await record_event(
        conn, at=now, actor=actor, kind="incident.resolved", text=text, incident_seq=incident.seq
    )
    result.note(
        replace(incident, status=IncidentStatus.RESOLVED), IncidentChangeKind.RESOLVED, text
    )
    # Everything not finished stops before its next step (a step already running ends).
    waiting = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL, RunStatus.PAUSED)
    for run in await run_store.runs_of_incident(conn, incident.seq):
        playbook = playbooks.get(run.playbook)
        keep = playbook is not None and playbook.spec.on_resolved is OnResolved.CONTINUE
        if run.status not in waiting or keep or run.seq == resolving_run:
            continue
        if await run_store.set_run_status(
            conn, run.seq, RunStatus.ABORTED, now, error="the incident resolved"
        ):
            result.cancelled_runs.append(run)
            for approval_seq in await run_store.pending_approvals_of_runs(conn, [run.seq]):
                await run_store.finish_approval(
                    conn, approval_seq, ApprovalStatus.CANCELLED, None, now
                )
                result.cancelled_approvals.append(approval_seq)
            await record_event(
                conn,
                at=now,
                actor=MEDIC,
                kind="run.aborted",
                incident_seq=incident.seq,
                text=f"RUN-{run.seq} {run.playbook} cancelled: the incident resolved",
            )
