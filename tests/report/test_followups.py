"""Follow-ups are derived from what happened (failed, interrupted, dry-run steps, escalations)
plus the per-playbook hint table (the pool-revert offer of PLAYBOOKS.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.report.followups import derive_followups
from bot.report.models import AlertInfo, IncidentReport, RunInfo, StepInfo, TimelineItem
from bot.report.render import code, duration

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
REVIEW = (
    "Write the root cause, impact and lessons learned, and hold the post-incident review "
    "within 48 hours"
)


def _step(step_id: str, action: str, status: str = "succeeded", **extra: Any) -> StepInfo:
    values: dict[str, Any] = {
        "dry_run": False,
        "started_at": AT,
        "finished_at": AT,
        "error": None,
        "output": None,
        "changes": [],
        "approval": None,
        "guarded_by": None,
        **extra,
    }
    return StepInfo(id=step_id, action=action, status=status, **values)


def _run(seq: int, playbook: str, status: str, *steps: StepInfo) -> RunInfo:
    return RunInfo(
        id=f"RUN-{seq}",
        playbook=playbook,
        description="",
        status=status,
        target="deployment/db/pool",
        started_by="medic",
        steps=list(steps),
        approvals=[],
    )


def _report(*runs: RunInfo, timeline: list[TimelineItem] | None = None) -> IncidentReport:
    alert = AlertInfo(
        name="DatabaseConnectionPoolExhausted",
        fingerprint="fp",
        source="alertmanager",
        status="resolved",
        labels={"namespace": "db", "deployment": "pool"},
        annotations={},
        starts_at=AT,
        ends_at=AT,
    )
    return IncidentReport(
        id="INC-1",
        title="pool",
        severity="sev1",
        status="resolved",
        start=AT,
        end=AT,
        generated_at=AT,
        opened_at=AT,
        commander="medic",
        pagerduty_incident_id=None,
        previous=None,
        alerts=[alert],
        runs=list(runs),
        timeline=timeline or [],
    )


RAISED = _run(1, "pool-exhaustion", "succeeded", _step("raise_pool", "kubernetes.set_env"))
OFFER = (
    "Revert the connection pool of deployment/db/pool to the usual DB_POOL_SIZE=100, "
    "DB_POOL_MAX=150 once the peak is over: `/incident run pool-revert namespace=db "
    "deployment=pool`"
)


def test_pool_raise_offers_the_revert() -> None:
    """A real pool raise leaves the revert offer, with the alert's namespace and deployment."""
    assert [(f.text, f.done) for f in derive_followups(_report(RAISED))] == [
        (OFFER, False),
        (REVIEW, False),
    ]


def test_a_later_revert_run_marks_the_offer_done() -> None:
    """A successful pool-revert run after the raise ticks the offer off."""
    revert = _run(2, "pool-revert", "succeeded", _step("restore", "kubernetes.set_env"))
    first = derive_followups(_report(RAISED, revert))[0]
    assert (first.text, first.done) == (f"{OFFER} — done by RUN-2", True)


def test_dry_run_raise_offers_no_revert() -> None:
    """A dry-run raise changed nothing: no revert offer, a dry-run follow-up instead."""
    dry = _run(
        1, "pool-exhaustion", "succeeded", _step("raise_pool", "kubernetes.set_env", dry_run=True)
    )
    assert [f.text for f in derive_followups(_report(dry))] == [
        "Dry runs only in RUN-1 pool-exhaustion: `raise_pool` (kubernetes.set_env) changed "
        "nothing; apply by hand if still needed",
        REVIEW,
    ]


def test_failures_interruptions_and_escalations_become_followups() -> None:
    """Failed and interrupted steps and every escalation in the timeline are follow-ups."""
    run = _run(
        1,
        "service-restart",
        "interrupted",
        _step("verify", "prometheus.wait", "failed", error="never recovered"),
        _step("restart", "kubernetes.restart", "interrupted"),
    )
    escalated = TimelineItem(
        at=AT, actor="medic", kind="incident.escalated", text="ESCALATED: still down"
    )
    assert [f.text for f in derive_followups(_report(run, timeline=[escalated]))] == [
        "`verify` (prometheus.wait) failed in RUN-1 service-restart: never recovered",
        "`restart` (kubernetes.restart) was interrupted in RUN-1 service-restart (Medic stopped "
        "mid-step): check deployment/db/pool by hand; Medic does not run it again without "
        "`/incident run service-restart`",
        "ESCALATED: still down — confirm a human owns the investigation",
        REVIEW,
    ]


def test_no_playbook_suggests_writing_one() -> None:
    """An incident no playbook handled asks for one, naming its alerts."""
    assert derive_followups(_report())[0].text == (
        "No playbook handled this incident: consider one for DatabaseConnectionPoolExhausted"
    )


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0 seconds"),
        (timedelta(seconds=42), "42 seconds"),
        (timedelta(minutes=3, seconds=20), "3 minutes 20 seconds"),
        (timedelta(hours=1, minutes=5, seconds=9), "1 hour 5 minutes"),
        (timedelta(days=2, hours=3, minutes=1), "2 days 3 hours"),
    ],
)
def test_durations_read_like_the_template(span: timedelta, text: str) -> None:
    """Durations as the runbooks' template writes them ("X hours Y minutes")."""
    assert duration(span) == text


@pytest.mark.parametrize(
    ("raw", "span"),
    [("plain", "`plain`"), ("a `b` c", "`` a `b` c ``"), ("two\nlines", "`two lines`")],
)
def test_code_spans_survive_backticks_and_newlines(raw: str, span: str) -> None:
    """Values from alerts cannot break out of their code span or the Markdown structure."""
    assert code(raw) == span
