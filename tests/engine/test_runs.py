"""Runs and steps: matching starts runs, every transition is committed,
``when``/``unless``, ``then: stop``, ``on_failure``, dry runs of disabled integrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginekit import RecordingNarrator, detail, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"

RESTART = """
name: restart-svc
priority: 10
match: ['alertname="SvcDown"']
group_by: [service]
severity: sev2
target: "deployment/prod/{{ labels.service }}"
steps:
  - id: evidence
    uses: prometheus.query
    with: {query: 'up{job={{ labels.service | promql }}}'}
  - id: note
    uses: incident.note
    with: {text: "restarting {{ labels.service }} ({{ incident.id }})"}
    unless: 'labels.get("skip_note", "") == "yes"'
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "{{ labels.service }}"}
    when: 'labels.service != "frozen"'
    then: stop
  - id: never
    uses: incident.escalate
    with: {reason: "then: stop did not stop"}
"""

OBSERVE = """
name: observe
priority: 1
match: ['alertname="SvcDown"']
group_by: [service]
steps:
  - id: look
    uses: prometheus.query
    with: {query: 'up'}
"""

FAILING = """
name: failing
match: ['alertname="Broken"']
steps:
  - id: bad
    uses: incident.note
    with: {text: "{{ labels.missing_label }}"}
    on_failure: {on_failure}
  - id: after
    uses: incident.note
    with: {text: "after the failure"}
"""


def _settings(tmp_path: Path, store_url: str, **playbooks: str) -> Any:
    return make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "playbooks", **playbooks))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"], "admins": ["ADMIN"]},
    )


async def test_matching_alert_runs_its_playbook_with_dry_runs(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """A matching alert opens an incident keyed by the leading playbook and runs every
    matching playbook; disabled integrations record what they would do; ``then: stop``
    ends the run."""
    narrator = RecordingNarrator()
    client = await start_medic(
        _settings(tmp_path, store_url, restart=RESTART, observe=OBSERVE), narrators=[narrator]
    )
    payload = am_payload(am_alert("fp1", alertname="SvcDown", service="api"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    await narrator.run_end("RUN-1", "succeeded")
    await narrator.run_end("RUN-2", "succeeded")
    body = await detail(client)
    assert body["incident"]["severity"] == "sev2"
    assert sorted(body["incident"]["playbooks"]) == ["observe", "restart-svc"]
    runs = {r["playbook"]: r for r in body["runs"]}
    restart = runs["restart-svc"]
    assert (restart["status"], restart["target"], restart["started_by"]) == (
        "succeeded",
        "deployment/prod/api",
        "medic",
    )
    steps = [(s["id"], s["status"], s["dry_run"]) for s in restart["steps"]]
    assert steps == [
        ("evidence", "succeeded", True),
        ("note", "succeeded", False),
        ("restart", "succeeded", True),
    ]
    evidence = restart["steps"][0]["output"]
    assert evidence["params"]["query"] == 'up{job="api"}'
    assert restart["steps"][2]["output"]["would"].startswith("would")
    texts = [t["text"] for t in body["timeline"]]
    assert "restarting api (INC-1)" in texts
    assert body["incident"]["status"] == "open"  # dry runs never make it "mitigating"


@pytest.mark.parametrize(
    ("labels", "statuses"),
    [
        ({"service": "frozen"}, ["succeeded", "succeeded", "skipped", "succeeded"]),
        ({"service": "api", "skip_note": "yes"}, ["succeeded", "skipped", "succeeded"]),
    ],
    ids=["when-false", "unless-true"],
)
async def test_when_and_unless_skip_steps(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    labels: dict[str, str],
    statuses: list[str],
) -> None:
    """A false ``when`` or a true ``unless`` skips the step (a skipped step does not stop)."""
    narrator = RecordingNarrator()
    client = await start_medic(
        _settings(tmp_path, sqlite_url, restart=RESTART), narrators=[narrator]
    )
    payload = am_payload(am_alert("fp1", alertname="SvcDown", **labels))
    await client.post(URL, json=payload, headers=bearer())
    await narrator.run_end("RUN-1")
    (run,) = (await detail(client))["runs"]
    assert [s["status"] for s in run["steps"]] == statuses


@pytest.mark.parametrize(
    ("on_failure", "run_status", "after", "escalated"),
    [
        ("abort", "failed", [], False),
        ("continue", "succeeded", ["succeeded"], False),
        ("escalate", "failed", [], True),
    ],
)
async def test_on_failure(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    on_failure: str,
    run_status: str,
    after: list[str],
    escalated: bool,
) -> None:
    """An undefined template name fails its step with a clear error; ``on_failure`` decides:
    abort fails the run, continue goes on, escalate escalates loudly and fails the run."""
    narrator = RecordingNarrator()
    playbook = FAILING.replace("{on_failure}", on_failure)
    client = await start_medic(
        _settings(tmp_path, sqlite_url, failing=playbook), narrators=[narrator]
    )
    await client.post(URL, json=am_payload(am_alert("fp1", alertname="Broken")), headers=bearer())
    await narrator.run_end("RUN-1")
    body = await detail(client)
    (run,) = body["runs"]
    bad, *rest = run["steps"]
    assert (run["status"], bad["status"]) == (run_status, "failed")
    assert "missing_label" in bad["error"]
    assert [s["status"] for s in rest] == after
    kinds = [t["kind"] for t in body["timeline"]]
    assert ("incident.escalated" in kinds) is escalated


async def test_step_timeout_fails_the_step(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, silent_server: str
) -> None:
    """A step over its ``timeout`` fails with a timeout error (a Prometheus that never answers)."""
    narrator = RecordingNarrator()
    playbook = """
name: slow
match: ['alertname="Slow"']
steps:
  - id: query
    uses: prometheus.query
    with: {query: up}
    timeout: 200ms
"""
    settings = _settings(tmp_path, sqlite_url, slow=playbook).model_copy(
        update={
            "prometheus": make_settings(
                sqlite_url, prometheus={"url": silent_server, "timeout": "60s"}
            ).prometheus
        }
    )
    client = await start_medic(settings, narrators=[narrator])
    await client.post(URL, json=am_payload(am_alert("fp1", alertname="Slow")), headers=bearer())
    end = await narrator.run_end("RUN-1")
    (run,) = (await detail(client))["runs"]
    assert (end.status, run["steps"][0]["status"]) == ("failed", "failed")
    assert "timed out" in run["steps"][0]["error"]


async def test_one_run_per_playbook_per_incident(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """More alerts joining the incident do not start the same playbook again."""
    narrator = RecordingNarrator()
    client = await start_medic(
        _settings(tmp_path, sqlite_url, observe=OBSERVE), narrators=[narrator]
    )
    for fingerprint in ("fp1", "fp2", "fp3"):
        payload = am_payload(am_alert(fingerprint, alertname="SvcDown", service="api"))
        await client.post(URL, json=payload, headers=bearer())
    await narrator.run_end("RUN-1")
    body = await detail(client)
    assert (body["incident"]["alert_count"], len(body["runs"])) == (3, 1)
