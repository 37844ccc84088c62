"""When the store cannot commit, deliveries get 503 (Alertmanager retries) and nothing is
acknowledged; once the store is back, the same delivery is taken."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import StartMedic, bearer, make_settings
from harness.postgres import PostgresServer
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server this test may stop and start."""
    with PostgresServer().start(tmp_path) as server:
        yield server


async def test_store_down_is_503_then_recovers(
    start_medic: StartMedic, own_postgres: PostgresServer
) -> None:
    """Stopping PostgreSQL turns deliveries and readiness into 503; restarting it recovers."""
    client = await start_medic(make_settings(own_postgres.url))
    payload = am_payload(am_alert("fp1"))
    own_postgres.stop(mode="immediate")

    refused = await client.post(URL, json=payload, headers=bearer())
    assert refused.status == 503
    assert (await refused.json())["error"] == "unavailable"
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    assert (await client.get("/healthz")).status == 200
    listing = await client.get("/api/incidents")
    assert listing.status == 503

    own_postgres.start_again()
    accepted = await client.post(URL, json=payload, headers=bearer())
    assert accepted.status == 200
    assert await accepted.json() == {"accepted": 1, "duplicates": 0}
    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert (
        'medic_deliveries_rejected_total{reason="unavailable",source="alertmanager"} 1.0' in metrics
    )
