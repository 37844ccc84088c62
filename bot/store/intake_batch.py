"""One intake batch as a unit of work: its state read in a few queries, its writes flushed
in a few (executemany), so an alert storm costs statements per batch, not per alert.

Per-alert rules stay in the engine's intake; this class only answers their questions (which
incident is open for a key, what an incident knows of an alert, how many of its alerts still
fire) from memory, and queues what they decide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.models import Alert, AlertStatus, IncidentStatus, Severity
from bot.store import AsyncConnection
from bot.store.incidents import AlertState, IncidentRow, recount
from bot.store.schema import alerts, audit_events, incident_alerts, incidents, many, runs

StateKey = tuple[int, str, str]  # (incident seq, source, fingerprint)


_OPEN_INCIDENTS = (
    sa.select(
        incidents.c.seq,
        incidents.c.title,
        incidents.c.severity,
        incidents.c.status,
        incidents.c.group_key,
    )
    .where(
        incidents.c.group_key.in_(many("keys")),
        incidents.c.status != IncidentStatus.RESOLVED.value,
    )
    .order_by(incidents.c.seq)
)
_RESOLUTIONS = sa.select(
    alerts.c.source, alerts.c.fingerprint, alerts.c.starts_at, alerts.c.id
).where(
    # source first: the journal's identity index leads with it (without it, every batch
    # scanned the whole journal)
    alerts.c.source.in_(many("sources")),
    alerts.c.fingerprint.in_(many("fingerprints")),
    alerts.c.status == AlertStatus.RESOLVED.value,
)
_STATES = sa.select(
    incident_alerts.c.incident_seq,
    incident_alerts.c.source,
    incident_alerts.c.fingerprint,
    incident_alerts.c.status,
    incident_alerts.c.starts_at,
).where(
    incident_alerts.c.incident_seq.in_(many("seqs")),
    incident_alerts.c.source.in_(many("sources")),
    incident_alerts.c.fingerprint.in_(many("fingerprints")),
)
_COUNTS = sa.select(incidents.c.seq, incidents.c.alert_count, incidents.c.firing_count).where(
    incidents.c.seq.in_(many("seqs"))
)
_ADD_TO_COUNTS = (
    incidents.update()
    .where(incidents.c.seq == sa.bindparam("c_seq"))
    .values(
        alert_count=incidents.c.alert_count + sa.bindparam("c_alerts"),
        firing_count=incidents.c.firing_count + sa.bindparam("c_firing"),
    )
)
_RUNS = sa.select(runs.c.incident_seq, runs.c.playbook).where(runs.c.incident_seq.in_(many("seqs")))
_UPDATE_STATE = incident_alerts.update().where(
    incident_alerts.c.incident_seq == sa.bindparam("k_seq"),
    incident_alerts.c.source == sa.bindparam("k_source"),
    incident_alerts.c.fingerprint == sa.bindparam("k_fingerprint"),
)
_MARK_PROCESSED = (
    alerts.update()
    .where(alerts.c.id == sa.bindparam("b_id"))
    .values(incident_seq=sa.bindparam("b_seq"), processed_at=sa.bindparam("b_at"))
)


@dataclass(frozen=True, slots=True)
class _Counts:
    alerts: int
    firing: int


class IntakeBatch:
    """Reads prefetched for a batch; writes queued until :meth:`flush`."""

    def __init__(self, conn: AsyncConnection, now: datetime, batch: list[tuple[int, Alert]]):
        self._conn = conn
        self._now = now
        self._fingerprints = sorted({a.fingerprint for _, a in batch})
        self._sources = sorted({a.source.value for _, a in batch})
        self._open: dict[str, IncidentRow] = {}
        self._resolutions: dict[tuple[str, str, datetime], int] = {}
        self._states: dict[StateKey, AlertState] = {}
        self._counts: dict[int, _Counts] = {}  # as the batch has made them
        self._stored: dict[int, _Counts] = {}  # as the store has them
        self._playbooks_run: dict[int, set[str]] = defaultdict(set)
        self._loaded: set[int] = set()
        self._new_states: dict[StateKey, dict[str, Any]] = {}
        self._changed_states: dict[StateKey, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._processed: list[dict[str, Any]] = []

    async def load(self, keys: Iterable[str]) -> None:
        """Prefetch open incidents for ``keys`` and what they know of this batch's alerts."""
        rows = await self._conn.execute(_OPEN_INCIDENTS, {"keys": sorted(set(keys))})
        for seq, title, severity, status, key in rows:
            self._open[key] = IncidentRow(seq, title, Severity(severity), IncidentStatus(status))
        resolved = await self._conn.execute(
            _RESOLUTIONS, {"sources": self._sources, "fingerprints": self._fingerprints}
        )
        for source, fingerprint, starts_at, row_id in resolved:
            key3 = (source, fingerprint, starts_at)
            self._resolutions[key3] = min(row_id, self._resolutions.get(key3, row_id))
        await self._load_incidents([i.seq for i in self._open.values()])

    async def _load_incidents(self, seqs: list[int]) -> None:
        """States of this batch's fingerprints, firing counts and runs of ``seqs``."""
        seqs = [s for s in seqs if s not in self._loaded]
        if not seqs:
            return
        self._loaded.update(seqs)
        states = await self._conn.execute(
            _STATES,
            {"seqs": seqs, "sources": self._sources, "fingerprints": self._fingerprints},
        )
        for seq, source, fingerprint, status, starts_at in states:
            self._states[(seq, source, fingerprint)] = AlertState(AlertStatus(status), starts_at)
        for seq, alert_count, firing_count in await self._conn.execute(_COUNTS, {"seqs": seqs}):
            self._counts[seq] = self._stored[seq] = _Counts(alert_count, firing_count)
        for seq, playbook in await self._conn.execute(_RUNS, {"seqs": seqs}):
            self._playbooks_run[seq].add(playbook)

    # --- reads -------------------------------------------------------------------------

    def resolution_seen(self, alert: Alert, before_id: int) -> bool:
        """The resolved notification of this very firing was journaled before it."""
        found = self._resolutions.get((alert.source.value, alert.fingerprint, alert.starts_at))
        return found is not None and found < before_id

    def open_incident(self, key: str) -> IncidentRow | None:
        """The open incident with ``key``."""
        return self._open.get(key)

    async def alert_state(self, seq: int, alert: Alert) -> AlertState | None:
        """What incident ``seq`` knows of ``alert``."""
        if seq not in self._loaded:
            await self._load_incidents([seq])
        return self._states.get((seq, alert.source.value, alert.fingerprint))

    async def nothing_fires(self, seq: int) -> bool:
        """None of the incident's alerts fires any more. The kept count says so first;
        the store's rows confirm it (written first), so a count another release did not
        keep can never resolve an incident whose alerts still fire."""
        if self._counts[seq].firing > 0:
            return False
        await self.flush()
        alert_count, firing_count = await recount(self._conn, seq)
        self._counts[seq] = self._stored[seq] = _Counts(alert_count, firing_count)
        return firing_count == 0

    def ran(self, seq: int) -> set[str]:
        """Playbooks that already have a run on the incident."""
        return self._playbooks_run[seq]

    # --- writes ------------------------------------------------------------------------

    def opened(self, key: str, incident: IncidentRow) -> None:
        """A new incident (inserted by the caller) is open for ``key``."""
        self._open[key] = incident
        self._loaded.add(incident.seq)
        self._counts[incident.seq] = self._stored[incident.seq] = _Counts(0, 0)

    async def reopened(self, key: str, incident: IncidentRow) -> None:
        """``incident`` (resolved a moment ago) is open again under ``key``."""
        self._open[key] = incident
        await self._load_incidents([incident.seq])

    def closed(self, key: str) -> None:
        """The incident of ``key`` resolved: a later firing opens a new one."""
        self._open.pop(key, None)

    def run_started(self, seq: int, playbook: str) -> None:
        """A run of ``playbook`` now exists on the incident."""
        self._playbooks_run[seq].add(playbook)

    def save_alert_state(self, seq: int, alert: Alert) -> None:
        """Queue the alert's new state inside the incident."""
        key = (seq, alert.source.value, alert.fingerprint)
        before = self._states.get(key)
        values = {
            "status": alert.status.value,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "updated_at": self._now,
        }
        if key in self._new_states or before is None:
            self._new_states[key] = values
        else:
            self._changed_states[key] = values
        was_firing = before is not None and before.status is AlertStatus.FIRING
        is_firing = alert.status is AlertStatus.FIRING
        counts = self._counts[seq]
        self._counts[seq] = _Counts(
            counts.alerts + int(before is None), counts.firing + int(is_firing) - int(was_firing)
        )
        self._states[key] = AlertState(alert.status, alert.starts_at)

    def record(
        self, seq: int, kind: str, text: str, actor: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Queue an audit event (flushed in order, before any event written directly)."""
        self._events.append(
            {
                "at": self._now,
                "actor": actor,
                "kind": kind,
                "incident_seq": seq,
                "text": text,
                "detail": detail or {},
            }
        )

    def processed(self, alert_id: int, seq: int | None) -> None:
        """Queue the alert's ``processed_at`` and incident."""
        self._processed.append({"b_id": alert_id, "b_seq": seq, "b_at": self._now})

    async def flush_events(self) -> None:
        """Write queued audit events now (before an event written directly)."""
        if self._events:
            await self._conn.execute(audit_events.insert(), self._events)
            self._events = []

    async def flush(self) -> None:
        """Write everything queued."""
        await self.flush_events()
        if self._new_states:
            await self._conn.execute(
                incident_alerts.insert(),
                [
                    {"incident_seq": k[0], "source": k[1], "fingerprint": k[2], **v}
                    for k, v in self._new_states.items()
                ],
            )
        if self._changed_states:
            await self._conn.execute(
                _UPDATE_STATE,
                [
                    {"k_seq": k[0], "k_source": k[1], "k_fingerprint": k[2], **v}
                    for k, v in self._changed_states.items()
                ],
            )
        counts = [
            {
                "c_seq": seq,
                "c_alerts": now.alerts - self._stored[seq].alerts,
                "c_firing": now.firing - self._stored[seq].firing,
            }
            for seq, now in self._counts.items()
            if now != self._stored[seq]
        ]
        if counts:
            await self._conn.execute(_ADD_TO_COUNTS, counts)
            self._stored.update(self._counts)
        if self._processed:
            await self._conn.execute(_MARK_PROCESSED, self._processed)
        self._new_states, self._changed_states, self._processed = {}, {}, []
