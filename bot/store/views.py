"""Read models for the API: the JSON shapes, built from the store."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import IncidentStatus, incident_id
from bot.store.schema import (
    approvals,
    audit_events,
    incident_alerts,
    incidents,
    runs,
    steps,
)


class IncidentSummary(BaseModel):
    """An incident as listed."""

    id: str
    title: str
    severity: str
    status: str
    created_at: datetime
    updated_at: datetime
    alert_count: int
    playbooks: list[str]
    slack_channel: str | None
    previous: str | None = None
    commander: str = "medic"
    pagerduty_incident: str | None = None


class AlertView(BaseModel):
    """One distinct alert of an incident, in its latest state."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    source: str


class StepView(BaseModel):
    """One step of a run."""

    id: str
    action: str
    status: str
    dry_run: bool
    output: Any
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class ApprovalView(BaseModel):
    """An approval requested by a run."""

    id: str
    step: str
    mode: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime | None


class RunView(BaseModel):
    """A playbook run on the incident."""

    id: str
    playbook: str
    status: str
    target: str | None
    started_by: str
    steps: list[StepView]
    approvals: list[ApprovalView]


class TimelineEntry(BaseModel):
    """One audit event of the incident."""

    at: datetime
    actor: str
    kind: str
    text: str
    via: str | None = None
    """How a human's decision arrived (``slack``, ``api_user``, ``bridge``); None otherwise."""


class IncidentDetail(BaseModel):
    """``GET /api/incidents/{id}``."""

    incident: IncidentSummary
    alerts: list[AlertView]
    runs: list[RunView]
    timeline: list[TimelineEntry]


class IncidentList(BaseModel):
    """``GET /api/incidents``."""

    incidents: list[IncidentSummary]


