"""Approvals: veto, consent, timeouts, four eyes, authorization, first
decision wins exactly once; decided through POST /api/approvals/{id}."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock

from enginekit import RecordingNarrator, api, decide, detail, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

GUARDED = """
name: guarded
match: ['alertname="Guarded"']
target: "deployment/prod/api"
steps:
  - id: approve
    uses: approval
    with: {mode: {mode}, timeout: 5m, on_timeout: {on_timeout}, four_eyes: {four_eyes},
           prompt: "Roll back {{ target }}?"}
  - id: rollback
    uses: kubernetes.rollback
    with: {namespace: prod, deployment: api}
"""


def _playbook(mode: str = "consent", on_timeout: str = "reject", four_eyes: str = "false") -> str:
    return (
        GUARDED.replace("{mode}", mode)
        .replace("{on_timeout}", on_timeout)
        .replace("{four_eyes}", four_eyes)
    )


async def _start(
    start_medic: StartMedic, store_url: str, tmp_path: Path, playbook: str, **settings: Any
) -> tuple[Any, RecordingNarrator, ManualClock]:
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    config = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=playbook))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2", "U3"], "admins": ["ADMIN"]},
        **settings,
    )
    client = await start_medic(config, clock=clock, narrators=[narrator])
    return client, narrator, clock


async def _fire(client: Any, narrator: RecordingNarrator) -> str:
    payload = am_payload(am_alert("fp1", alertname="Guarded"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    requested = await narrator.wait_for("approval_requested")
    return str(requested.approval_id)


async def test_consent_approved_runs_the_guarded_step(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Consent waits (run ``waiting_approval``) until an approver approves; then the run goes on."""
    client, narrator, _ = await _start(start_medic, store_url, tmp_path, _playbook())
    approval = await _fire(client, narrator)
    waiting = await detail(client)
    assert waiting["runs"][0]["status"] == "waiting_approval"
    assert [(s["id"], s["status"]) for s in waiting["runs"][0]["steps"]] == [
        ("approve", "waiting_approval")
    ]
    assert await decide(client, approval, "U1", "approve") == (
        200,
        {
            "approval": {
                "id": approval,
                "status": "approved",
                "decided_by": "U1",
                "approvals": 1,
                "required": 1,
            }
        },
    )
    await narrator.run_end("RUN-1", "succeeded")
    run = (await detail(client))["runs"][0]
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("approve", "succeeded"),
        ("rollback", "succeeded"),
    ]
    assert (run["approvals"][0]["status"], run["approvals"][0]["decided_by"]) == ("approved", "U1")


