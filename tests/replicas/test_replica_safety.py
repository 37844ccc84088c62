"""Safety across three ``medic serve`` replicas on one PostgreSQL: a pause through one
replica holds write steps on all of them; a per-action limit of 1 holds under a burst of
starts on all three at once."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.store import Database
from bot.store.locks import key_of
from bot.store.schema import runs, steps

from harness.http import get_json
from harness.medic import MedicProcess
from harness.waiting import eventually, wait_until
from payloads import am_alert, am_payload
from replicakit import (
    REPLICA_PLAYBOOKS,
    api_post,
    incident,
    post_round_robin,
    replica_env,
    replicas,
)

WAIT_S = 30.0
BUSY = ("pending", "running", "paused")


def _restarts(services: range) -> list[Any]:
    """One alert per service, each opening an incident whose run restarts that service."""
    return [
        am_payload(
            am_alert(f"fp-{i}", alertname="ReplicaRestart", service=f"svc{i}"),
            group_key=f'{{}}:{{service="svc{i}"}}',
        )
        for i in services
    ]


def _runs(server: MedicProcess) -> list[dict[str, Any]]:
    """Every run of every incident, as the API shows them."""
    listing = get_json(f"{server.url}/api/incidents")["incidents"]
    return [run for i in listing for run in incident(server, i["id"])["runs"]]


def _statuses(server: MedicProcess, count: int) -> list[str] | None:
    """The runs' statuses once there are ``count`` runs none of which is pending/running."""
    runs = _runs(server)
    statuses = sorted(run["status"] for run in runs)
    settled = len(runs) == count and not {"pending", "running"} & set(statuses)
    return statuses if settled else None


def _write_starts(server: MedicProcess) -> int:
    """How many times a ``restart`` step started, over every incident."""
    return sum(1 for run in _runs(server) for step in run["steps"] if step["id"] == "restart")


def test_a_pause_through_one_replica_holds_write_steps_on_all(
    postgres_url: str, tmp_path: Path
) -> None:
    """Write steps start on replicas B and C while alerts arrive; paused through replica A,
    no write step starts anywhere after the pause's answer (by the store's timestamps), and
    the runs opened after it through B and C wait as ``paused``; resumed through A, each
    replica starts its held runs' write steps within a second of the resume's answer."""
    with replicas(tmp_path, postgres_url, 3, replica_env(REPLICA_PLAYBOOKS)) as (a, b, c):
        assert set(post_round_robin([b, c], _restarts(range(6)))) == {200}
        wait_until(lambda: _started(postgres_url), WAIT_S, "a write step started")
        assert api_post(a, "/api/pause", {"user": "U1", "reason": "maintenance"})[0] == 200
        paused_at = datetime.now(UTC)
        assert set(post_round_robin([b, c], _restarts(range(6, 12)))) == {200}
        before = wait_until(
            lambda: _settled(postgres_url, "restart", 12, busy={"pending", "running"}),
            WAIT_S,
            "twelve runs ended or held",
        )
        held = [r for r in before if r.step_started_at is None]
        assert api_post(a, "/api/resume", {"user": "U1"})[0] == 200
        resumed_at = datetime.now(UTC)
        after = wait_until(
            lambda: (
                (runs := _settled(postgres_url, "restart", 12))
                and {r.status for r in runs} == {"succeeded"}
                and runs
            ),
            WAIT_S,
            "twelve ends",
        )
    started = [r.step_started_at for r in before if r.step_started_at is not None]
    assert started
    assert all(at < paused_at for at in started)
    assert len(held) >= 6
    assert {r.status for r in held} == {"paused"}
    held_seqs = {r.seq for r in held}
    firsts: dict[str | None, datetime] = {}
    for run in after:
        if run.seq in held_seqs and run.step_started_at is not None:
            firsts[run.owner] = min(firsts.get(run.owner, run.step_started_at), run.step_started_at)
    assert len(firsts) == len({r.owner for r in held})
    assert all((first - resumed_at).total_seconds() < 1.0 for first in firsts.values()), firsts


def _started(url: str) -> bool:
    return any(r.step_started_at is not None for r in stored_runs(url, "restart"))


@dataclass(frozen=True)
class StoredRun:
    """A run as the store holds it: its number and playbook, who drives it, its status,
    when its (one) step started."""

    seq: int
    playbook: str
    owner: str | None
    status: str
    step_started_at: datetime | None


async def _stored_runs(url: str, playbook: str) -> list[StoredRun]:
    db = Database(url)
    query = (
        sa.select(runs.c.seq, runs.c.playbook, runs.c.owner, runs.c.status, steps.c.started_at)
        .select_from(runs.outerjoin(steps, steps.c.run_seq == runs.c.seq))
        .where(runs.c.playbook == playbook)
    )
    async with db.connect() as conn:
        found = [StoredRun(*row) for row in await conn.execute(query)]
    await db.close()
    return found


