"""``/metrics`` beyond ingest: runs, steps and approvals by outcome, pending
approvals and their age, the pause switch, engine lag, delivery backlogs, store errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.clock import ManualClock
from bot.metrics import Metrics
from bot.models import Alert
from bot.store import Database
from bot.store.audit import record_event
from bot.store.health import read_health
from bot.store.journal import insert_alerts
from bot.store.schema import incidents

from enginekit import RecordingNarrator, api, decide, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
GUARDED = """
name: guarded
match: ['alertname="Guarded"']
target: "deployment/prod/api"
steps:
  - id: look
    uses: prometheus.query
    with: {query: "up"}
    on_failure: continue
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 15m, prompt: "Roll back?"}
  - id: rollback
    uses: kubernetes.rollback
    with: {namespace: prod, deployment: api}
"""


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


async def _scrape(client: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    return _samples(await response.text())


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


async def test_runs_steps_approvals_and_pause_are_on_metrics(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """While a consent waits: one pending approval whose age follows the clock; once approved
    the run's steps and the run are counted by playbook, action and outcome, and the
    decision by mode and outcome; pausing sets ``medic_paused``."""
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    settings = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=GUARDED))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"], "admins": ["ADMIN"]},
    )
    client = await start_medic(settings, clock=clock, narrators=[narrator])
    payload = am_payload(am_alert("fp1", alertname="Guarded"))
    assert (await client.post("/webhooks/alertmanager", json=payload, headers=bearer())).ok
    requested = await narrator.wait_for("approval_requested")
    clock.advance(timedelta(seconds=90))

    waiting = await _scrape(client)
    assert waiting[_key("medic_approvals_pending")] == 1
    assert waiting[_key("medic_approvals_oldest_pending_age_seconds")] == 90
    assert waiting[_key("medic_engine_lag_seconds")] == 0
    assert waiting[_key("medic_paused")] == 0

    assert (await decide(client, requested.approval_id, "U1", "approve"))[0] == 200
    run = await narrator.run_end(requested.run_id)
    done = await _scrape(client)
    assert done[_key("medic_approvals_pending")] == 0
    assert done[_key("medic_approvals_oldest_pending_age_seconds")] == 0
    assert done[_key("medic_approvals_decided_total", mode="consent", outcome="approved")] == 1
    assert done[_key("medic_runs_finished_total", playbook="guarded", outcome=run.status)] == 1
    steps = {
        (dict(labels)["action"], dict(labels)["outcome"]): value
        for (name, labels), value in done.items()
        if name == "medic_steps_finished_total" and dict(labels)["playbook"] == "guarded"
    }
    assert steps == {
        ("prometheus.query", narrator.of("step_finished")[0].status): 1,
        ("approval", "succeeded"): 1,
        ("kubernetes.rollback", "succeeded"): 1,
    }

    paused = await client.post(
        "/api/pause", json={"user": "ADMIN", "reason": "freeze"}, headers=api()
    )
    assert paused.status == 200
    assert (await _scrape(client))[_key("medic_paused")] == 1


def _alert(fingerprint: str) -> Alert:
    from bot.ingress.alertmanager_models import AlertmanagerWebhook  # noqa: PLC0415

    (alert,) = AlertmanagerWebhook.model_validate(am_payload(am_alert(fingerprint))).to_alerts()
    return alert


async def test_store_health_reads_lag_and_pagerduty_backlog(tmp_path: Path) -> None:
    """The engine's lag is the age of the oldest journaled alert not processed yet; an
    incident whose latest PagerDuty outcome is a failure is PagerDuty backlog, and each
    failure is counted; a later success clears the backlog."""
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    await db.create_schema()
    try:
        async with db.begin() as conn:
            await insert_alerts(conn, [_alert("a1")], START)
            await insert_alerts(conn, [_alert("a2")], START + timedelta(seconds=30))
            seq = (
                await conn.execute(
                    incidents.insert()
                    .values(
                        title="t",
                        severity="sev3",
                        status="open",
                        group_key="g",
                        created_at=START,
                        updated_at=START,
                    )
                    .returning(incidents.c.seq)
                )
            ).scalar_one()
            for kind in ("pagerduty.paged", "pagerduty.failed"):
                await record_event(
                    conn, at=START, actor="medic", kind=kind, text=kind, incident_seq=seq
                )
        async with db.connect() as conn:
            behind = await read_health(conn, slack=False)
        async with db.begin() as conn:
            await record_event(
                conn, at=START, actor="medic", kind="pagerduty.resolve", text="ok", incident_seq=seq
            )
        async with db.connect() as conn:
            caught_up = await read_health(conn, slack=False)
    finally:
        await db.close()
    assert behind.oldest_unprocessed == START
    assert (behind.pagerduty_backlog, behind.pagerduty_failures) == (1, 1)
    assert (caught_up.pagerduty_backlog, caught_up.pagerduty_failures) == (0, 1)

    metrics = Metrics()
    metrics.refresh(behind, paused=False, store_errors=0, now=START + timedelta(minutes=2))
    samples = _samples(metrics.exposition().decode())
    assert samples[_key("medic_engine_lag_seconds")] == 120
    assert samples[_key("medic_delivery_backlog", target="pagerduty")] == 1
    assert samples[_key("medic_delivery_failures_total", target="pagerduty")] == 1


async def test_store_errors_are_counted(tmp_path: Path) -> None:
    """Every error the store's driver raises counts in ``Database.errors`` (exposed as
    ``medic_store_errors_total``): here a SQLite file in a directory that does not exist."""
    db = Database(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        assert not await db.ping()
        assert not await db.ping()
    finally:
        await db.close()
    assert db.errors == 2
