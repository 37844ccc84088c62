"""Incident status and ``incident.*`` actions: open → mitigating when the first
real (non-dry-run) write step starts; severity changes; a playbook resolving its incident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.actions import (
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionSpec,
    StepContext,
    StepResult,
)
from bot.integrations import action_registry

from enginekit import RecordingNarrator, detail, write_playbooks
from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"


class FlipParams(ActionParams):
    """A write action of this test's own (an extension, as a new responder would be)."""

    switch: str


async def flip(ctx: StepContext, params: FlipParams) -> StepResult:
    """Pretend to change the world; report whether it was a dry run."""
    return StepResult(output={"switch": params.switch}, dry_run=ctx.dry_run, summary="flipped")


REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.flip", ActionKind.WRITE, FlipParams, flip, None, None),
    ]
)

PLAYBOOK = """
name: flipper
match: ['alertname="Flip"']
steps:
  - id: sev
    uses: incident.set_severity
    with: {severity: sev1}
  - id: flip
    uses: test.flip
    with: {switch: "{{ labels.switch }}"}
  - id: done
    uses: incident.resolve
    with: {summary: "flipped {{ labels.switch }}"}
"""


async def _run(start_medic: StartMedic, url: str, tmp_path: Path, dry_run: bool) -> Any:
    narrator = RecordingNarrator()
    settings = make_settings(
        url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", flipper=PLAYBOOK))]},
        safety={"dry_run": dry_run},
    )
    client = await start_medic(settings, narrators=[narrator], registry=REGISTRY)
    payload = am_payload(am_alert("fp1", alertname="Flip", severity="warning", switch="blue"))
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200
    await narrator.run_end("RUN-1", "succeeded")
    return await detail(client)


async def test_real_write_makes_the_incident_mitigating(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """With ``safety.dry_run: false`` the first real write step moves the incident to
    ``mitigating``; the playbook then sets sev1 and resolves it."""
    body = await _run(start_medic, sqlite_url, tmp_path, dry_run=False)
    kinds = [t["kind"] for t in body["timeline"]]
    assert kinds.index("incident.severity") < kinds.index("incident.mitigating")
    assert kinds.index("incident.mitigating") < kinds.index("incident.resolved")
    assert (body["incident"]["severity"], body["incident"]["status"]) == ("sev1", "resolved")
    flip_step = body["runs"][0]["steps"][1]
    assert (flip_step["dry_run"], flip_step["output"]) == (False, {"switch": "blue"})


async def test_dry_run_write_leaves_the_incident_open(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """In dry-run mode the write step runs as a dry run and the incident never mitigates."""
    body = await _run(start_medic, sqlite_url, tmp_path, dry_run=True)
    kinds = [t["kind"] for t in body["timeline"]]
    assert "incident.mitigating" not in kinds
    assert body["runs"][0]["steps"][1]["dry_run"] is True
