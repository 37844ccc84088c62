"""Slack delivery state: each incident's channel and status message, the timeline cursor,
and the message of each approval. The audit trail itself is the durable outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import IncidentStatus
from bot.store.schema import (
    alerts,
    approvals,
    audit_events,
    incidents,
    runs,
    slack_approval_messages,
    slack_channels,
    steps,
)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """An incident's Slack channel and how far its narration got."""

    incident_seq: int
    channel_id: str
    name: str
    status_ts: str
    status_digest: str
    topic: str
    timeline_seq: int
    pinned: bool = False
    graph_done: bool = False
    report_done: bool = False


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One audit event to narrate."""

    seq: int
    at: datetime
    actor: str
    kind: str
    text: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApprovalMessage:
    """Where an approval was asked, and what the message last showed."""

    approval_seq: int
    channel_id: str
    ts: str
    digest: str


async def channel_of(conn: AsyncConnection, incident_seq: int) -> ChannelRow | None:
    """The incident's channel, or None before it exists."""
    row = (
        await conn.execute(
            sa.select(
                slack_channels.c.incident_seq,
                slack_channels.c.channel_id,
                slack_channels.c.name,
                slack_channels.c.status_ts,
                slack_channels.c.status_digest,
                slack_channels.c.topic,
                slack_channels.c.timeline_seq,
                slack_channels.c.pinned,
                slack_channels.c.graph_done,
                slack_channels.c.report_done,
            ).where(slack_channels.c.incident_seq == incident_seq)
        )
    ).first()
    return None if row is None else ChannelRow(**dict(row._mapping))


async def incident_in_channel(conn: AsyncConnection, channel_id: str) -> int | None:
    """The incident whose channel is ``channel_id``."""
    found = (
        await conn.execute(
            sa.select(incidents.c.seq).where(incidents.c.slack_channel == channel_id).limit(1)
        )
    ).scalar()
    return None if found is None else int(found)


async def save_channel(
    conn: AsyncConnection,
    *,
    incident_seq: int,
    channel_id: str,
    name: str,
    status_ts: str,
    at: datetime,
) -> None:
    """The channel exists and its status message is posted: remember both."""
    await conn.execute(
        slack_channels.insert().values(
            incident_seq=incident_seq,
            channel_id=channel_id,
            name=name,
            status_ts=status_ts,
            timeline_seq=0,
            created_at=at,
        )
    )
    await conn.execute(
        incidents.update().where(incidents.c.seq == incident_seq).values(slack_channel=channel_id)
    )


async def mark_posted(
    conn: AsyncConnection,
    incident_seq: int,
    *,
    pinned: bool = False,
    graph: bool = False,
    report: bool = False,
) -> None:
    """The status message is pinned, the evidence graph and/or the post-incident report are
    in the channel (or there was nothing to post)."""
    values = {
        **({"pinned": True} if pinned else {}),
        **({"graph_done": True} if graph else {}),
        **({"report_done": True} if report else {}),
    }
    if values:
        await conn.execute(
            slack_channels.update()
            .where(slack_channels.c.incident_seq == incident_seq)
            .values(values)
        )


async def give_up(conn: AsyncConnection, incident_seq: int) -> None:
    """Stop narrating the incident: everything counts as delivered."""
    newest = (
        await conn.execute(
            sa.select(sa.func.max(audit_events.c.seq)).where(
                audit_events.c.incident_seq == incident_seq
            )
        )
    ).scalar()
    await conn.execute(
        slack_channels.update()
        .where(slack_channels.c.incident_seq == incident_seq)
        .values(timeline_seq=int(newest or 0), pinned=True, graph_done=True, report_done=True)
    )


async def advance_timeline(conn: AsyncConnection, incident_seq: int, through_seq: int) -> None:
    """Events up to ``through_seq`` are in the thread."""
    await conn.execute(
        slack_channels.update()
        .where(
            slack_channels.c.incident_seq == incident_seq,
            slack_channels.c.timeline_seq < through_seq,
        )
        .values(timeline_seq=through_seq)
    )


