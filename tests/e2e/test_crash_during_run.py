"""SIGKILL ``medic serve`` while a run waits on a human: after the restart the run is still
waiting, the approval still counts, and the run finishes without repeating its steps."""

from __future__ import annotations

import json
from pathlib import Path

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from medickit import AM_TOKEN, API_TOKEN, bearer
from payloads import am_alert, am_payload

PLAYBOOKS = Path(__file__).resolve().parents[1] / "data" / "playbooks-crash"
WAIT_S = 30.0


def _run(url: str) -> dict[str, object]:
    runs: list[dict[str, object]] = get_json(f"{url}/api/incidents/INC-1")["runs"]
    return runs[0] if runs else {}


def test_run_waiting_for_approval_survives_sigkill(sqlite_url: str, tmp_path: Path) -> None:
    """Kill -9 during ``waiting_approval``; restart; approve; the run succeeds, each step
    having run once."""
    env = {
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(PLAYBOOKS)]),
        "MEDIC_SERVER__API_TOKEN": API_TOKEN,
        "MEDIC_SLACK__APPROVERS": '["U1"]',
    }
    payload = am_payload(am_alert("fp-guarded", alertname="E2EGuarded"))
    medic = MedicProcess(tmp_path, store_url=sqlite_url, bearer_token=AM_TOKEN, extra_env=env)
    with medic.start():
        assert post_json(f"{medic.url}/webhooks/alertmanager", payload, bearer())[0] == 200
        wait_until(
            lambda: _run(medic.url).get("status") == "waiting_approval", WAIT_S, "a waiting run"
        )
        medic.kill()
        medic.start()
        assert _run(medic.url)["status"] == "waiting_approval"
        approvals = _run(medic.url)["approvals"]
        approval = approvals[0]["id"]  # type: ignore[index]
        decision = post_json(
            f"{medic.url}/api/approvals/{approval}",
            {"decision": "approve", "user": "U1"},
            {"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert decision[0] == 200
        wait_until(lambda: _run(medic.url).get("status") == "succeeded", WAIT_S, "the run's end")
        steps = [(s["id"], s["status"]) for s in _run(medic.url)["steps"]]  # type: ignore[attr-defined]
        assert steps == [
            ("evidence", "succeeded"),
            ("approve", "succeeded"),
            ("restart", "succeeded"),
        ]
        timeline = get_json(f"{medic.url}/api/incidents/INC-1")["timeline"]
        assert [t["text"].split(" ")[1] for t in timeline if t["kind"] == "step.succeeded"] == [
            "evidence",
            "approve",
            "restart",
        ]
