"""Hostile bodies on the decision API and on Slack, each found by a black-box probe as a
500 or as text no store can keep: every malformed request is a 4xx in Medic's JSON error
shape (a Slack command gets an ephemeral refusal instead), and nothing is stored."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from enginekit import api, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload
from slackkit import SIGNING_SECRET, click_payload, command_body, signed

SLACK = "/slack/events"
ADMIN = "U0ADMIN"
MANUAL = """
name: manual-fix
target: "deployment/prod/api"
steps:
  - id: fix
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""
DEEP = 100_000
DIGITS = 5_000
SLACK_DEADLINE_S = 3.0
"""Slack shows the user an error when a command is not acknowledged within 3 s."""


async def _medic(start_medic: StartMedic, sqlite_url: str, tmp_path: Path) -> Any:
    """Medic with the bridge API token, an admin, a manual playbook and Slack (its Web API
    on a closed port: replies to commands are the HTTP answers themselves)."""
    settings = make_settings(
        sqlite_url,
        server={"api_token": API_TOKEN},
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", manual=MANUAL))]},
        slack={
            "enabled": True,
            "api_url": "http://127.0.0.1:9/api/",
            "bot_token": "xoxb-hostile",
            "signing_secret": SIGNING_SECRET,
            "admins": [ADMIN],
        },
    )
    return await start_medic(settings)


async def _with_incident(client: TestClient[Any, Any]) -> None:
    """INC-1, from one alert no playbook matches."""
    payload = am_payload(am_alert("fp1", alertname="Unmatched"))
    response = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
    assert response.status == 200


async def _paused(client: TestClient[Any, Any]) -> bool:
    """``medic_paused`` as /metrics reports it."""
    text = await (await client.get("/metrics")).text()
    (line,) = [line for line in text.splitlines() if line.startswith("medic_paused ")]
    return float(line.split()[1]) == 1


async def _runs_of_inc_1(client: TestClient[Any, Any]) -> list[Any]:
    runs: list[Any] = (await (await client.get("/api/incidents/INC-1")).json())["runs"]
    return runs


async def _incidents(client: TestClient[Any, Any]) -> list[Any]:
    found: list[Any] = (await (await client.get("/api/incidents")).json())["incidents"]
    return found


def _deep(value: str) -> str:
    return "[" * DEEP + value + "]" * DEEP


def _as_admin(fields: str) -> str:
    """A JSON object of ``fields`` (raw JSON text) sent by the admin."""
    return '{"user":"' + ADMIN + '",' + fields + "}"


RUNS = "/api/incidents/INC-1/runs"


def _run_with(params: str) -> str:
    """A run of ``manual-fix`` by the admin with ``params`` (raw JSON text)."""
    return _as_admin('"playbook":"manual-fix","params":' + params)


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/api/pause", _as_admin('"reason":' + _deep("1")), "invalid_json"),
        ("/api/pause", _as_admin('"reason":' + _deep('"\\u0000"')), "invalid_json"),
        ("/api/pause", _as_admin('"reason":' + "9" * DIGITS), "invalid_json"),
        ("/api/approvals/APR-1", _as_admin('"decision":' + _deep("1")), "invalid_json"),
        (RUNS, _run_with('{"a":' + "9" * DIGITS + "}"), "invalid_json"),
        (RUNS, _run_with('{"namespace":"a\\ud800"}'), "invalid_json"),
        (RUNS, _run_with('{"a\\udc00":"x"}'), "invalid_json"),
        ("/api/pause", _as_admin('"reason":"x\\u0000y"'), "invalid_payload"),
        (RUNS, _run_with('{"namespace":"a\\u0000"}'), "invalid_payload"),
        (RUNS, _run_with('{"a\\u0000":"x"}'), "invalid_payload"),
    ],
    ids=["pause-deep", "pause-deep-nul", "pause-5000-digits", "approval-deep",
         "runs-5000-digits", "runs-lone-surrogate", "runs-surrogate-key", "pause-nul",
         "runs-nul", "runs-nul-key"],
)  # fmt: skip
async def test_the_api_refuses_what_no_store_can_keep_with_a_400(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, path: str, body: str, error: str
) -> None:
    """The decision API parses like the webhooks: deep nesting, a 5000-digit number or a
    lone surrogate is 400 ``invalid_json`` (they were 500 ``internal``), a NUL character
    400 ``invalid_payload`` naming the field (it was stored); nothing is paused or run."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    await _with_incident(client)
    response = await client.post(path, data=body.encode(), headers=_json_api())
    assert response.status == 400, await response.text()
    answer = await response.json()
    assert (answer["error"], set(answer)) == (error, {"error", "detail"})
    assert not await _paused(client)
    assert await _runs_of_inc_1(client) == []


_JSON = {"Content-Type": "application/json"}


def _json_api() -> dict[str, str]:
    return {**api(), **_JSON}


async def test_a_nul_in_a_slack_command_is_refused_ephemerally(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """``/incident declare bad%00title`` was declared with a NUL in its title (PostgreSQL
    refuses it): it gets an ephemeral refusal naming the NUL, and no incident exists;
    ``/incident pause`` with a NUL pauses nothing."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    for text, user in (("declare bad\x00title", "U0ONCALL1"), ("pause x\x00y", ADMIN)):
        reply = await _command(client, text, user=user)
        assert reply["response_type"] == "ephemeral"
        assert "NUL" in reply["text"]
    assert await _incidents(client) == []
    assert not await _paused(client)