async def save_status(
    conn: AsyncConnection,
    incident_seq: int,
    *,
    digest: str,
    topic: str | None = None,
    status_ts: str | None = None,
) -> None:
    """The status message (and topic) now show ``digest``; ``status_ts`` once it is posted."""
    values: dict[str, str] = {"status_digest": digest}
    if topic is not None:
        values["topic"] = topic
    if status_ts is not None:
        values["status_ts"] = status_ts
    await conn.execute(
        slack_channels.update().where(slack_channels.c.incident_seq == incident_seq).values(values)
    )


async def event_kinds_after(
    conn: AsyncConnection, incident_seq: int, after_seq: int
) -> list[tuple[int, str]]:
    """The number and kind of each of the incident's audit events after ``after_seq``."""
    query = (
        sa.select(audit_events.c.seq, audit_events.c.kind)
        .where(audit_events.c.incident_seq == incident_seq, audit_events.c.seq > after_seq)
        .order_by(audit_events.c.seq)
    )
    return [(int(seq), str(kind)) for seq, kind in await conn.execute(query)]


async def events_numbered(conn: AsyncConnection, seqs: list[int]) -> list[TimelineEvent]:
    """The audit events with these numbers, in order."""
    if not seqs:
        return []
    rows = await conn.execute(
        sa.select(
            audit_events.c.seq,
            audit_events.c.at,
            audit_events.c.actor,
            audit_events.c.kind,
            audit_events.c.text,
            audit_events.c.detail,
        )
        .where(audit_events.c.seq.in_(seqs))
        .order_by(audit_events.c.seq)
    )
    return [TimelineEvent(*row) for row in rows]


async def last_event_at(conn: AsyncConnection, incident_seq: int) -> datetime | None:
    """When the incident's newest audit event happened."""
    found: datetime | None = (
        await conn.execute(
            sa.select(sa.func.max(audit_events.c.at)).where(
                audit_events.c.incident_seq == incident_seq
            )
        )
    ).scalar()
    return found


async def newest_event_seq(conn: AsyncConnection) -> int:
    """The newest audit event of all (0 when none)."""
    found = (await conn.execute(sa.select(sa.func.max(audit_events.c.seq)))).scalar()
    return int(found or 0)


async def incidents_behind(conn: AsyncConnection) -> list[int]:
    """Incidents with narration still to deliver: no channel yet (and not resolved before
    Slack knew of them), or audit events past their timeline cursor."""
    newest = (
        sa.select(
            audit_events.c.incident_seq.label("seq"), sa.func.max(audit_events.c.seq).label("top")
        )
        .where(audit_events.c.incident_seq.is_not(None))
        .group_by(audit_events.c.incident_seq)
        .subquery()
    )
    query = (
        sa.select(newest.c.seq)
        .select_from(
            newest.outerjoin(slack_channels, slack_channels.c.incident_seq == newest.c.seq).join(
                incidents, incidents.c.seq == newest.c.seq
            )
        )
        .where(
            sa.or_(
                sa.and_(
                    slack_channels.c.incident_seq.is_(None),
                    incidents.c.status != IncidentStatus.RESOLVED.value,
                ),
                slack_channels.c.timeline_seq < newest.c.top,
                slack_channels.c.pinned.is_(False),
                sa.and_(
                    incidents.c.status == IncidentStatus.RESOLVED.value,
                    slack_channels.c.report_done.is_(False),
                ),
            )
        )
        .order_by(newest.c.seq)
    )
    return [int(seq) for (seq,) in await conn.execute(query)]


