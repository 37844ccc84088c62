"""A real ``medic serve`` with personal tokens and the console playbooks, for the web
console, API-CLI and browser tests: alerts fired over HTTP, waits on the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from payloads import am_alert, am_payload

PLAYBOOKS = Path(__file__).parent / "data" / "playbooks-console"
TOKENS = {"alice": "tok-alice-6b1f", "bob": "tok-bob-90ce", "mallory": "tok-mallory-3d2a"}
APPROVERS = ["alice", "bob"]
ADMINS = ["alice"]
WAIT_S = 30.0


def console_env(**extra: str) -> dict[str, str]:
    """``medic serve`` settings: personal tokens for alice, bob (approvers; alice admin) and
    mallory (neither), the console playbooks, a live dry run."""
    return {
        "MEDIC_SERVER__API_USERS": json.dumps(TOKENS),
        "MEDIC_SLACK__APPROVERS": json.dumps(APPROVERS),
        "MEDIC_SLACK__ADMINS": json.dumps(ADMINS),
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(PLAYBOOKS)]),
        **extra,
    }


def start_console_medic(tmp_path: Path, **extra: str) -> MedicProcess:
    """A started ``medic serve`` on SQLite in ``tmp_path`` (stop it with ``with``)."""
    store = f"sqlite:///{tmp_path / 'medic.db'}"
    return MedicProcess(
        tmp_path, store_url=store, bearer_token=None, extra_env=console_env(**extra)
    ).start()


def fire(url: str, alertname: str, fingerprint: str, **annotations: str) -> None:
    """One firing alert through the real webhook."""
    alert = am_alert(fingerprint, alertname=alertname, namespace="prod")
    alert["annotations"].update(annotations)
    status, body = post_json(
        f"{url}/webhooks/alertmanager", am_payload(alert, group_key=f"{{}}:{fingerprint}")
    )
    assert status == 200, body


def incident(url: str, incident_id: str) -> dict[str, Any]:
    """The API's detail of one incident."""
    detail: dict[str, Any] = get_json(f"{url}/api/incidents/{incident_id}")
    return detail


def pending_approval(url: str, incident_id: str) -> str:
    """Wait until the incident's run waits on an approval; its id."""

    def pending() -> str | None:
        for run in incident(url, incident_id)["runs"]:
            for approval in run["approvals"]:
                if approval["status"] == "pending":
                    return str(approval["id"])
        return None

    return wait_until(pending, WAIT_S, f"a pending approval on {incident_id}")


def run_status(url: str, incident_id: str) -> str:
    """The status of the incident's first run."""
    return str(incident(url, incident_id)["runs"][0]["status"])
