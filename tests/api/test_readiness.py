"""``/readyz`` says 503 exactly when a delivery would (the store cannot commit), and reads
that could not wait for intake say so (``X-Medic-Partial``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from harness.waiting import eventually
from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"


async def test_readyz_is_503_while_another_process_holds_the_write_lock(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """While another process holds SQLite's write lock every delivery gets 503, and so does
    ``/readyz`` (it said 200: reading still worked); once the lock is gone both recover."""
    client = await start_medic(make_settings(sqlite_url))
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what a second writer on the same file does
    try:
        not_ready = await client.get("/readyz")
        delivery = await client.post(URL, json=am_payload(am_alert("fp1")), headers=bearer())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (not_ready.status, (await not_ready.json())["error"]) == (503, "unavailable")
    assert "cannot commit" in (await not_ready.json())["detail"]
    assert delivery.status == 503
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/healthz")).status == 200


async def test_reads_that_could_not_wait_for_intake_say_they_are_partial(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """When the read-your-writes wait runs out (here at once, with 5,000 alerts just
    acknowledged), the answer carries ``X-Medic-Partial: true``; an answer without it has
    every acknowledged alert in its incident."""
    client = await start_medic(make_settings(sqlite_url), catch_up_s=0.0)
    alerts = [am_alert(f"fp{i}", instance=f"i{i}") for i in range(5000)]
    accepted = await client.post(URL, json=am_payload(*alerts), headers=bearer())
    assert (await accepted.json())["accepted"] == 5000
    hurried = await client.get("/api/incidents")
    assert hurried.headers.get("X-Medic-Partial") == "true"

    async def whole() -> Any:
        answer = await client.get("/api/incidents")
        return None if "X-Medic-Partial" in answer.headers else await answer.json()

    listing = await eventually(whole, 60, "an answer that is not partial")
    assert [i["alert_count"] for i in listing["incidents"]] == [5000]
