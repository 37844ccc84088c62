"""Safety: pause switch, rate limits into four-eyes consent, cooldowns, one run
per target, max concurrent runs; and how playbook priority and fallback pick the incident."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.actions.cluster import NodeCounts
from bot.clock import ManualClock

from enginekit import (
    HOLD_GATE,
    HOLD_REGISTRY,
    RecordingNarrator,
    api,
    decide,
    detail,
    write_playbooks,
)
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import BASE_TIME, am_alert, am_payload

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

RESTART = """
name: restart
match: ['alertname="Down"']
group_by: [service]
target: "deployment/prod/{{ labels.get('target', labels.service) }}"
cooldown: 30m
steps:
  - id: evidence
    uses: prometheus.query
    with: {query: up}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "{{ labels.service }}"}
"""

HOLD = """
name: hold
match: ['alertname="Hold"']
group_by: [service]
target: "deployment/prod/shared"
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: shared}
"""


async def _start(
    start_medic: StartMedic, url: str, tmp_path: Path, **settings: Any
) -> tuple[Any, RecordingNarrator, ManualClock]:
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    playbooks = settings.pop("playbooks", {"restart": RESTART, "hold": HOLD})
    config = make_settings(
        url,
        # flap_window 0s: each episode of an alert is its own incident (test_flapping.py)
        playbooks={
            "dirs": [str(write_playbooks(tmp_path / "pb", **playbooks))],
            "flap_window": "0s",
        },
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"], "admins": ["ADMIN"]},
        **settings,
    )
    return await start_medic(config, clock=clock, narrators=[narrator]), narrator, clock


async def _fire(client: Any, fingerprint: str, alertname: str = "Down", **labels: str) -> None:
    payload = am_payload(am_alert(fingerprint, alertname=alertname, **labels))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200


async def _switch(client: Any, action: str, user: str = "ADMIN") -> tuple[int, Any]:
    response = await client.post(
        f"/api/{action}", json={"user": user, "reason": "deploy freeze"}, headers=api()
    )
    return response.status, await response.json()


async def test_pause_holds_write_steps_and_resume_continues(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Paused: evidence still runs, the write step waits with its run ``paused``; resuming
    continues it."""
    client, narrator, _ = await _start(start_medic, store_url, tmp_path)
    assert await _switch(client, "pause") == (
        200,
        {"paused": True, "reason": "paused by ADMIN: deploy freeze"},
    )
    await _fire(client, "fp1", service="api")
    await narrator.run_end("RUN-1", "paused")
    run = (await detail(client))["runs"][0]
    assert (run["status"], [s["id"] for s in run["steps"]]) == ("paused", ["evidence"])
    assert (await _switch(client, "resume"))[1]["paused"] is False
    await narrator.run_end("RUN-1", "succeeded")
    timeline = [t["kind"] for t in (await detail(client))["timeline"]]
    assert "step.succeeded" in timeline


@pytest.mark.parametrize(
    ("user", "token", "status"),
    [("U1", API_TOKEN, 403), ("ADMIN", "wrong", 401)],
    ids=["not-admin", "bad-token"],
)
async def test_pause_needs_an_admin_and_the_token(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, user: str, token: str, status: int
) -> None:
    """Only ``slack.admins`` with the API token may pause."""
    client, _, _ = await _start(start_medic, sqlite_url, tmp_path)
    response = await client.post(
        "/api/pause", json={"user": user, "reason": "x"}, headers=api(token)
    )
    assert response.status == status


