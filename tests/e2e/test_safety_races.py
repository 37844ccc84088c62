"""Safety under concurrency and kill -9, through HTTP on a real ``medic serve``:
a pause holds every write step that had not started when it answered, also those queued
behind the store's write turns and the concurrency slots, and those whose limit consent is
approved later; a notify step cut off by kill -9 is not sent again."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from medickit import AM_TOKEN, API_TOKEN, bearer
from payloads import am_alert, am_payload

WAIT_S = 60.0
API = {"Authorization": f"Bearer {API_TOKEN}"}
SETTLED = {"paused", "succeeded", "failed", "aborted", "skipped", "interrupted"}
STARTED = {"running", "succeeded", "failed", "interrupted"}

BURST = """
name: burst
match: ['alertname="Burst"']
group_by: [n]
target: "deployment/prod/b-{{ labels.n }}"
steps:
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "b-{{ labels.n }}"}
"""


def _medic(tmp_path: Path, store_url: str, playbook: str, **env: str) -> MedicProcess:
    directory = tmp_path / "playbooks"
    directory.mkdir()
    (directory / "playbook.yaml").write_text(playbook)
    settings = {
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(directory)]),
        "MEDIC_SERVER__API_TOKEN": API_TOKEN,
        "MEDIC_SLACK__APPROVERS": '["U1", "U2"]',
        "MEDIC_SLACK__ADMINS": '["ADMIN"]',
        **env,
    }
    return MedicProcess(tmp_path, store_url=store_url, bearer_token=AM_TOKEN, extra_env=settings)


def _runs(url: str) -> list[dict[str, Any]]:
    incidents = get_json(f"{url}/api/incidents")["incidents"]
    return [
        run
        for incident in incidents
        for run in get_json(f"{url}/api/incidents/{incident['id']}")["runs"]
    ]


def _runs_once_answered(url: str) -> list[dict[str, Any]]:
    """:func:`_runs`, asking again while a loaded server is too slow to answer in time."""
    found: list[list[dict[str, Any]]] = []

    def read() -> bool:
        try:
            found.append(_runs(url))
        except (TimeoutError, URLError):
            return False
        return True

    wait_until(read, WAIT_S, "the runs")
    return found[-1]


def _started(runs: list[dict[str, Any]]) -> set[str]:
    return {run["id"] for run in runs for s in run["steps"] if s["status"] in STARTED}


def _switch(url: str, action: str) -> int:
    status, _ = post_json(f"{url}/api/{action}", {"user": "ADMIN", "reason": "freeze"}, API)
    return int(status)


def test_no_write_starts_after_the_pause_answered(store_url: str, tmp_path: Path) -> None:
    """Observation 2: 80 runs race for the store's write turns and the 20 concurrency slots;
    the pause answers once the first write has started, with the others queued. Every
    write step that ever starts had started when the pause answered (any read after it
    sees them all: none may start later); the others wait ``paused``."""
    alerts = [am_alert(f"fp{n}", alertname="Burst", n=str(n)) for n in range(80)]
    with _medic(tmp_path, store_url, BURST).start() as medic:
        assert (
            post_json(f"{medic.url}/webhooks/alertmanager", am_payload(*alerts), bearer())[0] == 200
        )
        wait_until(
            lambda: _started(get_json(f"{medic.url}/api/incidents/INC-1")["runs"]),
            WAIT_S,
            "the first write step",
        )
        assert _switch(medic.url, "pause") == 200
        at_pause = _started(_runs_once_answered(medic.url))
        settled = wait_until(
            lambda: (
                (runs := _runs(medic.url))
                and len(runs) == 80
                and all(r["status"] in SETTLED for r in runs)
                and runs
            ),
            WAIT_S,
            "every run finished or paused",
        )
    paused = [r for r in settled if r["status"] == "paused"]
    assert _started(settled) <= at_pause
    assert paused
    assert all(r["steps"] == [] for r in paused)


GUARDED = """
name: guarded
match: ['alertname="Guarded"']
target: "deployment/prod/api"
steps:
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


