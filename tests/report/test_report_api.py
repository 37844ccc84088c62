"""``GET /api/incidents/{id}/report``: the post-incident report drafted from the store, for an
incident that went through the real HTTP path (alert in, approval through the API, resolved by
its resolved alert)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.actions import (
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionSpec,
    StepContext,
    StepResult,
)
from bot.clock import ManualClock
from bot.integrations import action_registry

from enginekit import RecordingNarrator, decide, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

PLAYBOOK = """
name: report-me
description: Raise the severity, then with consent scale the API out and roll it back.
match: ['alertname="ReportMe"']
severity: sev2
target: "deployment/prod/api"
steps:
  - id: bump
    uses: incident.set_severity
    with: {severity: sev1}
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 5m, prompt: "Scale out and roll back {{ target }}?"}
  - id: scale_out
    uses: test.scale
    with: {replicas: 6}
  - id: rollback
    uses: kubernetes.rollback
    with: {namespace: prod, deployment: api}
"""


class ScaleParams(ActionParams):
    """``test.scale``: a write step of the tests' own that reports before/after replicas."""

    replicas: int


async def scale(ctx: StepContext, params: ScaleParams) -> StepResult:
    """Pretend to scale from 3 replicas; a dry run changes nothing."""
    return StepResult(
        output={"replicas": {"before": 3, "after": 3 if ctx.dry_run else params.replicas}},
        dry_run=ctx.dry_run,
    )


REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.scale", ActionKind.WRITE, ScaleParams, scale, None, None),
    ]
)


async def _start(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> tuple[Any, RecordingNarrator, ManualClock]:
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    config = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", report_me=PLAYBOOK))]},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"]},
        safety={"dry_run": False},
    )
    client = await start_medic(config, clock=clock, narrators=[narrator], registry=REGISTRY)
    return client, narrator, clock


async def _fire(client: Any, narrator: RecordingNarrator, status: str = "firing") -> None:
    alert = am_alert(
        "fp-report",
        alertname="ReportMe",
        status=status,
        ends_at=START + timedelta(hours=1) if status == "resolved" else None,
        namespace="prod",
    )
    payload = am_payload(alert, group_key='{}:{alertname="ReportMe"}')
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200


async def _report(client: Any, incident: str = "INC-1") -> tuple[int, str, str]:
    response = await client.get(f"/api/incidents/{incident}/report")
    return response.status, response.content_type, await response.text()


def _section(text: str, heading: str) -> str:
    """The body of one ``## heading`` section."""
    start = text.index(f"\n## {heading}\n") + len(heading) + 5
    end = text.find("\n## ", start)
    return text[start : end if end >= 0 else len(text)]


