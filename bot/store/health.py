"""What ``/metrics`` reads from the store at each scrape: backlogs and ages that only the
store knows (every replica sees the same values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import alerts, approvals, audit_events, inbound_events
from bot.store.slack import incidents_behind

PAGERDUTY_FAILED = "pagerduty.failed"
PAGERDUTY_OUTCOMES = ("pagerduty.paged", "pagerduty.resolve", "pagerduty.acknowledge")


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """The store-side figures of one scrape."""

    pending_approvals: int
    oldest_pending_approval: datetime | None
    oldest_unprocessed: datetime | None
    slack_backlog: int
    pagerduty_backlog: int
    pagerduty_failures: int


async def read_health(conn: AsyncConnection, *, slack: bool) -> StoreHealth:
    """Pending approvals, the oldest alert or event the engine has not processed, incidents
    whose Slack narration (when ``slack``) or PagerDuty state is behind, PagerDuty failures."""
    pending = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(approvals.c.requested_at)).where(
                approvals.c.status == "pending"
            )
        )
    ).one()
    oldest_alert = (
        await conn.execute(
            sa.select(sa.func.min(alerts.c.received_at)).where(alerts.c.processed_at.is_(None))
        )
    ).scalar()
    oldest_event = (
        await conn.execute(
            sa.select(sa.func.min(inbound_events.c.received_at)).where(
                inbound_events.c.processed_at.is_(None)
            )
        )
    ).scalar()
    unprocessed = [at for at in (oldest_alert, oldest_event) if at is not None]
    failures = (
        await conn.execute(
            sa.select(sa.func.count()).where(audit_events.c.kind == PAGERDUTY_FAILED)
        )
    ).scalar()
    return StoreHealth(
        pending_approvals=int(pending[0]),
        oldest_pending_approval=pending[1],
        oldest_unprocessed=min(unprocessed) if unprocessed else None,
        slack_backlog=len(await incidents_behind(conn)) if slack else 0,
        pagerduty_backlog=await _pagerduty_behind(conn),
        pagerduty_failures=int(failures or 0),
    )


async def _pagerduty_behind(conn: AsyncConnection) -> int:
    """Incidents whose latest PagerDuty outcome is a failure (their page, acknowledgement or
    resolution did not reach PagerDuty)."""
    latest = (
        sa.select(sa.func.max(audit_events.c.seq).label("seq"))
        .where(audit_events.c.kind.in_((PAGERDUTY_FAILED, *PAGERDUTY_OUTCOMES)))
        .where(audit_events.c.incident_seq.is_not(None))
        .group_by(audit_events.c.incident_seq)
        .subquery()
    )
    query = (
        sa.select(sa.func.count())
        .select_from(audit_events.join(latest, latest.c.seq == audit_events.c.seq))
        .where(audit_events.c.kind == PAGERDUTY_FAILED)
    )
    return int((await conn.execute(query)).scalar() or 0)