def test_approved_limit_consent_waits_for_the_resume(sqlite_url: str, tmp_path: Path) -> None:
    """Observation 1 over HTTP: over its limit, the write asks a four-eyes consent; Medic is
    paused; two approvers approve; the step does not start until ``/api/resume``. (Seen
    failing: the step started right after the second approval.)"""
    limits = json.dumps({"kubernetes.restart": {"max": 0, "per": "1h"}})
    with _medic(tmp_path, sqlite_url, GUARDED, MEDIC_SAFETY__LIMITS=limits).start() as medic:
        payload = am_payload(am_alert("fp1", alertname="Guarded"))
        assert post_json(f"{medic.url}/webhooks/alertmanager", payload, bearer())[0] == 200
        run = wait_until(
            lambda: (runs := _runs(medic.url)) and runs[0]["approvals"] and runs[0],
            WAIT_S,
            "the limit consent",
        )
        approval = run["approvals"][0]["id"]
        assert _switch(medic.url, "pause") == 200
        for user in ("U1", "U2"):
            decision = {"decision": "approve", "user": user}
            assert post_json(f"{medic.url}/api/approvals/{approval}", decision, API)[0] == 200
        held = wait_until(
            lambda: (r := _runs(medic.url)[0])["status"] == "paused" and r, WAIT_S, "paused"
        )
        assert _switch(medic.url, "resume") == 200
        done = wait_until(
            lambda: (r := _runs(medic.url)[0])["status"] == "succeeded" and r, WAIT_S, "the end"
        )
    assert held["steps"] == []
    assert [(s["id"], s["status"]) for s in done["steps"]] == [("restart", "succeeded")]


ESCALATE = """
name: tell
match: ['alertname="Tell"']
steps:
  - id: escalate
    uses: incident.escalate
    with: {reason: "node n1 misbehaves"}
"""


@pytest.fixture
def unanswering_pagerduty() -> Iterator[socket.socket]:
    """A TCP port that takes connections (the kernel does) and never answers: a PagerDuty
    page sent there hangs, so the step stays ``running``."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        server.setblocking(False)
        yield server


def _drain(server: socket.socket) -> list[socket.socket]:
    """Accept every pending connection."""
    taken: list[socket.socket] = []
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return taken
        taken.append(connection)


def test_a_notify_step_cut_by_kill_9_is_not_sent_again(
    sqlite_url: str, tmp_path: Path, unanswering_pagerduty: socket.socket
) -> None:
    """Observation 6: ``incident.escalate`` is paging (its intent already in the timeline)
    when Medic is killed; after the restart the step is ``interrupted`` (so is its run),
    PagerDuty is not called again and nothing says ESCALATED twice. (Seen failing: the
    step ran again and paged a second time; the first page left no audit event.)"""
    port = unanswering_pagerduty.getsockname()[1]
    env = {
        "MEDIC_PAGERDUTY__ENABLED": "true",
        "MEDIC_PAGERDUTY__EVENTS_URL": f"https://127.0.0.1:{port}",
        "MEDIC_PAGERDUTY__API_URL": f"https://127.0.0.1:{port}",
        "MEDIC_PAGERDUTY__API_TOKEN": "pd-token",
        "MEDIC_PAGERDUTY__FROM_EMAIL": "medic@example.com",
        "MEDIC_PAGERDUTY__ROUTING_KEY": "R0UT1NGKEY00000000000000000000d4",
    }
    held: list[socket.socket] = []
    medic = _medic(tmp_path, sqlite_url, ESCALATE, **env)
    with medic.start():
        payload = am_payload(am_alert("fp1", alertname="Tell"))
        assert post_json(f"{medic.url}/webhooks/alertmanager", payload, bearer())[0] == 200
        wait_until(lambda: held.extend(_drain(unanswering_pagerduty)) or held, WAIT_S, "a page")
        paging = get_json(f"{medic.url}/api/incidents/INC-1")
        medic.kill()
        held += _drain(unanswering_pagerduty)
        medic.start()
        run = wait_until(
            lambda: (r := _runs(medic.url)[0])["status"] == "interrupted" and r,
            WAIT_S,
            "the run interrupted",
        )
        timeline = get_json(f"{medic.url}/api/incidents/INC-1")["timeline"]
        again = _drain(unanswering_pagerduty)
    for connection in held + again:
        connection.close()
    assert [s["status"] for s in paging["runs"][0]["steps"]] == ["running"]
    assert [t["kind"] for t in paging["timeline"]].count("pagerduty.paging") == 1
    assert [(s["id"], s["status"]) for s in run["steps"]] == [("escalate", "interrupted")]
    assert again == []
    assert [t for t in timeline if "ESCALATED" in t["text"]] == []