def stored_runs(url: str, playbook: str) -> list[StoredRun]:
    """The runs of ``playbook`` in the store."""
    return asyncio.run(_stored_runs(url, playbook))


def _hold_runs_on_each(
    url: str, servers: list[MedicProcess], playbook: str, alerts: list[Any]
) -> list[StoredRun]:
    """Pause, then open one incident per alert through the replicas in turn, each once the
    run before it is held: a replica's intake takes the alerts it acknowledged, so the held
    runs are spread over the replicas."""
    assert api_post(servers[0], "/api/pause", {"user": "U1", "reason": "burst"})[0] == 200
    for i, alert in enumerate(alerts):
        assert post_round_robin([servers[i % len(servers)]], [alert]) == [200]
        wait_until(
            lambda n=i + 1: [r.status for r in stored_runs(url, playbook)] == ["paused"] * n,
            WAIT_S,
            f"{i + 1} held runs",
        )
    return stored_runs(url, playbook)


def _settled(
    url: str, playbook: str, count: int, busy: frozenset[str] | set[str] = frozenset(BUSY)
) -> list[StoredRun] | None:
    """The runs of ``playbook`` once there are ``count``, none of them ``busy``."""
    found = stored_runs(url, playbook)
    return found if len(found) == count and not busy & {r.status for r in found} else None


def _advisory_halves(name: str) -> tuple[int, int]:
    """How ``pg_locks`` shows the advisory lock of ``name``: (classid, objid)."""
    key = key_of(name) & 0xFFFFFFFFFFFFFFFF
    return key >> 32, key & 0xFFFFFFFF


async def _start_attempts_waiting(conn: Any, action: str) -> int:
    """Transactions of this database waiting to insert a step, or for the cross-replica
    locks of ``action`` (the per-action lock and the limit's)."""
    guards = [_advisory_halves(f"action:{action}"), _advisory_halves(f"limit:{action}")]
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND (relation = 'steps'::regclass OR (locktype = 'advisory' AND"
        " ((classid::bigint = :c1 AND objid::bigint = :o1)"
        " OR (classid::bigint = :c2 AND objid::bigint = :o2))))"
    )
    params = {"c1": guards[0][0], "o1": guards[0][1], "c2": guards[1][0], "o2": guards[1][1]}
    return int((await conn.execute(query, params)).scalar_one())


async def _resume_all_at_once(url: str, server: MedicProcess, action: str, replicas: int) -> None:
    """Resume through ``server`` while the test holds ``steps`` in SHARE mode (reads go on,
    inserts wait): every replica's first start attempt gets as far as it can (with no
    cross-replica guard: counted, then waiting to insert its step) and waits; once all
    ``replicas`` wait, let them go together."""
    db = Database(url)
    async with db.connect() as holder, db.connect() as watcher:
        await holder.execute(sa.text("LOCK TABLE steps IN SHARE MODE"))
        assert (await asyncio.to_thread(api_post, server, "/api/resume", {"user": "U1"}))[0] == 200

        async def all_waiting() -> bool:
            return await _start_attempts_waiting(watcher, action) >= replicas

        await eventually(all_waiting, WAIT_S, "a start attempt waiting on every replica")
        await holder.rollback()
    await db.close()


def test_a_limit_of_one_holds_under_a_burst_across_three_replicas(
    postgres_url: str, tmp_path: Path
) -> None:
    """With ``kubernetes.restart`` limited to 1 per hour, nine runs held by the pause and
    spread over the three replicas try to start their write step at the resume, the first
    attempt of each replica lined up with the others' (the test holds inserts into
    ``steps`` until all three wait): the step starts once; the eight others ask for
    four-eyes consent."""
    limits = {"kubernetes.restart": {"max": 1, "per": "1h"}}
    env = replica_env(REPLICA_PLAYBOOKS, MEDIC_SAFETY__LIMITS=json.dumps(limits))
    with replicas(tmp_path, postgres_url, 3, env) as servers:
        held = _hold_runs_on_each(postgres_url, servers, "restart", _restarts(range(9)))
        assert len({r.owner for r in held}) == 3, "every replica holds some of the runs"
        asyncio.run(_resume_all_at_once(postgres_url, servers[1], "kubernetes.restart", 3))
        done = wait_until(lambda: _settled(postgres_url, "restart", 9), WAIT_S, "nine ends")
    started = sum(1 for r in done if r.step_started_at is not None)
    assert (sorted(r.status for r in done), started) == (
        ["succeeded"] + ["waiting_approval"] * 8,
        1,
    )
