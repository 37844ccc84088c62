"""kill -9 of a real ``medic serve`` in the middle of a ``control`` step: its effect and the
step's outcome commit in one transaction, so a crash between them leaves neither, and after
the restart the step runs once more and its effect is there exactly once.

PostgreSQL holds the step's transaction open at the chosen point: the test locks the
incident's row (the effect waits for it), then, once the step is ``running``, the step's own
row (so its outcome waits after the effect is written), releases the incident, and kills
Medic while the effect is written but not committed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from medickit import AM_TOKEN, API_TOKEN, bearer
from payloads import am_alert, am_payload

WAIT_S = 60.0
API = {"Authorization": f"Bearer {API_TOKEN}"}

PLAYBOOK = """
name: control
match: ['alertname="Control"']
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h}
  - id: control
    uses: {action}
    with: {with}
  - id: after
    uses: incident.note
    with: {text: "after the control step"}
"""
CONTROLS = {
    "incident.set_severity": ("{severity: sev1}", "incident.severity"),
    "incident.resolve": ("{summary: fixed by hand}", "incident.resolved"),
}
"""Medic's ``control`` actions that change an incident: their parameters and the audit event
of their effect. (``approval``, the other one, is a wait: its crash is in
tests/engine/test_safety_machine.py and tests/engine/test_recovery.py.)"""


class Store:
    """Connections of the test's own to Medic's PostgreSQL database, on one event loop, for
    holding row locks while Medic runs."""

    def __init__(self, url: str) -> None:
        self._url = url.replace("postgresql+asyncpg://", "postgresql://")
        self._runner = asyncio.Runner()

    def connect(self) -> asyncpg.Connection:
        """A new connection."""
        connection: asyncpg.Connection = self._runner.run(asyncpg.connect(self._url))
        return connection

    def run(self, query: str, *args: Any, on: asyncpg.Connection | None = None) -> list[Any]:
        """The rows of ``query`` (on ``on``, else a connection of its own)."""

        async def fetch() -> list[Any]:
            if on is not None:
                return list(await on.fetch(query, *args))
            connection = await asyncpg.connect(self._url)
            try:
                return list(await connection.fetch(query, *args))
            finally:
                await connection.close()

        return self._runner.run(fetch())

    def begin(self, connection: asyncpg.Connection) -> None:
        """Open a transaction on ``connection``."""
        self._runner.run(connection.execute("BEGIN"))

    def rollback(self, connection: asyncpg.Connection) -> None:
        """End ``connection``'s transaction, releasing its locks."""
        self._runner.run(connection.execute("ROLLBACK"))

    def blocked_by(self, connection: asyncpg.Connection) -> list[int]:
        """The backends waiting for a lock ``connection`` holds."""
        holder = self.run("SELECT pg_backend_pid()", on=connection)[0][0]
        rows = self.run(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder
        )
        return [row[0] for row in rows]

    def close(self, *connections: asyncpg.Connection) -> None:
        """Close ``connections`` and the loop."""
        for connection in connections:
            self._runner.run(connection.close())
        self._runner.close()


def _medic(tmp_path: Path, store_url: str, action: str) -> MedicProcess:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    params, _ = CONTROLS[action]
    playbook = PLAYBOOK.replace("{action}", action).replace("{with}", params)
    (directory / "control.yaml").write_text(playbook)
    settings = {
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(directory)]),
        "MEDIC_SERVER__API_TOKEN": API_TOKEN,
        "MEDIC_SLACK__APPROVERS": '["U1"]',
        "MEDIC_STORE__LEASE_SECONDS": "1",  # the restarted Medic takes the dead one's run soon
    }
    return MedicProcess(tmp_path, store_url=store_url, bearer_token=AM_TOKEN, extra_env=settings)


def _incident(url: str) -> dict[str, Any]:
    found: dict[str, Any] = get_json(f"{url}/api/incidents/INC-1")
    return found


@pytest.mark.parametrize("action", list(CONTROLS))
def test_a_control_step_cut_by_kill_9_takes_effect_exactly_once(
    postgres_url: str, tmp_path: Path, action: str
) -> None:
    """Medic is killed after the control step wrote its effect but before its outcome
    committed: nothing of the effect was committed, and after the restart the step runs
    again, once: its audit event is there once, the step succeeded, and the run went on to
    its next step. (Seen failing with the effect committed in a transaction of its own:
    it was committed before the kill, and a severity change was there twice after the
    restart.)"""
    _, effect_kind = CONTROLS[action]
    store = Store(postgres_url)
    incident_lock, step_lock = store.connect(), store.connect()
    medic = _medic(tmp_path, postgres_url, action)
    try:
        with medic.start():
            alert = am_payload(am_alert("fp1", alertname="Control"))
            assert post_json(f"{medic.url}/webhooks/alertmanager", alert, bearer())[0] == 200
            approval = wait_until(
                lambda: (
                    (runs := _incident(medic.url)["runs"])
                    and runs[0]["approvals"]
                    and runs[0]["approvals"][0]["id"]
                ),
                WAIT_S,
                "the approval",
            )
            store.begin(incident_lock)
            store.run("SELECT seq FROM incidents WHERE seq = 1 FOR NO KEY UPDATE", on=incident_lock)
            decision = {"decision": "approve", "user": "U1"}
            assert post_json(f"{medic.url}/api/approvals/{approval}", decision, API)[0] == 200
            wait_until(lambda: store.blocked_by(incident_lock), WAIT_S, "the effect waiting")
            store.begin(step_lock)
            assert store.run(
                "SELECT status FROM steps WHERE run_seq = 1 AND step_id = 'control' FOR UPDATE",
                on=step_lock,
            ) == [("running",)]
            store.rollback(incident_lock)
            wait_until(lambda: store.blocked_by(step_lock), WAIT_S, "the outcome waiting")
            committed_before = store.run(
                "SELECT count(*) FROM audit_events WHERE kind = $1", effect_kind
            )
            medic.kill()
            store.rollback(step_lock)
            medic.start()
            run = wait_until(
                lambda: (r := _incident(medic.url)["runs"][0])["status"] == "succeeded" and r,
                WAIT_S,
                "the run to finish",
            )
            timeline = _incident(medic.url)["timeline"]
    finally:
        store.close(incident_lock, step_lock)
    assert (committed_before, [t["kind"] for t in timeline].count(effect_kind)) == ([(0,)], 1)
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("approve", "succeeded"),
        ("control", "succeeded"),
        ("after", "succeeded"),
    ]
    control_steps = [t for t in timeline if t["text"].startswith("RUN-1 control (")]
    assert [t["kind"] for t in control_steps] == ["step.running", "step.running", "step.succeeded"]