async def approval_messages(conn: AsyncConnection, incident_seq: int) -> dict[int, ApprovalMessage]:
    """The incident's approval messages by approval number."""
    rows = await conn.execute(
        sa.select(
            slack_approval_messages.c.approval_seq,
            slack_approval_messages.c.channel_id,
            slack_approval_messages.c.ts,
            slack_approval_messages.c.digest,
        ).where(slack_approval_messages.c.incident_seq == incident_seq)
    )
    return {int(row[0]): ApprovalMessage(*row) for row in rows}


async def approvals_of_incident(conn: AsyncConnection, incident_seq: int) -> list[int]:
    """Every approval of the incident's runs, oldest first."""
    query = (
        sa.select(approvals.c.seq)
        .join(runs, runs.c.seq == approvals.c.run_seq)
        .where(runs.c.incident_seq == incident_seq)
        .order_by(approvals.c.seq)
    )
    return [int(seq) for (seq,) in await conn.execute(query)]


async def save_approval_message(
    conn: AsyncConnection,
    *,
    approval_seq: int,
    incident_seq: int,
    channel_id: str,
    ts: str,
    digest: str,
) -> None:
    """The approval was asked in ``channel_id`` at ``ts``."""
    await conn.execute(
        slack_approval_messages.insert().values(
            approval_seq=approval_seq,
            incident_seq=incident_seq,
            channel_id=channel_id,
            ts=ts,
            digest=digest,
        )
    )


async def save_approval_digest(conn: AsyncConnection, approval_seq: int, digest: str) -> None:
    """The approval message now shows ``digest``."""
    await conn.execute(
        slack_approval_messages.update()
        .where(slack_approval_messages.c.approval_seq == approval_seq)
        .values(digest=digest)
    )


@dataclass(frozen=True, slots=True)
class IncidentHeader:
    """The incident fields the status message shows."""

    seq: int
    title: str
    severity: str
    status: str
    commander: str
    created_at: datetime
    updated_at: datetime
    pagerduty_incident_id: str | None
    generator_url: str | None


async def incident_header(conn: AsyncConnection, incident_seq: int) -> IncidentHeader | None:
    """The incident's header fields and its first alert's generator URL."""
    row = (
        await conn.execute(
            sa.select(
                incidents.c.seq,
                incidents.c.title,
                incidents.c.severity,
                incidents.c.status,
                incidents.c.commander,
                incidents.c.created_at,
                incidents.c.updated_at,
                incidents.c.pagerduty_incident_id,
            ).where(incidents.c.seq == incident_seq)
        )
    ).first()
    if row is None:
        return None
    url = (
        await conn.execute(
            sa.select(alerts.c.generator_url)
            .where(alerts.c.incident_seq == incident_seq, alerts.c.generator_url.is_not(None))
            .order_by(alerts.c.id)
            .limit(1)
        )
    ).scalar()
    return IncidentHeader(*row, generator_url=url or None)


async def step_outputs(
    conn: AsyncConnection, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The outputs of steps named by (run number, step id)."""
    if not keys:
        return {}
    query = sa.select(steps.c.run_seq, steps.c.step_id, steps.c.output).where(
        sa.tuple_(steps.c.run_seq, steps.c.step_id).in_(keys)
    )
    return {(int(r), str(s)): dict(o or {}) for r, s, o in await conn.execute(query)}


async def approval_asked(conn: AsyncConnection, approval_seq: int) -> bool:
    """Whether the approval's message was posted."""
    found = (
        await conn.execute(
            sa.select(slack_approval_messages.c.approval_seq).where(
                slack_approval_messages.c.approval_seq == approval_seq
            )
        )
    ).first()
    return found is not None


async def incident_of_approval(conn: AsyncConnection, approval_seq: int) -> int | None:
    """The incident whose run asked for the approval."""
    found = (
        await conn.execute(
            sa.select(runs.c.incident_seq)
            .join(approvals, approvals.c.run_seq == runs.c.seq)
            .where(approvals.c.seq == approval_seq)
        )
    ).scalar()
    return None if found is None else int(found)