async def test_over_long_slack_command_text_is_refused_at_once(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """``/incident declare`` with 500,000 characters took 3.5 s to answer (past Slack's 3 s)
    and echoed all of them: text over 4,000 characters gets a short ephemeral refusal
    within Slack's deadline, and no incident is declared."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    started = time.monotonic()
    reply = await _command(client, "declare " + "x" * 500_000)
    elapsed = time.monotonic() - started
    assert reply["response_type"] == "ephemeral"
    assert "4000" in reply["text"].replace(",", "")
    assert len(reply["text"]) < 500
    assert elapsed < SLACK_DEADLINE_S
    assert await _incidents(client) == []


async def test_a_declared_title_is_echoed_as_stored(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A title within the command's bound but over the 200 stored characters is declared;
    the reply echoes the title as stored (it echoed all of it)."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    title = "".join(f"{n:04d}" for n in range(900))  # 3,600 characters, none alike
    reply = await _command(client, "declare " + title)
    assert reply["response_type"] == "in_channel"
    (stored,) = await _incidents(client)
    assert stored["title"] == title[:200]
    assert title[:200] in reply["text"]
    assert title[:201] not in reply["text"]


async def _command(client: TestClient[Any, Any], text: str, user: str = "U0ONCALL1") -> Any:
    body = command_body(text, user=user)
    response = await client.post(SLACK, data=body, headers=signed(body))
    assert response.status == 200, await response.text()
    return await response.json()


def _form_payload(payload: str) -> str:
    return urlencode({"payload": payload})


def _click_with(**fields: Any) -> str:
    return _form_payload(json.dumps({**click_payload("APR-1", user=ADMIN, channel="C1"), **fields}))


_EVENT = {"type": "event_callback", "team_id": "T0001", "api_app_id": "A0MEDIC"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_form_payload("[]"), "application/x-www-form-urlencoded"),
        (_form_payload('"x"'), "application/x-www-form-urlencoded"),
        (_form_payload("null"), "application/x-www-form-urlencoded"),
        (_form_payload("1"), "application/x-www-form-urlencoded"),
        ("[1,2]", "application/json"),
        (_click_with(actions="x"), "application/x-www-form-urlencoded"),
        (_click_with(actions=[{}]), "application/x-www-form-urlencoded"),
        (_click_with(actions=[1]), "application/x-www-form-urlencoded"),
        (json.dumps({**_EVENT, "event": "x"}), "application/json"),
    ],
    ids=["payload-list", "payload-string", "payload-null", "payload-number", "json-list",
         "actions-string", "actions-empty-object", "actions-number", "event-string"],
)  # fmt: skip
async def test_signed_slack_bodies_of_unexpected_shape_are_400(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, body: str, content_type: str
) -> None:
    """Validly signed requests whose payload is not the object Slack sends, or whose
    ``actions`` / ``event`` are not what Slack sends, were 500 (some with an empty body):
    they are 400 ``invalid_payload`` in the JSON error shape, and nothing is stored."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    headers = {**signed(body), "Content-Type": content_type}
    response = await client.post(SLACK, data=body.encode(), headers=headers)
    assert response.status == 400, (response.status, await response.text())
    answer = await response.json()
    assert (answer["error"], set(answer)) == ("invalid_payload", {"error", "detail"})
    assert await _incidents(client) == []


@pytest.mark.parametrize(
    "path", ["/webhooks/alertmanager", "/api/pause"], ids=["alertmanager", "api"]
)
async def test_deep_nesting_around_a_nul_is_invalid_json(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, path: str
) -> None:
    """The NUL search of a body holding ``\\u0000`` parsed it with Python's recursive json
    first, so deep nesting around one was a RecursionError (500) on the webhooks too: it
    is 400 ``invalid_json``, like deep nesting without one, and nothing is stored."""
    client = await _medic(start_medic, sqlite_url, tmp_path)
    body = _as_admin('"alerts":' + _deep('"\\u0000"'))
    headers = _json_api() if path.startswith("/api/") else {**bearer(), **_JSON}
    response = await client.post(path, data=body.encode(), headers=headers)
    assert response.status == 400, await response.text()
    assert (await response.json())["error"] == "invalid_json"
    assert await _incidents(client) == []
    assert not await _paused(client)
