"""Replicas hear each other's changes through PostgreSQL ``LISTEN``/``NOTIFY``, not only by
polling: two replicas' watches on one store, with their fallback poll an hour apart, still
learn of a pause and of a decided approval within seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.clock import SystemClock
from bot.engine.approvals.hub import ApprovalHub
from bot.engine.replicas.peers import PeerWatch
from bot.engine.safety.pause import PauseSwitch
from bot.models import ApprovalStatus, Identity, Severity, Via
from bot.store import Database
from bot.store import incidents as incident_store
from bot.store import runs as run_store

from harness.waiting import eventually

HOUR_S = 3600.0
HEARD_WITHIN_S = 5.0


@dataclass
class Peer:
    """One replica's view: its store connection, pause switch and approval hub."""

    db: Database
    pause: PauseSwitch
    hub: ApprovalHub


@asynccontextmanager
async def _peer(url: str) -> AsyncIterator[Peer]:
    db = Database(url)
    await db.create_schema()
    pause = PauseSwitch(db, SystemClock(), configured=False)
    await pause.load()
    peer = Peer(db, pause, ApprovalHub())

    async def nothing() -> None:
        return None

    watch = PeerWatch(
        db,
        pause,
        peer.hub,
        on_intake=lambda: None,
        on_slot_freed=lambda: None,
        on_runs_handed_back=nothing,
        poll_s=HOUR_S,
    )
    await watch.start()
    try:
        yield peer
    finally:
        await watch.stop()
        await db.close()


async def _wait_paused(pause: PauseSwitch, paused: bool) -> None:
    """Wait until ``pause`` says ``paused`` (what it holds in memory; no store read)."""

    async def said() -> bool:
        return pause.paused is paused

    await eventually(said, HEARD_WITHIN_S, f"paused is {paused}")


async def test_a_pause_and_a_resume_reach_the_other_replica_without_polling(
    postgres_url: str,
) -> None:
    """A pause through replica A is known to B's switch (which runs wait on) within seconds
    though B polls only hourly; so is the resume."""
    async with _peer(postgres_url) as a, _peer(postgres_url) as b:
        await a.pause.pause(Identity("U1", Via.BRIDGE), "maintenance")
        await _wait_paused(b.pause, True)
        assert "maintenance" in b.pause.reason
        await a.pause.resume(Identity("U1", Via.BRIDGE))
        await _wait_paused(b.pause, False)


async def _pending_approval(db: Database) -> int:
    """An incident, a run and a pending approval of that run; the approval's number."""
    now = datetime.now(UTC)
    async with db.begin() as conn:
        incident = await incident_store.open_incident(
            conn, title="t", severity=Severity.SEV2, group_key="k", at=now, previous_seq=None
        )
        run = await run_store.create_run(
            conn,
            incident_seq=incident.seq,
            playbook="p",
            target=None,
            started_by="medic",
            params={},
            trigger_alert_id=None,
            at=now,
        )
        approval = await run_store.create_approval(
            conn,
            run_seq=run,
            step_id="approve",
            mode="consent",
            required=1,
            four_eyes=False,
            prompt="ok?",
            reason=None,
            on_timeout="reject",
            at=now,
            expires_at=now + timedelta(hours=1),
        )
    return approval.seq


async def test_a_decision_on_one_replica_wakes_the_run_waiting_on_another(
    postgres_url: str,
) -> None:
    """An approval closed through replica A wakes what waits on it on replica B at once,
    not at B's next poll."""
    async with _peer(postgres_url) as a, _peer(postgres_url) as b:
        seq = await _pending_approval(a.db)
        waiting = b.hub.event(seq)
        async with a.db.begin() as conn:
            closed = await run_store.finish_approval(
                conn, seq, ApprovalStatus.APPROVED, "U1", datetime.now(UTC)
            )
        assert closed
        async with asyncio.timeout(HEARD_WITHIN_S):
            await waiting.wait()
