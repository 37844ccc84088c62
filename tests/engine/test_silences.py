"""Silences end to end: a real Medic behind a real Alertmanager (Debian's package) that
delivers to it. A playbook step silences the alert it handles; Medic expires the silence when
the incident resolves, and, since the silence mutes the resolved notification too, learns of
the resolution by polling Alertmanager's ``GET /api/v2/alerts``."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from enginekit import RecordingNarrator, detail, write_playbooks
from harness.alertmanager import AlertmanagerServer
from harness.ports import free_port
from medickit import AM_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

T = TypeVar("T")
WAIT_S = 20.0
FAST_POLL_S = 0.1
NO_POLL_S = 3600.0  # the watch's first round runs at start; no other during the test

MUTE = """
name: mute
match: ['alertname=~"Sil.*"']
group_by: [alertname]
severity: sev3
steps:
  - id: silence
    uses: alertmanager.silence
    with:
      matchers: ['alertname="{{ labels.alertname }}"', 'instance="{{ labels.instance }}"']
      duration: 1h
      comment: "noisy while Medic works on it"
"""

MUTE_AND_UNMUTE = """
name: mute-unmute
match: ['alertname="UnmuteTest"']
group_by: [alertname]
steps:
  - id: silence
    uses: alertmanager.silence
    with:
      matchers: ['alertname="{{ labels.alertname }}"']
      duration: 30m
  - id: unmute
    uses: alertmanager.expire_silence
    with:
      silence_id: "{{ steps.silence.output.silence_id }}"
"""

BAD_REGEX = """
name: bad-regex
match: ['alertname="BadRegexTest"']
group_by: [alertname]
steps:
  - id: silence
    uses: alertmanager.silence
    with:
      matchers: ['alertname=~".*"']
      duration: 1h
"""


@pytest.fixture
def medic_port() -> int:
    """The port Medic will listen on (Alertmanager is told before Medic starts)."""
    return free_port()


@pytest.fixture
def alertmanager(tmp_path: Path, medic_port: int) -> Iterator[AlertmanagerServer]:
    """A real Alertmanager delivering to Medic's webhook with Medic's bearer token."""
    webhook = f"http://127.0.0.1:{medic_port}/webhooks/alertmanager"
    with AlertmanagerServer(webhook, bearer_token=AM_TOKEN).start(tmp_path) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The test's own session, to talk to Alertmanager as a human would."""
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Stack:
    """Medic, the Alertmanager in front of it, and what Medic narrated."""

    medic: TestClient[Any, Any]
    am: AlertmanagerServer
    http: aiohttp.ClientSession
    narrator: RecordingNarrator

    async def am_get(self, path: str) -> Any:
        """``GET`` JSON from Alertmanager."""
        async with self.http.get(f"{self.am.url}{path}") as resp:
            assert resp.status == 200
            return await resp.json()

    async def fire(self, labels: dict[str, str], starts_at: datetime, **extra: Any) -> None:
        """Post one alert to Alertmanager (``endsAt`` in ``extra`` resolves it there)."""
        alert = {"labels": labels, "startsAt": starts_at.isoformat(), **extra}
        async with self.http.post(f"{self.am.url}/api/v2/alerts", json=[alert]) as resp:
            assert resp.status == 200

    async def silence(self, silence_id: str) -> Any:
        """One silence as Alertmanager shows it."""
        return await self.am_get(f"/api/v2/silence/{silence_id}")

    async def silence_state(self, silence_id: str) -> str:
        """``active``, ``expired`` or ``pending``."""
        state: str = (await self.silence(silence_id))["status"]["state"]
        return state

    async def alert_states(self, alertname: str) -> list[str]:
        """``status.state`` of each alert Alertmanager holds named ``alertname``."""
        alerts = await self.am_get(f"/api/v2/alerts?filter=alertname%3D%22{alertname}%22")
        return [a["status"]["state"] for a in alerts]


