"""Three ``medic serve`` replicas on one PostgreSQL, webhooks spread round-robin: every
alert is taken once and grouped exactly as one replica groups it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.postgres import PostgresServer
from medickit import fresh_database
from payloads import am_alert, am_payload
from replicakit import post_round_robin, replica_env, replicas, settled_incidents

DISTINCT = [
    am_payload(
        am_alert(f"fp-{i}", alertname=f"Storm{i}"), group_key=f'{{}}:{{alertname="Storm{i}"}}'
    )
    for i in range(30)
]
ONE_GROUP = [
    am_payload(
        am_alert(f"fp-{i}", alertname="Storm", pod=f"p{i}"), group_key='{}:{alertname="Storm"}'
    )
    for i in range(60)
]


def _outcome(postgres: PostgresServer, tmp_path: Path, count: int, payloads: list[Any]) -> Any:
    """Incidents (title, alert count, status) after ``payloads`` went to ``count`` replicas."""
    url = fresh_database(postgres)
    with replicas(tmp_path / f"x{count}", url, count, replica_env()) as servers:
        assert set(post_round_robin(servers, payloads)) == {200}
        listing = settled_incidents(servers)
    ids = [i["id"] for i in listing]
    assert len(ids) == len(set(ids))
    return sorted((i["title"], i["alert_count"], i["status"]) for i in listing)


@pytest.mark.parametrize(
    ("payloads", "incidents"), [(DISTINCT, 30), (ONE_GROUP, 1)], ids=["distinct", "one-group"]
)
def test_a_storm_over_three_replicas_gives_the_single_replica_result(
    postgres: PostgresServer, tmp_path: Path, payloads: list[Any], incidents: int
) -> None:
    """A storm of distinct incidents, and a storm of one group, sent round-robin to three
    replicas make exactly the incidents one replica makes from the same webhooks."""
    single = _outcome(postgres, tmp_path, 1, payloads)
    assert len(single) == incidents
    assert sum(count for _, count, _ in single) == len(payloads)
    assert _outcome(postgres, tmp_path, 3, payloads) == single
