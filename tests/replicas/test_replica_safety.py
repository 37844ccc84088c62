"""Safety across three ``medic serve`` replicas on one PostgreSQL: a pause
through one replica holds write steps on all of them; a per-action limit of 1 holds under
a burst spread over all three."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.http import get_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
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
    """Paused through replica A, alerts sent to B and C open incidents whose runs wait as
    ``paused`` without starting their write step; resumed through C, they all run."""
    with replicas(tmp_path, postgres_url, 3, replica_env(REPLICA_PLAYBOOKS)) as (a, b, c):
        assert api_post(a, "/api/pause", {"user": "U1", "reason": "maintenance"})[0] == 200
        assert set(post_round_robin([b, c], _restarts(range(6)))) == {200}
        paused = wait_until(lambda: _statuses(a, 6), WAIT_S, "six held runs")
        assert (paused, _write_starts(a)) == (["paused"] * 6, 0)
        assert api_post(c, "/api/resume", {"user": "U1"})[0] == 200
        done = wait_until(
            lambda: (s := _statuses(b, 6)) and "paused" not in s and s, WAIT_S, "six ends"
        )
    assert done == ["succeeded"] * 6


def test_a_limit_of_one_holds_under_a_burst_across_three_replicas(
    postgres_url: str, tmp_path: Path
) -> None:
    """With ``kubernetes.restart`` limited to 1 per hour, nine incidents at once, spread over
    three replicas, start the write step once; the eight others ask for four-eyes consent."""
    limits = {"kubernetes.restart": {"max": 1, "per": "1h"}}
    env = replica_env(REPLICA_PLAYBOOKS, MEDIC_SAFETY__LIMITS=json.dumps(limits))
    with replicas(tmp_path, postgres_url, 3, env) as servers:
        assert set(post_round_robin(servers, _restarts(range(9)))) == {200}
        statuses = wait_until(lambda: _statuses(servers[0], 9), WAIT_S, "nine settled runs")
        starts = _write_starts(servers[1])
    assert (statuses, starts) == (["succeeded"] + ["waiting_approval"] * 8, 1)