async def until(check: Callable[[], Awaitable[T]], what: str) -> T:
    """Poll ``check`` (another process's state, no event to await) until it is truthy."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not (value := await check()):  # noqa: ASYNC110 -- another process, no event
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {WAIT_S:g} s waiting for {what}") from None
    return value


@pytest.fixture
def stack_factory(
    start_medic: StartMedic,
    alertmanager: AlertmanagerServer,
    http: aiohttp.ClientSession,
    medic_port: int,
    store_url: str,
    tmp_path: Path,
) -> Callable[..., Awaitable[Stack]]:
    """Start Medic (on SQLite and on PostgreSQL) with the given playbooks on ``medic_port``
    with ``alertmanager.url``."""

    async def start(
        *, poll_s: float = FAST_POLL_S, dry_run: bool = False, **playbooks: str
    ) -> Stack:
        narrator = RecordingNarrator()
        settings = make_settings(
            store_url,
            playbooks={"dirs": [str(write_playbooks(tmp_path / "playbooks", **playbooks))]},
            alertmanager={"url": alertmanager.url},
            safety={"dry_run": dry_run},
        )
        medic = await start_medic(
            settings, narrators=[narrator], port=medic_port, silence_poll_s=poll_s
        )
        return Stack(medic, alertmanager, http, narrator)

    return start


def minutes_ago(minutes: int) -> datetime:
    """A whole-second UTC time ``minutes`` ago."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)


async def silenced(stack: Stack, step_id: str = "silence") -> str:
    """Wait for the run's silence step; return the silence id it recorded."""
    finished = await stack.narrator.wait_for("step_finished", lambda e: e.step_id == step_id)
    assert (finished.status, finished.dry_run, finished.error) == ("succeeded", False, None)
    (run,) = (await detail(stack.medic))["runs"]
    silence_id: str = run["steps"][0]["output"]["silence_id"]
    return silence_id


async def incident_status(stack: Stack) -> str:
    """The status of INC-1."""
    status: str = (await detail(stack.medic))["incident"]["status"]
    return status


def timeline(body: Any, kind: str) -> list[str]:
    """The texts of the timeline entries of ``kind``."""
    return [t["text"] for t in body["timeline"] if t["kind"] == kind]


async def test_silence_names_the_incident_and_is_expired_when_it_resolves(
    stack_factory: Callable[..., Awaitable[Stack]],
) -> None:
    """The alert Alertmanager delivers runs a playbook that silences it: the silence exists
    in Alertmanager (createdBy medic, the incident in its comment, the step's matchers) and
    the alert shows suppressed. When the incident resolves, Medic expires the silence in
    Alertmanager and says so on the timeline (``silence.expired``)."""
    stack = await stack_factory(poll_s=NO_POLL_S, mute=MUTE)
    labels = {"alertname": "SilResolve", "instance": "node-a:9100", "severity": "warning"}
    starts_at = minutes_ago(2)
    await stack.fire(labels, starts_at)
    silence_id = await silenced(stack)

    found = await stack.silence(silence_id)
    assert found["status"]["state"] == "active"
    assert (found["createdBy"], found["comment"]) == (
        "medic",
        "Medic INC-1 (RUN-1): noisy while Medic works on it",
    )
    assert [(m["name"], m["value"]) for m in found["matchers"]] == [
        ("alertname", "SilResolve"),
        ("instance", "node-a:9100"),
    ]
    assert await until(lambda: _all_suppressed(stack, "SilResolve"), "the alert suppressed")

    # Alertmanager mutes the resolved notification: it is delivered here as it would be
    # without the silence, so the resolution path alone is tested (the watch is idle).
    (alert,) = (await detail(stack.medic))["alerts"]
    resolved = am_alert(
        alert["fingerprint"],
        status="resolved",
        alertname="SilResolve",
        starts_at=starts_at,
        ends_at=datetime.now(UTC),
        instance="node-a:9100",
        severity="warning",
    )
    payload = am_payload(resolved, group_key='{}:{alertname="SilResolve"}')
    response = await stack.medic.post("/webhooks/alertmanager", json=payload, headers=bearer())
    assert response.status == 200

    assert await until(lambda: _state_is(stack, silence_id, "expired"), "the silence expired")
    body = await detail(stack.medic)
    assert body["incident"]["status"] == "resolved"
    assert timeline(body, "silence.expired") == [
        f'Silence {silence_id} (alertname="SilResolve", instance="node-a:9100") expired in '
        "Alertmanager: the incident resolved"
    ]