async def test_configured_pause_cannot_be_lifted_by_api(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """``safety.paused: true`` holds runs; ``/api/resume`` answers 409 naming the key."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, safety={"paused": True})
    await _fire(client, "fp1", service="api")
    await narrator.run_end("RUN-1", "paused")
    status, body = await _switch(client, "resume")
    assert (status, body["error"]) == (409, "conflict")
    assert "safety.paused" in body["detail"]


async def test_pause_survives_a_restart(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """The pause is durable: a restarted Medic is still paused."""
    client, _, _ = await _start(start_medic, sqlite_url, tmp_path)
    await _switch(client, "pause")
    await client.close()
    again, narrator, _ = await _start(start_medic, sqlite_url, tmp_path / "second")
    await _fire(again, "fp1", service="api")
    await narrator.run_end("RUN-1", "paused")


async def test_rate_limit_turns_the_step_into_a_four_eyes_consent(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Over ``safety.limits`` the write step does not run on its own: it asks a four-eyes
    consent saying which limit tripped, and runs once two approvers agree."""
    limits = {"kubernetes.restart": {"max": 1, "per": "1h"}}
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path, safety={"limits": limits})
    await _fire(client, "fp1", service="api")
    await narrator.run_end("RUN-1", "succeeded")
    await _fire(client, "fp2", service="web")
    requested = await narrator.wait_for("approval_requested")
    assert (requested.mode, requested.required) == ("consent", 2)
    assert requested.reason == (
        "limit kubernetes.restart: 1 in the last 1h (max 1; dry runs count against dry runs)"
    )
    await decide(client, requested.approval_id, "U1", "approve")
    await decide(client, requested.approval_id, "U2", "approve")
    await narrator.run_end("RUN-2", "succeeded")
    run = (await detail(client, "INC-2"))["runs"][0]
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("evidence", "succeeded"),
        ("restart", "succeeded"),
    ]


