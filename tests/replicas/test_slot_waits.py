"""Runs queued for a ``max_concurrent_runs`` slot on PostgreSQL wait their turn: a slot
given back lets the next waiter try, not every waiter at once."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from enginekit import HOLD_GATE, HOLD_REGISTRY, RecordingNarrator, write_playbooks
from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

RUNS = 30
MAX_RUNS = 2
HELD = """
name: held
match: ['alertname="Held"']
group_by: [n]
steps:
  - id: hold
    uses: test.hold
    with: {name: "{{ labels.n }}"}
"""


async def test_a_freed_slot_wakes_one_waiter_not_all(
    start_medic: StartMedic, postgres_url: str, tmp_path: Path
) -> None:
    """Thirty runs opened at once with two slots: all finish, and taking the slots costs
    the store about one attempt per run and per slot given back (seen failing: every
    given-back slot sent every waiting run to the store, 400-odd attempts for thirty runs,
    each under the one lock all replicas' slot takers share)."""
    attempts: collections.Counter[str] = collections.Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("SELECT runs.slot_taken_at"):
            attempts["take"] += 1

    HOLD_GATE["release"] = asyncio.Event()
    narrator = RecordingNarrator()
    settings = make_settings(
        postgres_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", held=HELD))]},
        safety={"max_concurrent_runs": MAX_RUNS},
    )
    client = await start_medic(settings, narrators=[narrator], registry=HOLD_REGISTRY)
    event.listen(Engine, "before_cursor_execute", count)
    try:
        alerts = [am_alert(f"fp{n}", alertname="Held", n=str(n)) for n in range(RUNS)]
        response = await client.post(
            "/webhooks/alertmanager", json=am_payload(*alerts), headers=bearer()
        )
        assert response.status == 200
        await narrator.wait_for("step_started")
        HOLD_GATE["release"].set()
        for n in range(1, RUNS + 1):
            await narrator.run_end(f"RUN-{n}", "succeeded")
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert attempts["take"] <= 3 * RUNS, attempts
