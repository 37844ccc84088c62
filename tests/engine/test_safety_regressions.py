"""The safety promises an on-call team relies on, each pinned by the
observation that once broke it: the pause after a limit consent, pages while
paused, failed attempts counting toward limits, dry runs counting only against dry runs,
``four_eyes`` with ``veto``, and no escalation after resolution."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.actions import ActionKind, ActionParams, ActionRegistry, ActionSpec, StepContext
from bot.actions import StepResult as Result
from bot.cli import main
from bot.clock import ManualClock
from bot.errors import PermanentError
from bot.integrations import action_registry

from enginekit import RecordingNarrator, api, decide, detail, write_playbooks
from fakes.pagerduty import FakePagerDuty
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from pagerdutykit import PD_TOKEN, ROUTING_KEY
from payloads import BASE_TIME, am_alert, am_payload

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

RESTART = """
name: restart
match: ['alertname="Down"']
group_by: [service]
target: "deployment/prod/{{ labels.service }}"
steps:
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "{{ labels.service }}"}
"""


async def _medic(
    start_medic: StartMedic,
    store_url: str,
    tmp_path: Path,
    playbooks: dict[str, str],
    registry: ActionRegistry | None = None,
    **settings: Any,
) -> tuple[Any, RecordingNarrator]:
    narrator = RecordingNarrator()
    config = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", **playbooks))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"], "admins": ["ADMIN"]},
        **settings,
    )
    client = await start_medic(
        config, clock=ManualClock(START), narrators=[narrator], registry=registry
    )
    return client, narrator


async def _fire(client: Any, fingerprint: str, alertname: str = "Down", **labels: str) -> None:
    payload = am_payload(am_alert(fingerprint, alertname=alertname, **labels))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200


async def _switch(client: Any, action: str) -> int:
    response = await client.post(
        f"/api/{action}", json={"user": "ADMIN", "reason": "freeze"}, headers=api()
    )
    return response.status


def _steps(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["id"], s["status"]) for s in run["steps"]]


async def test_pause_holds_a_write_step_whose_limit_consent_was_approved(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Observation 1: a write step over its limit asks a four-eyes consent; Medic is paused;
    both approvers approve. The step must not start: the run waits ``paused`` and the step
    runs only after the resume. (Seen failing: it started right after the approvals.)"""
    limits = {"kubernetes.restart": {"max": 0, "per": "1h"}}
    client, narrator = await _medic(
        start_medic, store_url, tmp_path, {"restart": RESTART}, safety={"limits": limits}
    )
    await _fire(client, "fp1", service="api")
    consent = await narrator.wait_for("approval_requested")
    assert await _switch(client, "pause") == 200
    await decide(client, consent.approval_id, "U1", "approve")
    await decide(client, consent.approval_id, "U2", "approve")
    await narrator.run_end("RUN-1", "paused")
    held = (await detail(client))["runs"][0]
    assert await _switch(client, "resume") == 200
    await narrator.run_end("RUN-1", "succeeded")
    assert (held["status"], _steps(held)) == ("paused", [])
    assert _steps((await detail(client))["runs"][0]) == [("restart", "succeeded")]


PAGE_THEN_CORDON = """
name: byzantine
match: ['alertname="Byzantine"']
target: "node/{{ labels.node }}"
steps:
  - id: page
    uses: pagerduty.page
    with: {summary: "Byzantine node {{ labels.node }}", severity: critical}
  - id: tell
    uses: incident.escalate
    with: {reason: "byzantine node {{ labels.node }}"}
  - id: cordon
    uses: kubernetes.cordon
    with: {node: "{{ labels.node }}"}
"""


async def test_a_paused_medic_still_pages(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, pagerduty: FakePagerDuty
) -> None:
    """Observation 3: paused, Medic still pages (``pagerduty.page`` and ``incident.escalate``
    are ``notify``) and holds the write step (the cordon) until resumed. (Seen failing: the
    page counted as a write and waited with the cordon.)"""
    narrator = RecordingNarrator()
    config = make_settings(
        sqlite_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", byzantine=PAGE_THEN_CORDON))]},
        server={"api_token": API_TOKEN},
        slack={"admins": ["ADMIN"]},
        pagerduty={
            "enabled": True,
            "api_url": pagerduty.url,
            "events_url": pagerduty.url,
            "api_token": PD_TOKEN,
            "from_email": "medic@example.com",
            "routing_key": ROUTING_KEY,
        },
    )
    client = await start_medic(config, narrators=[narrator], tls=pagerduty.client_tls())
    assert await _switch(client, "pause") == 200
    await _fire(client, "fp1", alertname="Byzantine", node="n1")
    await narrator.run_end("RUN-1", "paused")
    run = (await detail(client))["runs"][0]
    triggers = [r.json["event_action"] for r in pagerduty.requests if r.path == "/v2/enqueue"]
    assert _steps(run) == [("page", "succeeded"), ("tell", "succeeded")]
    assert run["steps"][0]["dry_run"] is False
    assert triggers == ["trigger", "trigger"]