async def test_resolved_incident_report_has_every_section(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """An approved, resolved incident's report follows the runbooks' template: summary with
    start, end, duration and severity; the audit timeline; alerts and matched playbooks under
    root cause; each step with its approver and before/after; follow-ups."""
    client, narrator, clock = await _start(start_medic, store_url, tmp_path)
    await _fire(client, narrator)
    requested = await narrator.wait_for("approval_requested")
    clock.advance(timedelta(minutes=2))
    assert (await decide(client, requested.approval_id, "U1", "approve"))[0] == 200
    await narrator.run_end("RUN-1", "succeeded")
    clock.advance(timedelta(hours=1, minutes=3))
    await _fire(client, narrator, status="resolved")
    await narrator.wait_for("incident", lambda c: c.kind.value == "resolved")

    status, content_type, text = await _report(client)

    assert (status, content_type) == (200, "text/markdown")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Incident Report: INC-1 — ReportMe is firing",
        "## Summary",
        "## Timeline",
        "## Root Cause",
        "### Alerts",
        "### Matched playbooks",
        "## Resolution",
        "### RUN-1 report-me — succeeded",
        "## Impact Assessment",
        "## Lessons Learned",
        "## Action Items",
        "## Preventive Measures",
    ]
    summary = _section(text, "Summary")
    assert "- **Start Time**: 2026-11-24 03:00:00 UTC\n" in summary
    assert "- **End Time**: 2026-11-24 04:05:00 UTC\n" in summary
    assert "- **Duration**: 1 hour 5 minutes\n" in summary
    assert "- **Severity**: SEV-1 (Critical)\n" in summary
    assert "- **Status**: resolved\n" in summary
    timeline = _section(text, "Timeline").strip().splitlines()
    assert timeline[0].startswith("- **03:00:00** - Incident opened by")
    assert "- **03:02:00** - U1 approved APR-1 _(U1)_" in "\n".join(timeline)
    assert timeline[-1].startswith("- **04:05:00** - Incident resolved")
    root = _section(text, "Root Cause")
    assert "- **ReportMe** (alertmanager, resolved): fired 2026-11-24 03:00:00 UTC" in root
    assert 'namespace="prod"' in root
    assert "  - summary: ReportMe is firing\n" in root
    assert "- **report-me**: Raise the severity, then with consent scale the API out" in root
    resolution = _section(text, "Resolution")
    assert "1. `bump` (incident.set_severity) — **succeeded**, 03:00:00-03:00:00\n" in resolution
    assert '   - changed `"sev2"` → `"sev1"`\n' in resolution
    assert "   - APR-1 (consent): approved by U1 at 2026-11-24 03:02:00 UTC\n" in resolution
    assert "3. `scale_out` (test.scale) — **succeeded**, 03:02:00-03:02:00\n" in resolution
    assert (
        "   - approval: APR-1 (consent): approved by U1 at 2026-11-24 03:02:00 UTC\n"
        "   - changed `replicas`: `3` → `6`\n"
    ) in resolution
    assert (
        "4. `rollback` (kubernetes.rollback) — **succeeded** (dry run: nothing changed), "
        "03:02:00-03:02:00\n"
        "   - approval: APR-1 (consent): approved by U1 at 2026-11-24 03:02:00 UTC\n"
        "   - would roll back deployment prod/api to its previous revision\n"
    ) in resolution
    assert "fired for 1 hour (2026-11-24 03:00:00 UTC to 2026-11-24 04:00:00 UTC)" in _section(
        text, "Impact Assessment"
    )
    actions = _section(text, "Action Items").strip().splitlines()
    assert actions == [
        "1. [ ] Dry runs only in RUN-1 report-me: `rollback` (kubernetes.rollback) changed "
        "nothing; apply by hand if still needed - Owner: _ - Due: _",
        "2. [ ] Write the root cause, impact and lessons learned, and hold the post-incident "
        "review within 48 hours - Owner: _ - Due: _",
    ]


async def test_unresolved_incident_gives_the_draft_so_far(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """While the incident is open the report is a draft: no end time, the duration so far,
    the pending approval and the waiting run as follow-ups."""
    client, narrator, clock = await _start(start_medic, sqlite_url, tmp_path)
    await _fire(client, narrator)
    await narrator.wait_for("approval_requested")
    clock.advance(timedelta(minutes=4))

    status, _, text = await _report(client)

    assert status == 200
    assert "> **Draft so far**: the incident is still **open**" in text
    summary = _section(text, "Summary")
    assert "- **End Time**: — (ongoing)\n" in summary
    assert "- **Duration**: 4 minutes so far\n" in summary
    assert "   - APR-1 (consent): still waiting for a decision\n" in _section(text, "Resolution")
    actions = _section(text, "Action Items")
    assert "RUN-1 report-me is still waiting_approval" in actions
    assert "Still firing: ReportMe" in actions


async def test_rejection_is_reported_with_who_rejected(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A rejected approval shows who rejected it, the guarded steps never appear as run, and
    the follow-ups say that the fix did not happen."""
    client, narrator, _ = await _start(start_medic, sqlite_url, tmp_path)
    await _fire(client, narrator)
    requested = await narrator.wait_for("approval_requested")
    assert (await decide(client, requested.approval_id, "U2", "reject"))[0] == 200
    await narrator.run_end("RUN-1", "aborted")

    _, _, text = await _report(client)

    resolution = _section(text, "Resolution")
    assert "### RUN-1 report-me — aborted" in resolution
    assert "   - APR-1 (consent): rejected by U2 at 2026-11-24 03:00:00 UTC\n" in resolution
    assert "scale_out" not in resolution
    assert (
        "APR-1 was rejected by U2: what `approve` guarded in RUN-1 report-me did not run; "
        "decide whether another fix is needed"
    ) in _section(text, "Action Items")


@pytest.mark.parametrize("incident", ["INC-99", "nope"])
async def test_unknown_incident_is_404(
    start_medic: StartMedic, sqlite_url: str, incident: str
) -> None:
    """An unknown (or malformed) incident id answers 404 in the JSON error shape."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.get(f"/api/incidents/{incident}/report")
    assert response.status == 404
    body = await response.json()
    assert body["error"] == "not_found"
    assert incident in body["detail"]
