"""What a reader of a large incident may cost Medic: an alert storm makes an incident whose
detail (``GET /api/incidents/{id}``, ``GET /ui/incidents/{id}``) is megabytes. At most
``LARGE_ANSWERS`` such answers are in flight at once, each must be read within
``server.body_timeout``, and a client that does not read is cut off."""

from __future__ import annotations

import io
import json
import socket
import time
from typing import Any

import pytest

from bot.http.limits import LARGE_ANSWERS, REQUEST_LIMITS
from bot.runtime import RUNTIME
from bot.store.views import incident_detail

from harness.waiting import eventually
from hostilekit import (
    ANSWER_WITHIN_S,
    answer_begun,
    received_until_closed,
    request_head,
    send_and_never_read,
    still_open,
)
from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

AM = "/webhooks/alertmanager"
STORM_ALERTS = 1500
# ~4 KiB of description per alert: the detail is ~6.5 MB of JSON (twice that as a page),
# more than the kernel's socket buffers take for a client that does not read (~3 MB here).
DESCRIPTION = "the error budget burns; " * 170
FAST = {"header_timeout": "300ms", "body_timeout": "1s"}
CUT = "http.answer_cut"


async def _storm(client: Any) -> None:
    """One group's alert storm: INC-1 with :data:`STORM_ALERTS` alerts."""
    alerts = [am_alert(f"fp{i:05d}", instance=f"node-{i}") for i in range(STORM_ALERTS)]
    for alert in alerts:
        alert["annotations"]["description"] = DESCRIPTION
    response = await client.post(AM, json=am_payload(*alerts), headers=bearer())
    assert response.status == 200


async def _stored_detail(client: Any) -> bytes:
    """INC-1's detail as the store has it, serialised as the API always did."""
    async with client.app[RUNTIME].db.connect() as conn:
        detail = await incident_detail(conn, 1)
    assert detail is not None
    return detail.model_dump_json().encode()


def _log(log_stream: io.StringIO) -> list[dict[str, Any]]:
    """Medic's log lines so far."""
    return [json.loads(line) for line in log_stream.getvalue().splitlines()]


def _cuts(log_stream: io.StringIO) -> list[dict[str, Any]]:
    """The log lines of clients cut off."""
    return [line for line in _log(log_stream) if line["event"] == CUT]


async def _answered(holders: list[socket.socket]) -> bool:
    """Whether every holder's answer has begun (its handler took a slot)."""
    return all(answer_begun(sock) for sock in holders)


async def _closed(holders: list[socket.socket]) -> bool:
    """Whether Medic has closed or reset every one of ``holders``."""
    return not any(still_open(sock) for sock in holders)


@pytest.mark.parametrize("path", ["/api/incidents/INC-1", "/ui/incidents/INC-1"])
async def test_a_client_that_does_not_read_a_large_incident_is_cut_off(
    start_medic: StartMedic, sqlite_url: str, log_stream: io.StringIO, path: str
) -> None:
    """A client that asks for a large incident's detail and never reads it is cut off once
    ``server.body_timeout`` passes (the connection ends short of the body; one info line,
    no traceback); a client that reads gets the whole body, byte for byte, with the same
    headers as ever."""
    client = await start_medic(make_settings(sqlite_url, server=FAST))
    await _storm(client)
    sock = await send_and_never_read(client.port, request_head("GET", path))
    try:
        await eventually(lambda: _closed([sock]), ANSWER_WITHIN_S, "the non-reader to be cut off")
        received = await received_until_closed(sock, ANSWER_WITHIN_S)
    finally:
        sock.close()
    whole = await client.get(path)
    body = await whole.read()
    assert received < len(body)
    (cut,) = _cuts(log_stream)
    assert (cut["level"], cut["path"], cut.get("exception")) == ("info", path, None)
    assert not [line for line in _log(log_stream) if line["level"] in ("warning", "error")]
    assert whole.status == 200
    assert whole.headers["Content-Length"] == str(len(body))
    assert whole.headers["X-Request-Id"]
    if path.startswith("/api/"):
        assert whole.headers["Content-Type"] == "application/json; charset=utf-8"
        assert body == await _stored_detail(client)
    else:
        assert whole.headers["Content-Type"] == "text/html; charset=utf-8"
        assert whole.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert whole.headers["Cache-Control"] == "no-store"
        assert "medic_csrf" in whole.cookies
        assert body.rstrip().endswith(b"</html>")
        assert body.count(DESCRIPTION.encode()) == STORM_ALERTS


async def test_with_every_large_answer_slot_held_another_detail_read_gets_503(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """While ``LARGE_ANSWERS`` clients that do not read hold every slot, another detail
    read gets 503 ``unavailable`` after ``server.header_timeout`` (not after the holders'
    ``server.body_timeout``), and /healthz and a webhook still answer 200; once the holders
    are cut off, their slots are free and the detail is served again."""
    server = {"header_timeout": "300ms", "body_timeout": "3s"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    await _storm(client)
    holders = [
        await send_and_never_read(client.port, request_head("GET", "/api/incidents/INC-1"))
        for _ in range(LARGE_ANSWERS)
    ]
    try:
        await eventually(lambda: _answered(holders), ANSWER_WITHIN_S, "the holders' answers")
        assert all(answer_begun(sock).startswith(b"HTTP/1.1 200") for sock in holders)

        async def refused() -> tuple[dict[str, Any], float] | None:
            started = time.monotonic()
            response = await client.get("/api/incidents/INC-1")
            body = await response.read()
            return (
                (json.loads(body), time.monotonic() - started) if response.status == 503 else None
            )

        answer, took_s = await eventually(refused, ANSWER_WITHIN_S, "a 503 for the detail")
        assert answer["error"] == "unavailable"
        assert "large" in answer["detail"]
        assert took_s < 2.0
        assert (await client.get("/healthz")).status == 200
        webhook = await client.post(
            AM, json=am_payload(am_alert("other"), group_key="g2"), headers=bearer()
        )
        assert webhook.status == 200
        assert all(still_open(sock) for sock in holders)  # all that happened while they held
        await eventually(lambda: _closed(holders), ANSWER_WITHIN_S, "the holders to be cut off")
    finally:
        for sock in holders:
            sock.close()
    again = await client.get("/api/incidents/INC-1")
    assert again.status == 200
    assert await again.read() == await _stored_detail(client)


@pytest.mark.parametrize("path", ["/api/incidents/INC-1", "/ui/incidents/INC-1"])
async def test_a_head_request_for_a_large_answer_gives_its_slot_back(
    start_medic: StartMedic, sqlite_url: str, path: str
) -> None:
    """``HEAD`` of an incident's detail (aiohttp answers HEAD on every GET route) has no
    body to send, so the body cannot be what gives the slot back: more HEADs than there
    are slots, then a GET still gets 200. (Seen failing: each HEAD kept its slot for good
    and the GET got 503.)"""
    client = await start_medic(make_settings(sqlite_url, server=FAST))
    await _storm(client)
    for _ in range(LARGE_ANSWERS + 1):
        head = await client.head(path)
        assert head.status == 200
    assert client.app[REQUEST_LIMITS].large_answers.reserved == 0
    again = await client.get(path)
    assert again.status == 200
