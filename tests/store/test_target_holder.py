"""Which run holds a target, as the one-run-per-target rule names it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import RunStatus, Severity
from bot.store import Database
from bot.store import incidents as incident_store
from bot.store import runs as run_store

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TARGET = "deployment/prod/api"


async def test_the_run_holding_a_target_is_named_before_runs_queued_behind_it(
    db: Database,
) -> None:
    """RUN-1 runs on the target; RUN-2 and RUN-3 were created at once after it and are still
    pending. RUN-3's check must name RUN-1, which holds the target, not RUN-2, which is only
    queued and will itself be skipped. (Seen failing: RUN-3 was skipped as "locked by
    RUN-2", a run that never held it.) With no active holder, an earlier pending run
    still counts."""
    async with db.begin() as conn:
        incident = await incident_store.open_incident(
            conn, title="t", severity=Severity.SEV3, group_key="k", at=AT, previous_seq=None
        )
        seqs = [
            await run_store.create_run(
                conn,
                incident_seq=incident.seq,
                playbook="rollback",
                target=TARGET,
                started_by="medic",
                params={},
                trigger_alert_id=None,
                at=AT,
            )
            for _ in range(3)
        ]
        await run_store.set_run_status(conn, seqs[0], RunStatus.RUNNING, AT)
    async with db.connect() as conn:
        assert await run_store.active_run_on_target(conn, TARGET, seqs[2]) == seqs[0]
    async with db.begin() as conn:
        await run_store.set_run_status(conn, seqs[0], RunStatus.SUCCEEDED, AT)
    async with db.connect() as conn:
        assert await run_store.active_run_on_target(conn, TARGET, seqs[2]) == seqs[1]
        assert await run_store.active_run_on_target(conn, TARGET, seqs[1]) is None
