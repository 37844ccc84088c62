"""``safety.max_concurrent_runs`` counts the runs executing on every replica together: a
burst spread over three replicas never has more runs executing steps at once than that."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bot.store import Database
from bot.store.schema import steps

from harness.ports import free_port
from harness.waiting import wait_until
from payloads import am_alert, am_payload
from replicakit import REPLICA_PLAYBOOKS, post_round_robin, replica_env, replicas

RUNS = 9
MAX_RUNS = 2
WAIT_S = 60.0


async def _step_spans(url: str) -> list[tuple[datetime, datetime]]:
    """When each finished step executed, as the store recorded it."""
    db = Database(url)
    async with db.connect() as conn:
        query = sa.select(steps.c.started_at, steps.c.finished_at).where(
            steps.c.finished_at.is_not(None)
        )
        spans = [(row.started_at, row.finished_at) for row in await conn.execute(query)]
    await db.close()
    return spans


def _most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of spans that overlap at any instant (an end before a start)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, change in edges:
        current += change
        most = max(most, current)
    return most


def test_max_concurrent_runs_holds_across_three_replicas(postgres_url: str, tmp_path: Path) -> None:
    """With ``max_concurrent_runs: 2``, nine runs of about a second each, opened at once
    through three replicas, all finish, and the store shows at most two executing at any
    instant (each replica alone would allow two: six)."""
    env = replica_env(
        REPLICA_PLAYBOOKS,
        MEDIC_SAFETY__MAX_CONCURRENT_RUNS=str(MAX_RUNS),
        # A replica whose heartbeat lapsed counts as dead, its slots free: under a heavy
        # machine load the short default of these tests (1.5 s) can lapse while it runs.
        MEDIC_STORE__LEASE_SECONDS="10",
        MEDIC_PROMETHEUS__URL=f"http://127.0.0.1:{free_port()}",  # closed: each wait runs 1 s
    )
    payloads = [
        am_payload(
            am_alert(f"fp-{i}", alertname="ReplicaSlow", service=f"svc{i}"),
            group_key=f'{{}}:{{service="svc{i}"}}',
        )
        for i in range(RUNS)
    ]
    with replicas(tmp_path, postgres_url, 3, env) as servers:
        assert set(post_round_robin(servers, payloads)) == {200}
        spans = wait_until(
            lambda: (
                (found := asyncio.run(_step_spans(postgres_url))) and len(found) == RUNS and found
            ),
            WAIT_S,
            "nine finished steps",
        )
    assert _most_at_once(spans) == MAX_RUNS
