"""Remediation outcomes per (playbook, target): which runs tried a write step and whether
they worked (the run succeeded, its verify step included) — what the ineffective-remediation
breaker counts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import audit_events, runs, steps

TRIED = ("succeeded", "failed", "interrupted")
"""Step statuses of a write step that may have reached the world."""
INEFFECTIVE = ("failed", "interrupted")
"""Run statuses that say a remediation did not work."""
BREAKER_KIND = "remediation.breaker"
"""The audit event of the breaker escalating (once per streak)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished run that tried a write step."""

    run_seq: int
    incident_seq: int
    status: str
    finished_at: datetime
    error: str | None

    @property
    def ineffective(self) -> bool:
        """It failed (its verify step, or a write) or was cut short mid-write."""
        return self.status in INEFFECTIVE


async def remediations(
    conn: AsyncConnection,
    playbook: str,
    target: str,
    since: datetime,
    write_actions: Collection[str],
    dry_run: bool,
) -> list[Outcome]:
    """The runs of ``playbook`` on ``target`` that finished at ``since`` or later after
    trying a write step (dry runs count only against dry runs), oldest first."""
    tried = (
        sa.select(steps.c.run_seq)
        .where(
            steps.c.action.in_(list(write_actions)),
            steps.c.status.in_(TRIED),
            steps.c.dry_run == dry_run,
        )
        .distinct()
    )
    query = (
        sa.select(runs.c.seq, runs.c.incident_seq, runs.c.status, runs.c.finished_at, runs.c.error)
        .where(
            runs.c.playbook == playbook,
            runs.c.target == target,
            runs.c.finished_at.is_not(None),
            runs.c.finished_at >= since,
            runs.c.seq.in_(tried),
        )
        .order_by(runs.c.finished_at, runs.c.seq)
    )
    return [Outcome(*row) for row in (await conn.execute(query)).all()]


async def breaker_escalated(
    conn: AsyncConnection, playbook: str, target: str, since: datetime
) -> bool:
    """True when the breaker of (``playbook``, ``target``) escalated at ``since`` or later."""
    query = sa.select(audit_events.c.detail).where(
        audit_events.c.kind == BREAKER_KIND, audit_events.c.at >= since
    )
    return any(
        detail.get("playbook") == playbook and detail.get("target") == target
        for (detail,) in (await conn.execute(query)).all()
    )