async def test_watch_learns_a_resolution_the_silence_mutes(
    stack_factory: Callable[..., Awaitable[Stack]], log_stream: io.StringIO
) -> None:
    """The silenced alert stops firing at Alertmanager (posted with ``endsAt`` in the past),
    which sends no resolved notification: Medic's watch sees Alertmanager no longer lists
    it, journals the resolution, the incident resolves by the normal rules, and the silence
    is expired."""
    stack = await stack_factory(poll_s=FAST_POLL_S, mute=MUTE)
    labels = {"alertname": "SilPoll", "instance": "node-b:9100", "severity": "warning"}
    starts_at = minutes_ago(3)
    await stack.fire(labels, starts_at)
    silence_id = await silenced(stack)
    assert await until(lambda: _all_suppressed(stack, "SilPoll"), "the alert suppressed")
    # While the alert fires, the watch's rounds find it listed and resolve nothing.
    await until(lambda: _polls(log_stream, resolved=0, at_least=3), "three rounds of the watch")
    assert await incident_status(stack) == "mitigating"

    await stack.fire(
        labels, starts_at, endsAt=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    )
    await stack.narrator.wait_for("incident", lambda c: c.kind.value == "resolved")
    assert await until(lambda: _state_is(stack, silence_id, "expired"), "the silence expired")
    body = await detail(stack.medic)
    assert body["incident"]["status"] == "resolved"
    assert [(a["status"], a["labels"]["instance"]) for a in body["alerts"]] == [
        ("resolved", "node-b:9100")
    ]
    assert timeline(body, "incident.resolved") == [
        "Incident resolved: all its alerts have resolved"
    ]
    assert len(timeline(body, "silence.expired")) == 1


async def test_dry_run_silences_nothing(
    stack_factory: Callable[..., Awaitable[Stack]],
) -> None:
    """With ``safety.dry_run`` the step records what it would silence and Alertmanager holds
    no silence; the alert stays active and the incident open."""
    stack = await stack_factory(dry_run=True, mute=MUTE)
    await stack.fire({"alertname": "SilDry", "instance": "node-c:9100"}, minutes_ago(1))
    finished = await stack.narrator.wait_for("step_finished", lambda e: e.step_id == "silence")
    assert (finished.status, finished.dry_run) == ("succeeded", True)
    (run,) = (await detail(stack.medic))["runs"]
    output = run["steps"][0]["output"]
    assert "silence_id" not in output
    assert output["would"] == (
        'would silence alerts matching {alertname="SilDry", instance="node-c:9100"} for 1h in '
        'Alertmanager with comment "noisy while Medic works on it"'
    )
    assert await stack.am_get("/api/v2/silences") == []
    assert await stack.alert_states("SilDry") == ["active"]
    assert await incident_status(stack) == "open"


async def test_alertmanager_refusal_fails_the_step_with_its_message(
    stack_factory: Callable[..., Awaitable[Stack]],
) -> None:
    """Alertmanager answers 400 to a silence whose every matcher matches the empty string
    (it would silence everything; a regex that does not compile is refused earlier, when
    playbooks load): the step fails with Alertmanager's message and nothing is silenced."""
    stack = await stack_factory(bad_regex=BAD_REGEX)
    await stack.fire({"alertname": "BadRegexTest"}, minutes_ago(1))
    finished = await stack.narrator.wait_for("step_finished", lambda e: e.step_id == "silence")
    assert finished.status == "failed"
    assert finished.error.startswith(
        "Alertmanager refused to create the silence (400): silence invalid: "
    )
    assert "must not match the empty string" in finished.error
    assert await stack.am_get("/api/v2/silences") == []