async def test_first_decision_wins_exactly_once(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Concurrent decisions: exactly one is taken, the others get 409."""
    client, narrator, _ = await _start(start_medic, store_url, tmp_path, _playbook())
    approval = await _fire(client, narrator)
    answers = await asyncio.gather(
        decide(client, approval, "U1", "approve"),
        decide(client, approval, "U2", "reject"),
        decide(client, approval, "U3", "approve"),
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 409, 409]
    await narrator.run_end("RUN-1")
    assert len(narrator.of("approval_decided")) == 1


async def test_rejection_aborts_the_run(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Reject: approval ``rejected``, guarded steps never run, run ``aborted``."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, _playbook())
    approval = await _fire(client, narrator)
    status, body = await decide(client, approval, "U2", "reject")
    assert (status, body["approval"]["status"]) == (200, "rejected")
    await narrator.run_end("RUN-1", "aborted")
    run = (await detail(client))["runs"][0]
    assert [(s["id"], s["status"]) for s in run["steps"]] == [("approve", "aborted")]


@pytest.mark.parametrize(
    ("user", "headers", "status", "error"),
    [
        ("intruder", api(), 403, "forbidden"),
        ("U1", api("wrong"), 401, "unauthorized"),
        ("U1", {}, 401, "unauthorized"),
    ],
    ids=["not-an-approver", "wrong-token", "no-token"],
)
async def test_only_authorized_decisions_count(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    user: str,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    """Users outside ``slack.approvers`` and callers without the API token are refused."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, _playbook())
    approval = await _fire(client, narrator)
    response = await client.post(
        f"/api/approvals/{approval}", json={"decision": "approve", "user": user}, headers=headers
    )
    assert (response.status, (await response.json())["error"]) == (status, error)
    assert (await detail(client))["runs"][0]["approvals"][0]["status"] == "pending"


async def test_unknown_approval_and_api_off(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """An unknown approval is 404; with ``server.api_token`` unset the API is 404 too."""
    client, _, _ = await _start(start_medic, sqlite_url, tmp_path, _playbook())
    assert (await decide(client, "APR-77", "U1", "approve"))[0] == 404
    off = await start_medic(make_settings(f"sqlite:///{tmp_path / 'off.db'}"))
    response = await off.post(
        "/api/approvals/APR-1", json={"decision": "approve", "user": "U1"}, headers=api()
    )
    assert (response.status, (await response.json())["error"]) == (404, "not_found")


async def test_veto_proceeds_when_the_window_passes(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Veto: nobody rejects within the window → approved by ``medic``, the run goes on."""
    client, narrator, clock = await _start(start_medic, sqlite_url, tmp_path, _playbook("veto"))
    await _fire(client, narrator)
    clock.advance(timedelta(minutes=5))
    decided = await narrator.wait_for("approval_decided")
    assert (decided.status, decided.decided_by) == ("approved", "medic")
    await narrator.run_end("RUN-1", "succeeded")


async def test_veto_rejected_within_the_window(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Veto: a rejection inside the window stops the run."""
    client, narrator, clock = await _start(start_medic, sqlite_url, tmp_path, _playbook("veto"))
    approval = await _fire(client, narrator)
    assert (await decide(client, approval, "U3", "reject"))[0] == 200
    clock.advance(timedelta(minutes=10))
    await narrator.run_end("RUN-1", "aborted")


async def test_consent_timeout_rejects(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Consent with ``on_timeout: reject``: the window passes → ``expired``, run ``aborted``."""
    client, narrator, clock = await _start(start_medic, sqlite_url, tmp_path, _playbook())
    approval = await _fire(client, narrator)
    clock.advance(timedelta(minutes=5, seconds=1))
    await narrator.run_end("RUN-1", "aborted")
    (item,) = (await detail(client))["runs"][0]["approvals"]
    assert (item["id"], item["status"], item["decided_by"]) == (approval, "expired", None)


async def test_consent_timeout_escalates_and_keeps_waiting(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Consent with ``on_timeout: escalate``: the incident is escalated loudly and the
    approval stays open; a later approval still runs the step."""
    client, narrator, clock = await _start(
        start_medic, sqlite_url, tmp_path, _playbook(on_timeout="escalate")
    )
    approval = await _fire(client, narrator)
    clock.advance(timedelta(minutes=6))
    await narrator.wait_for("incident", lambda c: "ESCALATED" in c.text)
    body = await detail(client)
    assert body["runs"][0]["approvals"][0]["status"] == "pending"
    assert any(t["kind"] == "incident.escalated" for t in body["timeline"])
    assert (await decide(client, approval, "U1", "approve"))[0] == 200
    await narrator.run_end("RUN-1", "succeeded")


async def test_four_eyes_needs_two_different_approvers(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Four eyes on a Medic-started run: the same user twice is refused; a second user
    completes it and ``decided_by`` names both."""
    client, narrator, _ = await _start(
        start_medic, sqlite_url, tmp_path, _playbook(four_eyes="true")
    )
    approval = await _fire(client, narrator)
    first = await decide(client, approval, "U1", "approve")
    assert (first[0], first[1]["approval"]["status"], first[1]["approval"]["required"]) == (
        200,
        "pending",
        2,
    )
    again = await decide(client, approval, "U1", "approve")
    assert (again[0], again[1]["error"]) == (409, "conflict")
    second = await decide(client, approval, "U2", "approve")
    assert (second[1]["approval"]["status"], second[1]["approval"]["decided_by"]) == (
        "approved",
        "U1,U2",
    )
    await narrator.run_end("RUN-1", "succeeded")


async def test_four_eyes_on_a_human_started_run(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Four eyes on a run a human started: that human may not approve; one other approver
    suffices."""
    manual = _playbook(four_eyes="true").replace("match: ['alertname=\"Guarded\"']\n", "")
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, manual)
    payload = am_payload(am_alert("fp1", alertname="Other"))
    await client.post(URL, json=payload, headers=bearer())
    response = await client.post(
        "/api/incidents/INC-1/runs", json={"playbook": "guarded", "user": "U1"}, headers=api()
    )
    assert (response.status, await response.json()) == (201, {"run": "RUN-1"})
    approval = (await narrator.wait_for("approval_requested")).approval_id
    own = await decide(client, approval, "U1", "approve")
    assert (own[0], own[1]["error"]) == (403, "forbidden")
    other = await decide(client, approval, "U2", "approve")
    assert (other[1]["approval"]["status"], other[1]["approval"]["required"]) == ("approved", 1)
    await narrator.run_end("RUN-1", "succeeded")
    run = (await detail(client))["runs"][0]
    assert run["started_by"] == "U1"


async def test_resolution_cancels_pending_approvals(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """``on_resolved: cancel_pending`` (default): the alert resolving cancels the waiting
    approval and aborts the run."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, _playbook())
    await _fire(client, narrator)
    resolved = am_alert("fp1", alertname="Guarded", status="resolved", ends_at=START)
    await client.post(URL, json=am_payload(resolved), headers=bearer())
    await narrator.run_end("RUN-1", "aborted")
    body = await detail(client)
    assert body["incident"]["status"] == "resolved"
    assert body["runs"][0]["approvals"][0]["status"] == "cancelled"


class FixedDirectory:
    """A user-group directory with fixed members (what Slack's usergroups API answers)."""

    async def members(self, group_id: str) -> frozenset[str]:
        """Group S-ONCALL has G1."""
        return frozenset({"G1"}) if group_id == "S-ONCALL" else frozenset()


@pytest.mark.parametrize(
    ("user", "status"), [("G1", 200), ("G2", 403)], ids=["group-member", "not-a-member"]
)
async def test_approver_groups_authorize_their_members(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, user: str, status: int
) -> None:
    """A member of a ``slack.approver_groups`` group may decide; others may not."""
    narrator = RecordingNarrator()
    config = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=_playbook()))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"], "approver_groups": ["S-ONCALL"]},
    )
    client = await start_medic(config, narrators=[narrator], directory=FixedDirectory())
    approval = await _fire(client, narrator)
    assert (await decide(client, approval, user, "approve"))[0] == status


@pytest.mark.parametrize(
    ("user", "status"), [("G1", 201), ("G2", 403)], ids=["group-member", "not-a-member"]
)
async def test_approver_groups_members_start_runs_over_the_api_as_in_slack(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, user: str, status: int
) -> None:
    """Who may start a run is the same on every surface: a member of a
    ``slack.approver_groups`` group may over the API (as with ``/incident run``); others may
    not. (Seen failing: the API checked only the listed approvers and admins, 403.)"""
    narrator = RecordingNarrator()
    config = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=_playbook()))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"], "approver_groups": ["S-ONCALL"]},
    )
    client = await start_medic(config, narrators=[narrator], directory=FixedDirectory())
    await _fire(client, narrator)
    body = {"playbook": "guarded", "user": user}
    response = await client.post("/api/incidents/INC-1/runs", json=body, headers=api())
    assert response.status == status, await response.text()