class FailParams(ActionParams):
    """``test.fail``: a write that reaches the world and then fails."""

    what: str


TOUCHED: list[str] = []


async def fail(ctx: StepContext, params: FailParams) -> Result:
    """Record the attempt (it reached the world), then fail."""
    TOUCHED.append(params.what)
    raise PermanentError(f"{params.what} timed out after evicting pods")


async def touch(ctx: StepContext, params: FailParams) -> Result:
    """A write of the tests' own that honours ``ctx.dry_run``."""
    if not ctx.dry_run:
        TOUCHED.append(params.what)
    return Result(output={"touched": params.what}, dry_run=ctx.dry_run)


FAIL_REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.fail", ActionKind.WRITE, FailParams, fail, None, None),
        ActionSpec("test.touch", ActionKind.WRITE, FailParams, touch, None, None),
    ]
)
FAILING = """
name: failing
match: ['alertname="Drain"']
group_by: [node]
target: "node/{{ labels.node }}"
steps:
  - id: drain
    uses: test.fail
    with: {what: "drain {{ labels.node }}"}
"""


async def test_failed_attempts_count_toward_limits(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Observation 4: with a limit of 1 per hour, a write that failed (after it may have
    acted) counts: the next one asks a four-eyes consent instead of running. (Seen
    failing: failed attempts were not counted, four ran in a row.)"""
    TOUCHED.clear()
    client, narrator = await _medic(
        start_medic,
        store_url,
        tmp_path,
        {"failing": FAILING},
        registry=FAIL_REGISTRY,
        safety={"limits": {"test.fail": {"max": 1, "per": "1h"}}},
    )
    await _fire(client, "fp1", alertname="Drain", node="n1")
    await narrator.run_end("RUN-1", "failed")
    await _fire(client, "fp2", alertname="Drain", node="n2")
    consent = await narrator.wait_for("approval_requested")
    assert (consent.required, TOUCHED) == (2, ["drain n1"])
    assert consent.reason.startswith("limit test.fail: 1 in the last 1h (max 1")


async def test_dry_runs_count_only_against_dry_runs(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A dry-run write (a demo's) uses up ``max: 1`` for dry runs only: after restarting
    Medic with ``safety.dry_run: false`` on the same store, the first real one runs on its
    own. (Seen failing: the dry run counted, and the real one asked four eyes.)"""
    TOUCHED.clear()
    limits = {"test.touch": {"max": 1, "per": "1h"}}
    playbook = {"touching": FAILING.replace("test.fail", "test.touch")}
    demo, narrator = await _medic(
        start_medic, sqlite_url, tmp_path, playbook, FAIL_REGISTRY, safety={"limits": limits}
    )
    await _fire(demo, "fp1", alertname="Drain", node="n1")
    await narrator.run_end("RUN-1", "succeeded")
    await demo.close()
    real, narrator = await _medic(
        start_medic,
        sqlite_url,
        tmp_path / "real",
        playbook,
        FAIL_REGISTRY,
        safety={"limits": limits, "dry_run": False},
    )
    await _fire(real, "fp2", alertname="Drain", node="n2")
    await narrator.run_end("RUN-2", "succeeded")
    assert (narrator.of("approval_requested"), TOUCHED) == ([], ["drain n2"])


VETO_FOUR_EYES = """
name: unwatched
match: ['alertname="X"']
steps:
  - id: approve
    uses: approval
    with: {mode: veto, timeout: 30s, four_eyes: true}
"""


def test_four_eyes_with_veto_is_refused_when_playbooks_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Observation 5: ``four_eyes: true`` on a ``veto`` approval is refused by ``medic check``
    as ``file:line: key: reason`` (a veto passes with nobody deciding). (Seen failing: it
    was accepted and later ran "approved by medic".)"""
    directory = write_playbooks(tmp_path / "pb", unwatched=VETO_FOUR_EYES)
    assert main(["check", str(directory)]) == 1
    assert f"{directory}/unwatched.yaml:7: steps.0.with: four_eyes needs mode: consent" in (
        capsys.readouterr().err
    )


class WaitParams(ActionParams):
    """``test.verify``: a verification that polls until released, then fails."""

    name: str


VERIFY_STARTED: dict[str, asyncio.Event] = {}
VERIFY_RELEASE: dict[str, asyncio.Event] = {}


async def verify(ctx: StepContext, params: WaitParams) -> Result:
    """Poll (wait) until released, then fail like a verification that timed out."""
    VERIFY_STARTED["started"].set()
    await VERIFY_RELEASE["release"].wait()
    raise PermanentError("availability stayed below 0.999")


VERIFY_REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.verify", ActionKind.READ, WaitParams, verify, None, None),
    ]
)
ROLLBACK = """
name: rollback
match: ['alertname="SLA"']
target: "deployment/prod/api"
steps:
  - id: verify
    uses: test.verify
    with: {name: api}
    on_failure: escalate
"""


async def test_no_escalation_after_resolution(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Observation 7: a verification in flight when its incident resolves stops; the run
    ends ``aborted`` and nothing is escalated, even if the verification would have failed.
    (Seen failing: it kept polling, failed, and escalated the resolved incident.)"""
    VERIFY_STARTED["started"] = asyncio.Event()
    VERIFY_RELEASE["release"] = asyncio.Event()
    client, narrator = await _medic(
        start_medic, store_url, tmp_path, {"rollback": ROLLBACK}, registry=VERIFY_REGISTRY
    )
    await _fire(client, "fp1", alertname="SLA")
    await VERIFY_STARTED["started"].wait()
    resolved = am_alert("fp1", alertname="SLA", status="resolved", ends_at=BASE_TIME)
    await client.post(URL, json=am_payload(resolved), headers=bearer())
    await narrator.run_end("RUN-1", "aborted")
    finished = await narrator.wait_for("step_finished", lambda e: e.step_id == "verify")
    VERIFY_RELEASE["release"].set()
    body = await detail(client)
    assert (finished.status, body["runs"][0]["status"]) == ("aborted", "aborted")
    assert [t["text"] for t in body["timeline"] if "ESCALATED" in t["text"]] == []


async def hold(ctx: StepContext, params: WaitParams) -> Result:
    """Wait until released, then succeed (a long notify step)."""
    VERIFY_STARTED["started"].set()
    await VERIFY_RELEASE["release"].wait()
    return Result(output={}, summary=f"told {params.name}")


HOLD_REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.hold", ActionKind.NOTIFY, WaitParams, hold, None, None),
    ]
)
TELL_THEN_ESCALATE = """
name: tell
match: ['alertname="SLA"']
on_resolved: continue
steps:
  - id: tell
    uses: test.hold
    with: {name: api}
  - id: escalate
    uses: incident.escalate
    with: {reason: "still down"}
"""