async def list_incidents(
    conn: AsyncConnection,
    status: IncidentStatus | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> IncidentList:
    """Incidents newest first, optionally only those with ``status``, skipping ``offset``."""
    query = _listing(status, limit, offset)
    rows = (await conn.execute(query)).mappings().all()
    # One validation pass over the whole list (pydantic-core), not one model per incident.
    return IncidentList.model_validate({"incidents": await _summaries(conn, rows, _ids(query))})


async def incidents_json(
    conn: AsyncConnection, status: IncidentStatus | None = None, limit: int | None = None
) -> bytes:
    """``GET /api/incidents``'s body: what :func:`list_incidents` returns, as JSON.

    Serialized straight from the rows (pydantic-core's serializer, so every value is
    written exactly as the model writes it) without building or validating a model per
    incident first: the listing of a thousand open incidents is the API's biggest answer,
    and validation was most of its cost."""
    query = _listing(status, limit, 0)
    rows = (await conn.execute(query)).mappings().all()
    return to_json({"incidents": await _summaries(conn, rows, _ids(query))})


_LISTED = (
    incidents.c.seq,
    incidents.c.title,
    incidents.c.severity,
    incidents.c.status,
    incidents.c.created_at,
    incidents.c.updated_at,
    incidents.c.slack_channel,
    incidents.c.previous_seq,
    incidents.c.commander,
    incidents.c.pagerduty_incident_id,
    incidents.c.alert_count,
)
"""What an :class:`IncidentSummary` is made of (a listing converts no other column); the
alert count is the one the intake keeps on the incident."""


def _listing(status: IncidentStatus | None, limit: int | None, offset: int) -> sa.Select[Any]:
    query = sa.select(*_LISTED).order_by(incidents.c.seq.desc()).offset(offset)
    if status is not None:
        query = query.where(incidents.c.status == status.value)
    if limit is not None:
        query = query.limit(limit)
    return query


def _ids(query: sa.Select[Any]) -> sa.Select[Any]:
    """The listed incidents' ids, as a subquery: their playbooks are read for the same
    selection, not for a list of every listed id (a thousand bound parameters, compiled
    anew each time)."""
    return query.with_only_columns(incidents.c.seq)


async def incident_detail(conn: AsyncConnection, seq: int) -> IncidentDetail | None:
    """Everything about one incident, or None when it does not exist."""
    row = (await conn.execute(sa.select(*_LISTED).where(incidents.c.seq == seq))).mappings().first()
    if row is None:
        return None
    (summary,) = [IncidentSummary.model_validate(s) for s in await _summaries(conn, [row])]
    alert_rows = await conn.execute(
        sa.select(incident_alerts)
        .where(incident_alerts.c.incident_seq == seq)
        .order_by(incident_alerts.c.starts_at, incident_alerts.c.fingerprint)
    )
    timeline_rows = await conn.execute(
        sa.select(audit_events)
        .where(audit_events.c.incident_seq == seq)
        .order_by(audit_events.c.seq)
    )
    return IncidentDetail(
        incident=summary,
        alerts=[AlertView.model_validate(dict(a)) for a in alert_rows.mappings()],
        runs=await _runs(conn, seq),
        timeline=[
            TimelineEntry(
                at=t["at"],
                actor=t["actor"],
                kind=t["kind"],
                text=t["text"],
                via=(t["detail"] or {}).get("via"),
            )
            for t in timeline_rows.mappings()
        ],
    )


async def _summaries(
    conn: AsyncConnection, rows: Any, among: sa.Select[Any] | None = None
) -> list[dict[str, Any]]:
    """The listed shape of ``rows`` (rows of :data:`_LISTED`; IncidentSummary's fields);
    ``among`` selects their ids (default: the ids)."""
    seqs = [row["seq"] for row in rows]
    if not seqs:
        return []
    chosen: Any = seqs if among is None else among
    playbooks: dict[int, list[str]] = defaultdict(list)
    playbook_rows = await conn.execute(
        sa.select(runs.c.incident_seq, runs.c.playbook)
        .where(runs.c.incident_seq.in_(chosen))
        .distinct()
        .order_by(runs.c.incident_seq, runs.c.playbook)
    )
    for seq, name in playbook_rows:
        playbooks[seq].append(name)
    return [
        {
            "id": incident_id(row["seq"]),
            "title": row["title"],
            "severity": row["severity"],
            "status": row["status"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "alert_count": row["alert_count"],
            "playbooks": playbooks.get(row["seq"], []),
            "slack_channel": row["slack_channel"],
            "previous": None if row["previous_seq"] is None else incident_id(row["previous_seq"]),
            "commander": row["commander"],
            "pagerduty_incident": row["pagerduty_incident_id"],
        }
        for row in rows
    ]


async def _runs(conn: AsyncConnection, incident_seq: int) -> list[RunView]:
    run_rows = (
        (
            await conn.execute(
                sa.select(runs).where(runs.c.incident_seq == incident_seq).order_by(runs.c.seq)
            )
        )
        .mappings()
        .all()
    )
    run_seqs = [r["seq"] for r in run_rows]
    steps_by_run: dict[int, list[StepView]] = defaultdict(list)
    approvals_by_run: dict[int, list[ApprovalView]] = defaultdict(list)
    if run_seqs:
        step_rows = await conn.execute(
            sa.select(steps).where(steps.c.run_seq.in_(run_seqs)).order_by(steps.c.position)
        )
        for s in step_rows.mappings():
            steps_by_run[s["run_seq"]].append(
                StepView(
                    id=s["step_id"],
                    action=s["action"],
                    status=s["status"],
                    dry_run=s["dry_run"],
                    output=s["output"],
                    error=s["error"],
                    started_at=s["started_at"],
                    finished_at=s["finished_at"],
                )
            )
        approval_rows = await conn.execute(
            sa.select(approvals).where(approvals.c.run_seq.in_(run_seqs)).order_by(approvals.c.seq)
        )
        for a in approval_rows.mappings():
            approvals_by_run[a["run_seq"]].append(
                ApprovalView(
                    id=f"APR-{a['seq']}",
                    step=a["step_id"],
                    mode=a["mode"],
                    status=a["status"],
                    decided_by=a["decided_by"],
                    decided_at=a["decided_at"],
                    expires_at=a["expires_at"],
                )
            )
    return [
        RunView(
            id=f"RUN-{r['seq']}",
            playbook=r["playbook"],
            status=r["status"],
            target=r["target"],
            started_by=r["started_by"],
            steps=steps_by_run.get(r["seq"], []),
            approvals=approvals_by_run.get(r["seq"], []),
        )
        for r in run_rows
    ]
