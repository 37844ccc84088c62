"""Crash safety: nothing acknowledged is lost; runs resume from their last
committed step; a write step found ``running`` becomes ``interrupted`` and is never re-run;
a read step found ``running`` runs again; journaled alerts not yet processed are taken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.engine.runs.manager
from bot.ingress.alertmanager_models import AlertmanagerWebhook
from bot.models import RunStatus, StepStatus
from bot.runtime import RUNTIME
from bot.store import Database
from bot.store import runs as run_store
from bot.store.journal import insert_alerts

from enginekit import HOLD_GATE, HOLD_REGISTRY, RecordingNarrator, decide, detail, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"
NOW = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)

GUARDED = """
name: guarded
match: ['alertname="Guarded"']
steps:
  - id: evidence
    uses: prometheus.query
    with: {query: up}
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


def _settings(url: str, tmp_path: Path) -> Any:
    return make_settings(
        url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=GUARDED))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"]},
    )


async def _waiting_run(start_medic: StartMedic, url: str, tmp_path: Path) -> str:
    """Start a run that waits on its approval, then stop Medic; returns the approval id."""
    narrator = RecordingNarrator()
    client = await start_medic(_settings(url, tmp_path), narrators=[narrator])
    payload = am_payload(am_alert("fp1", alertname="Guarded"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    approval = str((await narrator.wait_for("approval_requested")).approval_id)
    await client.close()
    return approval


async def test_waiting_run_resumes_after_restart(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """A run waiting for approval survives a restart; approving it then finishes the run
    without repeating the steps already done."""
    approval = await _waiting_run(start_medic, store_url, tmp_path)
    narrator = RecordingNarrator()
    client = await start_medic(_settings(store_url, tmp_path), narrators=[narrator])
    assert (await decide(client, approval, "U1", "approve"))[0] == 200
    await narrator.run_end("RUN-1", "succeeded")
    body = await detail(client)
    kinds = [t["text"].split(" ")[1] for t in body["timeline"] if t["kind"] == "step.succeeded"]
    assert kinds == ["evidence", "approve", "restart"]


async def _leave_running(url: str, run_seq: int, step_id: str, action: str) -> None:
    """What a crash in the middle of a step leaves in the store."""
    db = Database(url)
    async with db.begin() as conn:
        await run_store.save_step(
            conn,
            run_seq=run_seq,
            position=2,
            step_id=step_id,
            action=action,
            status=StepStatus.RUNNING,
            at=NOW,
        )
        await run_store.set_run_status(conn, run_seq, RunStatus.RUNNING, NOW)
    await db.close()


async def test_write_step_found_running_is_interrupted(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """A write step cut off mid-way is marked ``interrupted`` with its run, narrated, and
    never re-run."""
    await _waiting_run(start_medic, store_url, tmp_path)
    await _leave_running(store_url, 1, "restart", "kubernetes.restart")
    narrator = RecordingNarrator()
    client = await start_medic(_settings(store_url, tmp_path), narrators=[narrator])
    ended = await narrator.run_end("RUN-1")
    assert (ended.status, ended.detail.split(":")[0]) == (
        "interrupted",
        "interrupted during restart",
    )
    body = await detail(client)
    (run,) = body["runs"]
    assert run["status"] == "interrupted"
    assert [(s["id"], s["status"]) for s in run["steps"]][-1] == ("restart", "interrupted")
    assert [t["kind"] for t in body["timeline"]].count("run.interrupted") == 1
    assert not [t for t in body["timeline"] if t["text"].startswith("RUN-1 restart (")]


async def test_read_step_found_running_runs_again(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A read step cut off mid-way simply runs again; the run goes on."""
    approval = await _waiting_run(start_medic, sqlite_url, tmp_path)
    await _leave_running(sqlite_url, 1, "evidence", "prometheus.query")
    narrator = RecordingNarrator()
    client = await start_medic(_settings(sqlite_url, tmp_path), narrators=[narrator])
    await narrator.wait_for("step_finished", lambda e: e.step_id == "evidence")
    assert (await decide(client, approval, "U1", "approve"))[0] == 200
    await narrator.run_end("RUN-1", "succeeded")
    body = await detail(client)
    evidence = [
        t
        for t in body["timeline"]
        if t["text"].startswith("RUN-1 evidence (") and t["kind"] == "step.succeeded"
    ]
    assert len(evidence) == 2
    assert [(s["id"], s["status"]) for s in body["runs"][0]["steps"]] == [
        ("evidence", "succeeded"),
        ("approve", "succeeded"),
        ("restart", "succeeded"),
    ]


async def test_unprocessed_alerts_are_taken_on_start(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Alerts journaled (acknowledged) but not yet grouped when Medic died are grouped when
    it starts again."""
    db = Database(store_url)
    await db.create_schema()
    payload = am_payload(am_alert("fp1", alertname="Guarded"), am_alert("fp2", alertname="Guarded"))
    async with db.begin() as conn:
        await insert_alerts(conn, AlertmanagerWebhook.model_validate(payload).to_alerts(), NOW)
    await db.close()
    client = await start_medic(_settings(store_url, tmp_path))
    listing = (await (await client.get("/api/incidents")).json())["incidents"]
    assert [(i["id"], i["alert_count"], i["playbooks"]) for i in listing] == [
        ("INC-1", 2, ["guarded"])
    ]


SLOW = """
name: slow
match: ['alertname="Slow"']
steps:
  - id: hold
    uses: test.hold
    with: {name: x}
  - id: after
    uses: incident.note
    with: {text: after the hold}
"""


async def test_graceful_stop_lets_a_write_step_finish(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """Stopping Medic while a write step executes: the step finishes and commits, no new
    step starts, and after a restart the run goes on; nothing is ``interrupted``."""
    HOLD_GATE["release"] = asyncio.Event()
    settings = make_settings(
        sqlite_url, playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", slow=SLOW))]}
    )
    narrator = RecordingNarrator()
    client = await start_medic(settings, narrators=[narrator], registry=HOLD_REGISTRY)
    payload = am_payload(am_alert("fp1", alertname="Slow"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    await narrator.wait_for("step_started", lambda e: e.step_id == "hold")
    stopping = client.server.app[RUNTIME].runs.stopping
    closing = asyncio.create_task(client.close())
    await stopping.wait()
    HOLD_GATE["release"].set()
    await closing
    again = RecordingNarrator()
    second = await start_medic(settings, narrators=[again], registry=HOLD_REGISTRY)
    await again.run_end("RUN-1", "succeeded")
    run = (await detail(second))["runs"][0]
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("hold", "succeeded"),
        ("after", "succeeded"),
    ]


HELD = """
name: held
match: ['alertname="Held"']
group_by: [n]
steps:
  - id: hold
    uses: test.hold
    with: {name: "{{ labels.n }}"}
"""


async def test_a_dry_run_cut_off_by_a_crash_stays_a_dry_run(
    start_medic: StartMedic, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry-run write step cut off by a crash is ``interrupted`` and still a dry run: it
    counts against the dry runs' limit (``max: 1``), so the next dry run asks a four-eyes
    consent. (Seen failing: marking it interrupted rewrote it as a real attempt, so the
    next dry run started on its own, over the limit.)"""
    monkeypatch.setattr(bot.engine.runs.manager, "STOP_GRACE_S", 0.0)  # a stop is a crash here
    HOLD_GATE["release"] = asyncio.Event()
    settings = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", held=HELD))]},
        safety={"limits": {"test.hold": {"max": 1, "per": "1h"}}},
    )
    narrator = RecordingNarrator()
    client = await start_medic(settings, narrators=[narrator], registry=HOLD_REGISTRY)
    payload = am_payload(am_alert("fp1", alertname="Held", n="1"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    await narrator.wait_for("step_started", lambda e: e.step_id == "hold")
    await client.close()
    again = RecordingNarrator()
    client = await start_medic(settings, narrators=[again], registry=HOLD_REGISTRY)
    await again.run_end("RUN-1", "interrupted")
    payload = am_payload(am_alert("fp2", alertname="Held", n="2"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    consent = await again.wait_for("approval_requested")
    (cut,) = (await detail(client))["runs"][0]["steps"]
    assert (cut["status"], cut["dry_run"]) == ("interrupted", True)
    assert consent.reason.startswith("limit test.hold: 1 in the last 1h (max 1; dry runs")


RESTART_ONLY = """
name: restarter
match: ['alertname="Restarter"']
steps:
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


def _limited(url: str, tmp_path: Path, limit: int) -> Any:
    return make_settings(
        url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb2", restarter=RESTART_ONLY))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"]},
        safety={"limits": {"kubernetes.restart": {"max": limit, "per": "1h"}}},
    )


async def test_a_limit_consent_left_waiting_is_cancelled_when_its_step_starts_after_restart(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """A write step over its limit waits on a four-eyes consent; Medic restarts with the
    limit raised, so the step starts without it. The consent is then cancelled (and a late
    decision refused with 409) instead of staying ``pending`` for a run that already went
    on. (Seen failing: APR-1 stayed pending and still took approvals.)"""
    narrator = RecordingNarrator()
    client = await start_medic(_limited(store_url, tmp_path, 0), narrators=[narrator])
    payload = am_payload(am_alert("fp1", alertname="Restarter"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    approval = str((await narrator.wait_for("approval_requested")).approval_id)
    await client.close()
    narrator = RecordingNarrator()
    client = await start_medic(_limited(store_url, tmp_path, 5), narrators=[narrator])
    await narrator.run_end("RUN-1", "succeeded")
    body = await detail(client)
    assert [a["status"] for a in body["runs"][0]["approvals"]] == ["cancelled"]
    assert (await decide(client, approval, "U1", "approve"))[0] == 409