async def test_cooldown_skips_then_expires(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Within ``cooldown`` of a run on the same target a new run is ``skipped``; after it,
    the playbook runs again."""
    client, narrator, clock = await _start(start_medic, sqlite_url, tmp_path)
    await _fire(client, "fp1", service="api")
    await narrator.run_end("RUN-1", "succeeded")
    ended = am_alert("fp1", alertname="Down", status="resolved", service="api", ends_at=BASE_TIME)
    await client.post(URL, json=am_payload(ended), headers=bearer())
    later = BASE_TIME + timedelta(minutes=10)
    await client.post(
        URL,
        json=am_payload(am_alert("fp1", alertname="Down", service="api", starts_at=later)),
        headers=bearer(),
    )
    skipped = await narrator.run_end("RUN-2")
    assert (skipped.status, skipped.detail.split(":")[0]) == ("skipped", "cooldown")
    resolved = am_alert(
        "fp1", alertname="Down", status="resolved", service="api", starts_at=later, ends_at=later
    )
    await client.post(URL, json=am_payload(resolved), headers=bearer())
    clock.advance(timedelta(minutes=31))
    latest = BASE_TIME + timedelta(hours=1)
    await client.post(
        URL,
        json=am_payload(am_alert("fp1", alertname="Down", service="api", starts_at=latest)),
        headers=bearer(),
    )
    await narrator.run_end("RUN-3", "succeeded")


async def test_one_run_per_target(start_medic: StartMedic, sqlite_url: str, tmp_path: Path) -> None:
    """While a run holds a target (here: waiting for approval) another run on the same
    target is ``skipped`` with the holder named."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path)
    await _fire(client, "fp1", alertname="Hold", service="a")
    await narrator.wait_for("approval_requested")
    await _fire(client, "fp2", alertname="Hold", service="b")
    skipped = await narrator.run_end("RUN-2")
    assert (skipped.status, skipped.detail) == (
        "skipped",
        "deployment/prod/shared is locked by RUN-1",
    )


SLOW = """
name: slow
match: ['alertname="Slow"']
group_by: [service]
target: "t/{{ labels.service }}"
steps:
  - id: hold
    uses: test.hold
    with: {name: "{{ labels.service }}"}
"""


async def test_max_concurrent_runs_limits_executing_runs(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """With ``max_concurrent_runs: 1`` a second run stays ``pending`` while the first
    executes a step, and runs once it is done."""
    HOLD_GATE["release"] = asyncio.Event()
    narrator = RecordingNarrator()
    config = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", slow=SLOW))]},
        safety={"max_concurrent_runs": 1},
    )
    client = await start_medic(config, narrators=[narrator], registry=HOLD_REGISTRY)
    await _fire(client, "fp1", alertname="Slow", service="a")
    await narrator.wait_for("step_started", lambda e: e.run_id == "RUN-1")
    await _fire(client, "fp2", alertname="Slow", service="b")
    assert (await detail(client, "INC-2"))["runs"][0]["status"] == "pending"
    HOLD_GATE["release"].set()
    await narrator.run_end("RUN-1", "succeeded")
    await narrator.run_end("RUN-2", "succeeded")


async def test_waiting_for_a_human_frees_the_slot(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A run waiting on an approval does not hold its slot: with ``max_concurrent_runs: 1``
    another run still gathers evidence and reaches its own approval."""
    hold_pb = HOLD.replace('target: "deployment/prod/shared"', 'target: "t/{{ labels.service }}"')
    client, narrator, _ = await _start(
        start_medic,
        sqlite_url,
        tmp_path,
        playbooks={"hold": hold_pb},
        safety={"max_concurrent_runs": 1},
    )
    await _fire(client, "fp1", alertname="Hold", service="a")
    await narrator.wait_for("approval_requested", lambda e: e.run_id == "RUN-1")
    await _fire(client, "fp2", alertname="Hold", service="b")
    second = await narrator.wait_for("approval_requested", lambda e: e.run_id == "RUN-2")
    assert second.incident_id == "INC-2"


WIDE = """
name: wide
priority: 5
match: ['team="sre"']
group_by: [team]
steps:
  - {id: note, uses: incident.note, with: {text: wide}}
"""
NARROW = """
name: narrow
priority: 50
match: ['team="sre"', 'alertname=~"Disk.*"']
group_by: [instance]
severity: sev2
steps:
  - {id: note, uses: incident.note, with: {text: narrow}}
"""
CATCH_ALL = """
name: catch-all
fallback: true
match: ['severity=~"critical|emergency"']
group_by: [alertname]
steps:
  - {id: note, uses: incident.note, with: {text: nothing else matched}}
"""


@pytest.mark.parametrize(
    ("alerts", "incidents"),
    [
        (
            [
                ("f1", "DiskFull", {"team": "sre", "instance": "a"}),
                ("f2", "DiskSlow", {"team": "sre", "instance": "a"}),
            ],
            [("sev2", ["narrow", "wide"], 2)],
        ),
        (
            [
                ("f1", "DiskFull", {"team": "sre", "instance": "a"}),
                ("f2", "DiskFull", {"team": "sre", "instance": "b"}),
            ],
            [("sev2", ["narrow", "wide"], 1), ("sev2", ["narrow", "wide"], 1)],
        ),
        (
            [("f1", "CpuHot", {"team": "sre"}), ("f2", "MemHot", {"team": "sre"})],
            [("sev3", ["wide"], 2)],
        ),
        ([("f1", "Unknown", {"team": "db"})], [("sev3", ["catch-all"], 1)]),
    ],
    ids=["leader-key-joins", "leader-key-splits", "only-wide", "fallback"],
)
async def test_priority_and_fallback_choose_the_incident(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    alerts: list[tuple[str, str, dict[str, str]]],
    incidents: list[tuple[str, list[str], int]],
) -> None:
    """Every matching playbook runs; the highest priority fixes the incident key (its
    group_by) and severity; fallback playbooks run only when nothing else matched."""
    client, _, _ = await _start(
        start_medic,
        sqlite_url,
        tmp_path,
        playbooks={"wide": WIDE, "narrow": NARROW, "catch_all": CATCH_ALL},
    )
    for fingerprint, name, labels in alerts:
        await _fire(client, fingerprint, alertname=name, **labels)
    listing = (await (await client.get("/api/incidents")).json())["incidents"]
    found = [(i["severity"], sorted(i["playbooks"]), i["alert_count"]) for i in reversed(listing)]
    assert found == incidents


class FixedCluster:
    """A cluster view reporting fixed node counts (what the Kubernetes integration reads)."""

    def __init__(self, total: int, cordoned: int, *already: str) -> None:
        self.counts = NodeCounts(total=total, cordoned=cordoned, cordoned_nodes=frozenset(already))

    async def node_counts(self) -> NodeCounts | None:
        """The fixed counts."""
        return self.counts


CORDON = """
name: cordon
match: ['alertname="NodeBad"']
group_by: [node]
steps:
  - id: cordon
    uses: kubernetes.cordon
    with: {node: "{{ labels.node }}"}
"""


@pytest.mark.parametrize(
    ("cordoned", "already", "reason"),
    [
        (1, (), None),
        (2, (), "max_cordoned_fraction 0.2: 3 of 10 nodes would be cordoned"),
        (2, ("worker-1",), None),
        (2, ("worker-2",), "max_cordoned_fraction 0.2: 3 of 10 nodes would be cordoned"),
    ],
    ids=["within", "over", "node-already-cordoned", "another-node-cordoned"],
)
async def test_max_cordoned_fraction_turns_cordon_into_consent(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    cordoned: int,
    already: tuple[str, ...],
    reason: str | None,
) -> None:
    """A cordon that would leave more than ``max_cordoned_fraction`` of the nodes cordoned
    asks a four-eyes consent naming the guard; within the fraction it just runs. Cordoning
    a node that is cordoned already (a drain after its cordon) adds no node: it runs."""
    narrator = RecordingNarrator()
    config = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", cordon=CORDON))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"]},
    )
    client = await start_medic(
        config, narrators=[narrator], cluster=FixedCluster(10, cordoned, *already)
    )
    await _fire(client, "fp1", alertname="NodeBad", node="worker-1")
    first = await narrator.wait_for("approval_requested" if reason else "run_finished")
    assert getattr(first, "reason", None) == reason


CORDON_ANY = """
name: cordon-any
match: ['alertname="NodeBad"']
group_by: [node]
target: "node/{{ labels.node }}"
steps:
  - id: cordon
    uses: kubernetes.cordon
    with: {node: "{{ labels.node }}"}
"""


async def test_concurrent_runs_cannot_slip_under_a_limit(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Six runs cordoning at once against ``kubernetes.cordon: max 2 per 1h``: two run on
    their own, the other four each ask a four-eyes consent."""
    client, narrator, _ = await _start(
        start_medic, store_url, tmp_path, playbooks={"cordon_any": CORDON_ANY}
    )
    alerts = [am_alert(f"fp{n}", alertname="NodeBad", node=f"n{n}") for n in range(6)]
    assert (await client.post(URL, json=am_payload(*alerts), headers=bearer())).status == 200
    for n in range(4):
        await narrator.wait_for(
            "approval_requested", lambda e, k=n: len(narrator.of("approval_requested")) > k
        )
    ran = [e.run_id for e in narrator.of("step_finished") if e.status == "succeeded"]
    assert len(ran) == 2
    assert len(narrator.of("approval_requested")) == 4


async def test_run_cancelled_while_paused_does_not_write_on_resume(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Paused before a write step, the incident resolves (run aborted); resuming must not
    run the write step."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path)
    await _switch(client, "pause")
    await _fire(client, "fp1", service="api")
    await narrator.run_end("RUN-1", "paused")
    resolved = am_alert(
        "fp1", alertname="Down", status="resolved", service="api", ends_at=BASE_TIME
    )
    await client.post(URL, json=am_payload(resolved), headers=bearer())
    await narrator.run_end("RUN-1", "aborted")
    await _switch(client, "resume")
    finished = await narrator.wait_for("step_finished", lambda e: e.step_id == "restart")
    assert (finished.status, finished.error) == ("aborted", "the run ended while this step waited")
    run = (await detail(client))["runs"][0]
    assert (run["status"], run["steps"][-1]["status"]) == ("aborted", "aborted")
