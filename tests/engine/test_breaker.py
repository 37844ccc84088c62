"""The ineffective-remediation breaker: after ``safety.ineffective_runs.max``
runs of one playbook on one target failed in a row after trying a write step, within
``per``, the playbook's write steps stop running automatically on that target; the first
held step escalates with the history, each held step says so in its incident and in
``/metrics``; a human's run is never held, and a run that works closes the breaker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enginekit import RecordingNarrator, api, detail, write_playbooks
from fakes.prometheus import FakePrometheus
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import BASE_TIME, am_alert, am_payload

URL = "/webhooks/alertmanager"

# A restart (a write: a dry run here, Kubernetes is disabled) verified by `up == 1` within a
# second: the fake Prometheus says whether the remediation worked.
FIX = """
name: fix
match: ['alertname="Broken"']
group_by: [service]
target: "deployment/prod/{{ labels.service }}"
steps:
  - id: look
    uses: incident.note
    with: {text: "looking at {{ labels.service }}"}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "{{ labels.service }}"}
  - id: verify
    uses: prometheus.wait
    with: {query: 'up{job={{ labels.service | promql }}}', condition: "== 1", timeout: 1s,
           interval: 100ms}
    on_failure: escalate
"""


async def _start(
    start_medic: StartMedic, store_url: str, tmp_path: Path, prometheus: FakePrometheus
) -> tuple[Any, RecordingNarrator]:
    narrator = RecordingNarrator()
    settings = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", fix=FIX))], "flap_window": "0s"},
        prometheus={"url": prometheus.url},
        safety={"ineffective_runs": {"max": 3, "per": "1d"}},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"]},
    )
    return await start_medic(settings, narrators=[narrator]), narrator


async def _episode(client: Any, narrator: RecordingNarrator, n: int, status: str) -> None:
    """Episode ``n`` of the alert fires (a new incident each time) and its run ends with
    ``status``; then it resolves."""
    starts = BASE_TIME.replace(hour=n)
    alert = am_alert("fp1", alertname="Broken", service="api", starts_at=starts)
    assert (await client.post(URL, json=am_payload(alert), headers=bearer())).status == 200
    await narrator.run_end(f"RUN-{n}", status)
    ended = am_alert(
        "fp1", alertname="Broken", service="api", status="resolved", starts_at=starts,
        ends_at=starts.replace(minute=30),
    )  # fmt: skip
    assert (await client.post(URL, json=am_payload(ended), headers=bearer())).status == 200
    await narrator.wait_for("incident", lambda c: c.kind == "resolved" and c.incident_seq == n)


def _steps(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["id"], s["status"]) for s in run["steps"]]


async def test_three_ineffective_runs_hold_the_fourth_and_a_human_run_still_works(
    start_medic: StartMedic, store_url: str, tmp_path: Path, fake_prometheus: FakePrometheus
) -> None:
    """Three runs whose verify step fails (``up`` stays 0): the fourth incident's run
    gathers its evidence, then its restart is held (aborted) and the incident is escalated
    once with the three runs (its report lists the breaker among the action items); the
    fifth is held too, with a note, not a second escalation; /metrics counts both holds; a
    human's ``/incident run`` restarts anyway."""
    fake_prometheus.script("up{", 0)
    client, narrator = await _start(start_medic, store_url, tmp_path, fake_prometheus)
    for n in (1, 2, 3):
        await _episode(client, narrator, n, "failed")
    await _episode(client, narrator, 4, "aborted")
    await _episode(client, narrator, 5, "aborted")

    fourth = await detail(client, "INC-4")
    assert _steps(fourth["runs"][0]) == [("look", "succeeded"), ("restart", "aborted")]
    error = fourth["runs"][0]["steps"][1]["error"]
    assert error.startswith("remediation breaker: fix on deployment/prod/api did not work 3 times")
    assert all(f"RUN-{n} (INC-{n}) failed" in error for n in (1, 2, 3))
    escalations = [t["text"] for t in fourth["timeline"] if t["kind"] == "incident.escalated"]
    assert len(escalations) == 1
    assert "remediation breaker" in escalations[0]
    fifth = await detail(client, "INC-5")
    assert [t["kind"] for t in fifth["timeline"] if "remediation breaker" in t["text"]] == [
        "incident.note",
        "step.aborted",
        "run.aborted",
    ]
    report = await (await client.get("/api/incidents/INC-4/report")).text()
    assert "Remediation breaker open for fix on deployment/prod/api: its automatic" in report
    metrics = await (await client.get("/metrics")).text()
    assert 'medic_remediation_breaker_holds_total{playbook="fix"} 2.0' in metrics

    response = await client.post(
        "/api/incidents/INC-5/runs", json={"playbook": "fix", "user": "U1"}, headers=api()
    )
    assert response.status == 201, await response.text()
    await narrator.run_end("RUN-6", "failed")
    manual = (await detail(client, "INC-5"))["runs"][1]
    assert _steps(manual) == [("look", "succeeded"), ("restart", "succeeded"), ("verify", "failed")]


async def test_a_run_that_works_resets_the_count(
    start_medic: StartMedic, store_url: str, tmp_path: Path, fake_prometheus: FakePrometheus
) -> None:
    """Two ineffective runs, one that works (``up`` is 1 again), two ineffective ones: the
    streak since the effective run is two, under the limit, so the sixth run restarts."""
    client, narrator = await _start(start_medic, store_url, tmp_path, fake_prometheus)
    for n, up, status in [(1, 0, "failed"), (2, 0, "failed"), (3, 1, "succeeded"),
                          (4, 0, "failed"), (5, 0, "failed")]:  # fmt: skip
        fake_prometheus.script("up{", up)
        await _episode(client, narrator, n, status)
    await _episode(client, narrator, 6, "failed")

    sixth = await detail(client, "INC-6")
    assert ("restart", "succeeded") in _steps(sixth["runs"][0])