async def test_expire_silence_step_expires_what_the_run_silenced(
    stack_factory: Callable[..., Awaitable[Stack]],
) -> None:
    """A later step expires the silence by the id the silence step output: Alertmanager
    shows it expired, the alert is active again, and the timeline says which step did it."""
    stack = await stack_factory(mute_and_unmute=MUTE_AND_UNMUTE)
    await stack.fire({"alertname": "UnmuteTest"}, minutes_ago(1))
    await stack.narrator.run_end("RUN-1", "succeeded")
    body = await detail(stack.medic)
    (run,) = body["runs"]
    silence_id = run["steps"][0]["output"]["silence_id"]
    assert run["steps"][1]["output"] == {"silence_id": silence_id, "expired": True}
    assert await stack.silence_state(silence_id) == "expired"
    assert await stack.alert_states("UnmuteTest") == ["active"]
    assert timeline(body, "silence.expired") == [
        f'Silence {silence_id} (alertname="UnmuteTest") expired in Alertmanager: step unmute '
        "of RUN-1"
    ]


def _rounds(stream: io.StringIO, *, resolved: int) -> int:
    """How many rounds the watch logged that resolved ``resolved`` alerts."""
    rounds = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return sum(r.get("event") == "silence.polled" and r.get("resolved") == resolved for r in rounds)


async def _polls(stream: io.StringIO, *, resolved: int, at_least: int, after: int = 0) -> bool:
    """Whether the watch logged ``at_least`` more rounds resolving ``resolved`` alerts than
    the ``after`` counted before."""
    return _rounds(stream, resolved=resolved) >= after + at_least


async def _all_suppressed(stack: Stack, alertname: str) -> bool:
    states = await stack.alert_states(alertname)
    return bool(states) and all(state == "suppressed" for state in states)


async def _state_is(stack: Stack, silence_id: str, state: str) -> bool:
    return await stack.silence_state(silence_id) == state


async def test_watch_only_answers_for_alerts_the_silence_covers(
    stack_factory: Callable[..., Awaitable[Stack]], log_stream: io.StringIO
) -> None:
    """An incident with two alerts, only the first silenced (its instance): when the silenced
    one stops firing the watch resolves it alone and the incident stays open; the other,
    not silenced, resolves through Alertmanager's own notification, which resolves the
    incident and expires the silence."""
    stack = await stack_factory(poll_s=FAST_POLL_S, mute=MUTE)
    node_a = {"alertname": "SilPair", "instance": "node-a:9100"}
    node_b = {"alertname": "SilPair", "instance": "node-b:9100"}
    starts_at = minutes_ago(4)
    await stack.fire(node_a, starts_at)
    silence_id = await silenced(stack)
    await stack.fire(node_b, starts_at)
    assert await until(lambda: _alert_count(stack, 2), "node-b to join the incident")
    assert sorted(await stack.alert_states("SilPair")) == ["active", "suppressed"]

    ended = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    await stack.fire(node_a, starts_at, endsAt=ended)
    assert await until(lambda: _statuses(stack, ["resolved", "firing"]), "node-a resolved")
    quiet = _rounds(log_stream, resolved=0)
    await until(
        lambda: _polls(log_stream, resolved=0, at_least=3, after=quiet), "three quiet rounds"
    )
    assert await _statuses(stack, ["resolved", "firing"])
    assert await incident_status(stack) == "mitigating"
    assert await stack.silence_state(silence_id) == "active"

    await stack.fire(
        node_b, starts_at, endsAt=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    )
    await stack.narrator.wait_for("incident", lambda c: c.kind.value == "resolved")
    assert await until(lambda: _state_is(stack, silence_id, "expired"), "the silence expired")


async def _alert_count(stack: Stack, count: int) -> bool:
    return len((await detail(stack.medic))["alerts"]) == count


async def _statuses(stack: Stack, statuses: list[str]) -> bool:
    """Whether node-a's and node-b's alerts have these statuses, in that order."""
    alerts = (await detail(stack.medic))["alerts"]
    by_instance = {a["labels"]["instance"]: a["status"] for a in alerts}
    return [by_instance.get("node-a:9100"), by_instance.get("node-b:9100")] == statuses
