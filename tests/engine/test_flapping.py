"""Flapping: an alert that resolves and fires again within
``playbooks.flap_window`` reopens its incident instead of opening a new incident and a new
run (and a new approval request) each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock

from enginekit import RecordingNarrator, detail, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import BASE_TIME, am_alert, am_payload

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

GUARDED = """
name: guarded
match: ['alertname="Flappy"']
group_by: [service]
target: "deployment/prod/{{ labels.service }}"
steps:
  - id: approve
    uses: approval
    with: {mode: consent, prompt: "restart {{ labels.service }}?"}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: prod, deployment: "{{ labels.service }}"}
"""


async def _start(
    start_medic: StartMedic, store_url: str, tmp_path: Path, **playbooks: Any
) -> tuple[Any, RecordingNarrator, ManualClock]:
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    settings = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=GUARDED))], **playbooks},
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1"]},
    )
    client = await start_medic(settings, clock=clock, narrators=[narrator])
    return client, narrator, clock


def _episode(n: int, status: str = "firing") -> dict[str, Any]:
    """Episode ``n`` of the flapping alert (its own startsAt), firing or resolved."""
    starts = BASE_TIME + timedelta(minutes=2 * n)
    ends = {"ends_at": starts + timedelta(minutes=1)} if status == "resolved" else {}
    return am_alert(
        "fp-flap", alertname="Flappy", service="api", status=status, starts_at=starts, **ends
    )


async def _fire(client: Any, narrator: RecordingNarrator, n: int) -> None:
    """Episode ``n`` fires; wait until the incident took it."""
    before = len(narrator.of("incident"))
    await _post(client, _episode(n))
    await narrator.wait_for("incident", lambda _c: len(narrator.of("incident")) > before)


async def _resolve(client: Any, narrator: RecordingNarrator, clock: ManualClock, n: int) -> None:
    """A minute later episode ``n`` resolves; wait for the incident to resolve; a minute
    passes."""
    clock.advance(timedelta(minutes=1))
    before = len(narrator.of("incident"))
    await _post(client, _episode(n, "resolved"))
    await narrator.wait_for(
        "incident", lambda c: c.kind == "resolved" and len(narrator.of("incident")) > before
    )
    clock.advance(timedelta(minutes=1))


async def _flap(client: Any, narrator: RecordingNarrator, clock: ManualClock, n: int) -> None:
    """Episode ``n``: fires, then resolves."""
    await _fire(client, narrator, n)
    await _resolve(client, narrator, clock, n)


async def _post(client: Any, alert: dict[str, Any]) -> None:
    response = await client.post(URL, json=am_payload(alert), headers=bearer())
    assert response.status == 200, await response.text()


async def _incidents(client: Any) -> list[tuple[str, str, Any]]:
    listing = await (await client.get("/api/incidents")).json()
    return [(i["id"], i["status"], i.get("previous")) for i in listing["incidents"]]


async def test_five_flaps_are_one_incident_one_run_one_approval(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Five fire/resolve episodes a minute apart: one incident (reopened four times, each
    said in its timeline), one run and one approval request; the run the first
    resolution cancelled is not started again."""
    client, narrator, clock = await _start(start_medic, store_url, tmp_path)
    await _fire(client, narrator, 0)
    await narrator.wait_for("approval_requested")
    await _resolve(client, narrator, clock, 0)
    for n in range(1, 5):
        await _flap(client, narrator, clock, n)

    assert await _incidents(client) == [("INC-1", "resolved", None)]
    body = await detail(client)
    assert [(r["playbook"], r["status"]) for r in body["runs"]] == [("guarded", "aborted")]
    assert len(narrator.of("approval_requested")) == 1
    kinds = [t["kind"] for t in body["timeline"]]
    assert kinds.count("incident.reopened") == 4
    assert kinds.count("incident.resolved") == 5
    reopened = next(t for t in body["timeline"] if t["kind"] == "incident.reopened")
    assert "fired again within 10m of resolving (flapping)" in reopened["text"]


async def test_a_flap_reopens_the_incident_while_it_fires(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Fired again within the window: the incident is open again (resolved_at cleared) with
    the alert firing in it, and no second run."""
    client, narrator, clock = await _start(start_medic, store_url, tmp_path)
    await _flap(client, narrator, clock, 0)
    await _fire(client, narrator, 1)

    assert await _incidents(client) == [("INC-1", "open", None)]
    body = await detail(client)
    assert [(a["fingerprint"], a["status"]) for a in body["alerts"]] == [("fp-flap", "firing")]
    assert len(body["runs"]) == 1


async def test_firing_again_after_the_window_opens_a_new_incident(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Past ``flap_window`` (here 5m) the alert firing again is a new incident linking the
    old one, with its own run."""
    client, narrator, clock = await _start(start_medic, store_url, tmp_path, flap_window="5m")
    await _flap(client, narrator, clock, 0)
    clock.advance(timedelta(minutes=5))
    await _fire(client, narrator, 1)
    await narrator.wait_for("approval_requested", lambda e: e.run_id == "RUN-2")

    assert await _incidents(client) == [("INC-2", "open", "INC-1"), ("INC-1", "resolved", None)]


async def test_a_zero_window_turns_reopening_off(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """``flap_window: 0s``: every episode is its own incident, as before."""
    client, narrator, clock = await _start(start_medic, store_url, tmp_path, flap_window="0s")
    for n in range(2):
        await _flap(client, narrator, clock, n)

    assert await _incidents(client) == [
        ("INC-2", "resolved", "INC-1"),
        ("INC-1", "resolved", None),
    ]