async def test_double_click_is_one_decision(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """The same approver clicking four times at once: one 200, three 409, never a 500."""
    client, narrator, _ = await _start(
        start_medic, store_url, tmp_path, _playbook(four_eyes="true")
    )
    approval = await _fire(client, narrator)
    answers = await asyncio.gather(*[decide(client, approval, "U1", "approve") for _ in range(4)])
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409]


async def test_two_approvers_at_once_complete_four_eyes(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Two different approvers clicking at the same moment complete a four-eyes approval
    (five approvals, each clicked by both at once)."""
    playbook = (
        _playbook(four_eyes="true")
        .replace(
            "match: ['alertname=\"Guarded\"']", "match: ['alertname=\"Guarded\"']\ngroup_by: [n]"
        )
        .replace('target: "deployment/prod/api"', 'target: "deployment/prod/api-{{ labels.n }}"')
    )
    # Five rollbacks in a row: above the default limit of 3 an hour, which would hold them.
    limits = {"kubernetes.rollback": {"max": 5, "per": "1h"}}
    client, narrator, _ = await _start(
        start_medic, store_url, tmp_path, playbook, safety={"limits": limits}
    )
    alerts = [am_alert(f"fp{n}", alertname="Guarded", n=str(n)) for n in range(5)]
    await client.post(URL, json=am_payload(*alerts), headers=bearer())
    for n in range(5):
        await narrator.wait_for("approval_requested", lambda e, k=n: e.run_id == f"RUN-{k + 1}")
    requested = [e.approval_id for e in narrator.of("approval_requested")]
    await asyncio.gather(
        *[decide(client, a, user, "approve") for a in requested for user in ("U1", "U2")]
    )
    for n in range(5):
        await narrator.run_end(f"RUN-{n + 1}", "succeeded")


TARGETED = """
name: guarded
target: "deployment/{{ labels.namespace }}/{{ labels.deployment }}"
steps:
  - id: note
    uses: incident.note
    with: {text: "acting on {{ target }}"}
"""


@pytest.mark.parametrize(
    ("params", "status", "target"),
    [
        ({}, 201, "deployment/prod/api"),
        ({"deployment": "web"}, 201, "deployment/prod/web"),
    ],
    ids=["incident-labels", "params-override"],
)
async def test_manual_run_renders_its_target_from_the_incident(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    params: dict[str, str],
    status: int,
    target: str,
) -> None:
    """A human starting a targeted playbook: the target comes from the incident's alert
    labels, overridden by the run's params."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, TARGETED)
    alert = am_alert("fp1", alertname="Other", namespace="prod", deployment="api")
    await client.post(URL, json=am_payload(alert), headers=bearer())
    response = await client.post(
        "/api/incidents/INC-1/runs",
        json={"playbook": "guarded", "user": "U1", "params": params},
        headers=api(),
    )
    assert response.status == status
    await narrator.run_end("RUN-1", "succeeded")
    assert (await detail(client))["runs"][0]["target"] == target


async def test_manual_run_without_the_labels_its_target_needs_is_400(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """When neither the incident's labels nor the params give what the target needs: 400."""
    client, _, _ = await _start(start_medic, sqlite_url, tmp_path, TARGETED)
    await client.post(URL, json=am_payload(am_alert("fp1", alertname="Other")), headers=bearer())
    response = await client.post(
        "/api/incidents/INC-1/runs", json={"playbook": "guarded", "user": "U1"}, headers=api()
    )
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_payload")
    assert "give it as a param" in body["detail"]
