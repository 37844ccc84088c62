"""A replica killed (-9) in the middle of a run: once its lease lapses another replica takes
the run over and finishes it, never running a write step twice; a write step the dead
replica was running becomes ``interrupted``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.models import RunStatus, StepStatus
from bot.store import Database
from bot.store import runs as run_store
from bot.store.schema import runs

from harness.http import post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from medickit import bearer
from payloads import am_alert, am_payload
from replicakit import REPLICA_PLAYBOOKS, api_post, incident, replica_env, replicas

WAIT_S = 30.0
GUARDED = am_payload(am_alert("fp-guarded", alertname="ReplicaGuarded"))


def _run(server: MedicProcess) -> dict[str, Any]:
    runs: list[dict[str, Any]] = incident(server, "INC-1")["runs"]
    return runs[0] if runs else {}


async def _owner(url: str) -> str:
    db = Database(url)
    async with db.connect() as conn:
        owner = (await conn.execute(sa.select(runs.c.owner).where(runs.c.seq == 1))).scalar()
    await db.close()
    return str(owner)


def _kill_the_runs_owner(servers: list[MedicProcess], url: str) -> list[MedicProcess]:
    """Start the guarded run through the first replica; once it waits on its approval,
    kill -9 the replica that owns it; the survivors."""
    first = servers[0]
    assert post_json(f"{first.url}/webhooks/alertmanager", GUARDED, bearer())[0] == 200
    wait_until(lambda: _run(first).get("status") == "waiting_approval", WAIT_S, "a waiting run")
    owner = asyncio.run(_owner(url))
    (dead,) = [s for s in servers if f'"replica": "{owner}"' in s.log_text()]
    dead.kill()
    return [s for s in servers if s is not dead]


def test_a_dead_replicas_run_finishes_on_another(postgres_url: str, tmp_path: Path) -> None:
    """Kill -9 the replica driving a run; approve through a survivor: the run is taken over
    and succeeds, each of its steps (the write step included) having run once."""
    env = replica_env(REPLICA_PLAYBOOKS)
    with replicas(tmp_path, postgres_url, 3, env) as servers:
        b, c = _kill_the_runs_owner(servers, postgres_url)
        approval = str(_run(b)["approvals"][0]["id"])
        decided = api_post(b, f"/api/approvals/{approval}", {"decision": "approve", "user": "U1"})
        assert decided[0] == 200
        wait_until(lambda: _run(c).get("status") == "succeeded", WAIT_S, "the run's end")
        steps = [(s["id"], s["status"]) for s in _run(c)["steps"]]
        timeline = incident(b, "INC-1")["timeline"]
    assert steps == [("evidence", "succeeded"), ("approve", "succeeded"), ("restart", "succeeded")]
    started = [t["text"] for t in timeline if t["kind"] == "step.running"]
    assert [text.split(" ")[1] for text in started].count("restart") == 1


async def _cut_off_in_the_write_step(url: str) -> None:
    """What a replica killed while its write step ran leaves in the store."""
    db = Database(url)
    now = datetime.now(UTC)
    async with db.begin() as conn:
        await run_store.save_step(
            conn,
            run_seq=1,
            position=2,
            step_id="restart",
            action="kubernetes.restart",
            status=StepStatus.RUNNING,
            at=now,
        )
        await run_store.set_run_status(conn, 1, RunStatus.RUNNING, now)
    await db.close()


def test_a_write_step_the_dead_replica_ran_becomes_interrupted(
    postgres_url: str, tmp_path: Path
) -> None:
    """A replica killed while its write step ran: the replica that takes the run over marks
    the step and the run ``interrupted`` (once) and never runs the step again."""
    # A longer lease: the test writes what the crash left before the survivors take over.
    env = replica_env(REPLICA_PLAYBOOKS, MEDIC_STORE__LEASE_SECONDS="6")
    with replicas(tmp_path, postgres_url, 3, env) as servers:
        b, _c = _kill_the_runs_owner(servers, postgres_url)
        asyncio.run(_cut_off_in_the_write_step(postgres_url))
        wait_until(lambda: _run(b).get("status") == "interrupted", WAIT_S, "the takeover")
        steps = [(s["id"], s["status"]) for s in _run(b)["steps"]]
        timeline = incident(b, "INC-1")["timeline"]
    assert steps[-1] == ("restart", "interrupted")
    assert [t["kind"] for t in timeline].count("run.interrupted") == 1
    assert not [t for t in timeline if t["kind"] == "step.succeeded" and " restart " in t["text"]]
