"""SIGKILL ``medic serve`` right after it answered: nothing acknowledged is lost or doubled."""

from __future__ import annotations

from pathlib import Path

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from medickit import AM_TOKEN, bearer
from payloads import am_alert, am_payload


def test_alert_answered_200_survives_sigkill_exactly_once(store_url: str, tmp_path: Path) -> None:
    """An alert Medic answered 200 for is in the store after a SIGKILL right after the answer,
    exactly once, and the same delivery after the restart is a duplicate (SQLite and
    PostgreSQL)."""
    payload = am_payload(
        am_alert("e2e-crash-fp", alertname="E2ECrash"), group_key='{}:{alertname="E2ECrash"}'
    )
    with MedicProcess(tmp_path, store_url=store_url, bearer_token=AM_TOKEN).start() as medic:
        webhook = f"{medic.url}/webhooks/alertmanager"
        answer = post_json(webhook, payload, bearer())
        medic.kill()
        assert answer == (200, {"accepted": 1, "duplicates": 0})

        medic.start()
        listing = get_json(f"{medic.url}/api/incidents")
        assert [(i["id"], i["alert_count"]) for i in listing["incidents"]] == [("INC-1", 1)]
        detail = get_json(f"{medic.url}/api/incidents/INC-1")
        assert [(a["fingerprint"], a["status"]) for a in detail["alerts"]] == [
            ("e2e-crash-fp", "firing")
        ]
        assert post_json(webhook, payload, bearer()) == (200, {"accepted": 0, "duplicates": 1})
