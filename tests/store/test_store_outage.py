"""When the store cannot commit, deliveries get 503 (Alertmanager retries) and nothing is
acknowledged; once the store is back, the same delivery is taken."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock

from enginekit import RecordingNarrator, write_playbooks
from harness.postgres import PostgresServer
from medickit import StartMedic, bearer, make_settings
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


async def test_sqlite_store_locked_is_503_then_recovers(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """Another process holding SQLite's write lock past the busy timeout: the delivery
    gets 503 and nothing is acknowledged; once the lock is released, the same delivery is
    taken."""
    client = await start_medic(make_settings(sqlite_url))
    payload = am_payload(am_alert("fp1"))
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what a second writer on the same file does
    try:
        refused = await client.post(URL, json=payload, headers=bearer())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status == 503
    assert (await refused.json())["error"] == "unavailable"

    accepted = await client.post(URL, json=payload, headers=bearer())
    assert accepted.status == 200
    assert await accepted.json() == {"accepted": 1, "duplicates": 0}
    listing = await (await client.get("/api/incidents")).json()
    assert [i["alert_count"] for i in listing["incidents"]] == [1]


CONSENT = """
name: consent
match: ['alertname="Outage"']
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 5m}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


async def _logged(stream: Any, event: str) -> None:
    """Wait (bounded) until ``event`` appears in the log stream."""
    async with asyncio.timeout(20):
        while f'"event": "{event}"' not in stream.getvalue():  # noqa: ASYNC110 -- a log, no event to await
            await asyncio.sleep(0.02)


async def test_run_survives_a_store_outage(
    start_medic: StartMedic, own_postgres: PostgresServer, tmp_path: Path, log_stream: Any
) -> None:
    """The store goes away while a consent window passes: the run waits for it and then
    finishes from its committed state (expired → aborted) instead of dying stuck."""
    narrator = RecordingNarrator()
    clock = ManualClock(datetime(2026, 11, 24, 3, tzinfo=UTC))
    settings = make_settings(
        own_postgres.url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", consent=CONSENT))]},
    )
    client = await start_medic(settings, clock=clock, narrators=[narrator])
    payload = am_payload(am_alert("fp1", alertname="Outage"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    await narrator.wait_for("approval_requested")
    own_postgres.stop(mode="immediate")
    clock.advance(timedelta(minutes=6))
    await _logged(log_stream, "run.store_unavailable")
    await asyncio.to_thread(own_postgres.start_again)
    ended = await narrator.run_end("RUN-1")
    assert ended.status == "aborted"