async def test_an_escalate_step_after_resolution_says_it_did_not_escalate(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """A run that goes on after its incident resolved (``on_resolved: continue``) reaches
    ``incident.escalate``: nobody is paged, and the step's timeline line says so instead of
    "ESCALATED: …" (seen failing: it read "escalate (incident.escalate) succeeded:
    ESCALATED: still down" for a resolved incident nobody escalated)."""
    VERIFY_STARTED["started"] = asyncio.Event()
    VERIFY_RELEASE["release"] = asyncio.Event()
    client, narrator = await _medic(
        start_medic, store_url, tmp_path, {"tell": TELL_THEN_ESCALATE}, registry=HOLD_REGISTRY
    )
    await _fire(client, "fp1", alertname="SLA")
    await VERIFY_STARTED["started"].wait()
    resolved = am_alert("fp1", alertname="SLA", status="resolved", ends_at=BASE_TIME)
    await client.post(URL, json=am_payload(resolved), headers=bearer())
    await narrator.wait_for("incident", lambda c: c.status == "resolved")
    VERIFY_RELEASE["release"].set()
    await narrator.run_end("RUN-1", "succeeded")
    body = await detail(client)
    texts = [t["text"] for t in body["timeline"]]
    assert [t for t in texts if "ESCALATED" in t] == []
    assert any("not escalated: the incident is already resolved" in t for t in texts)
