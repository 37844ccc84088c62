"""deploy/alertmanager/receiver.yml merged into a user's existing Alertmanager config, as the
README says: Medic gets every alert (token from a file, resolved ones too) and the user's
default receiver still does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.alertmanager import AlertmanagerServer
from harness.http import get_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from medickit import AM_TOKEN

EXAMPLE = Path(__file__).parents[2] / "deploy" / "alertmanager" / "receiver.yml"
TIMEOUT = 15.0


class _Recorder(BaseHTTPRequestHandler):
    """The user's own receiver: records each notification's status and alert names."""

    seen: list[tuple[str, list[str]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        names = [alert["labels"]["alertname"] for alert in body["alerts"]]
        type(self).seen.append((body["status"], names))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def default_receiver() -> Iterator[tuple[str, list[tuple[str, list[str]]]]]:
    """A webhook standing in for the user's existing default receiver."""
    seen: list[tuple[str, list[str]]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()


class _UsersAlertmanager(AlertmanagerServer):
    """Alertmanager with the user's config: a root route to their receiver, plus Medic's
    child route and receiver from the example, pointed at this Medic and token file."""

    def __init__(self, user_receiver: str, medic_url: str, token_file: Path) -> None:
        super().__init__(medic_url)
        self.user_receiver = user_receiver
        self.token_file = token_file

    def config(self) -> dict[str, Any]:
        example = yaml.safe_load(EXAMPLE.read_text())
        medic = next(r for r in example["receivers"] if r["name"] == "medic")
        (webhook,) = medic["webhook_configs"]
        webhook["url"] = self.webhook_url
        webhook["http_config"]["authorization"]["credentials_file"] = str(self.token_file)
        route = example["route"]
        route["routes"][0]["group_interval"] = "1s"  # the resolved notification now, not in 30 s
        route |= {"group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s"}
        users = {"name": route["receiver"], "webhook_configs": [{"url": self.user_receiver}]}
        users["webhook_configs"][0]["send_resolved"] = True
        return {"route": route, "receivers": [users, medic]}


def test_example_route_feeds_medic_and_keeps_the_users_receiver(
    tmp_path: Path, default_receiver: tuple[str, list[tuple[str, list[str]]]]
) -> None:
    """The example's child route (``continue: true``, short ``group_wait``,
    ``send_resolved``, bearer token from a file) delivers a firing then a resolved alert to
    Medic, which opens then resolves its incident, while the root route's receiver gets
    both notifications too."""
    user_url, user_seen = default_receiver
    token_file = tmp_path / "token"
    token_file.write_text(AM_TOKEN + "\n")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alert = {
        "labels": {"alertname": "ReceiverExample", "severity": "warning"},
        "annotations": {"summary": "ReceiverExample e2e"},
        "startsAt": started,
    }
    medic = MedicProcess(
        tmp_path, store_url=f"sqlite:///{tmp_path / 'm.db'}", bearer_token=AM_TOKEN
    )
    with medic.start():
        am = _UsersAlertmanager(user_url, f"{medic.url}/webhooks/alertmanager", token_file)
        with am.start(tmp_path):
            am.post_alerts([alert])
            wait_until(lambda: _statuses(medic) == ["open"], TIMEOUT, "Medic's incident opened")
            am.post_alerts([{**alert, "endsAt": datetime.now(UTC) - timedelta(seconds=1)}])
            wait_until(
                lambda: _statuses(medic) == ["resolved"], TIMEOUT, "Medic's incident resolved"
            )
            wait_until(
                lambda: ("resolved", ["ReceiverExample"]) in user_seen,
                TIMEOUT,
                "the user's receiver got the resolved notification",
            )
            rejected = medic.metric("medic_deliveries_rejected_total", source="alertmanager")
    assert ("firing", ["ReceiverExample"]) in user_seen
    assert rejected == 0


def _statuses(medic: MedicProcess) -> list[str]:
    listing = get_json(f"{medic.url}/api/incidents")
    return [i["status"] for i in listing["incidents"] if i["title"] == "ReceiverExample e2e"]
