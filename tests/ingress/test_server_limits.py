"""What one client may cost Medic: ``server.header_timeout``, ``server.body_timeout``,
``server.max_connections`` and ``server.max_inflight_bytes``, on Medic's own server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from harness.waiting import eventually
from hostilekit import ANSWER_WITHIN_S, closed_by_server, read_answer, request_head
from logkit import log_lines
from medickit import AM_TOKEN, StartMedic, make_settings
from payloads import am_alert, am_payload

AM = "/webhooks/alertmanager"
FAST = {"header_timeout": "300ms", "body_timeout": "500ms"}


class Connections:
    """Raw connections a test opens; all closed after it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def connect(self, data: bytes = b"") -> asyncio.StreamReader:
        """A new connection that has sent ``data`` (and nothing more)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.open.append((reader, writer))
        writer.write(data)
        await writer.drain()
        return reader

    def close(self) -> None:
        for _, writer in self.open:
            writer.close()


@pytest.fixture
async def connections() -> AsyncIterator[Any]:
    """Open raw connections with ``(await connections(port)).connect(data)``."""
    made: list[Connections] = []

    def make(port: int) -> Connections:
        made.append(Connections(port))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _slow_body_head(length: int = 4000) -> bytes:
    """An authorized webhook head announcing ``length`` bytes, and the body's first bytes."""
    head = request_head(
        "POST", AM, {"Authorization": f"Bearer {AM_TOKEN}", "Content-Length": str(length)}
    )
    return head + b'{"version": "4", '


async def _answer_then_close(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The one answer the server sends before closing: status and JSON body."""
    async with asyncio.timeout(ANSWER_WITHIN_S):
        answer = await read_answer(reader)
    rest = await closed_by_server(reader, ANSWER_WITHIN_S)
    assert rest == b""
    return {"status": answer.status, **json.loads(answer.body)}


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Len"],
    ids=["nothing", "half-a-head"],
)
async def test_a_slow_request_head_is_cut_off(
    start_medic: StartMedic, sqlite_url: str, connections: Any, sent: bytes
) -> None:
    """A connection that does not deliver a whole request head within
    ``server.header_timeout`` gets a 408 in the JSON shape and is closed."""
    client = await start_medic(make_settings(sqlite_url, server=FAST))
    reader = await connections(client.port).connect(sent)
    answer = await _answer_then_close(reader)
    assert (answer["status"], answer["error"]) == (408, "timeout")
    assert "request head" in answer["detail"]


async def test_a_slow_body_is_cut_off(
    start_medic: StartMedic, sqlite_url: str, connections: Any
) -> None:
    """An authorized request whose body does not arrive within ``server.body_timeout``
    gets a 408 naming the key, and the connection is closed; nothing is stored."""
    client = await start_medic(make_settings(sqlite_url, server=FAST))
    reader = await connections(client.port).connect(_slow_body_head())
    answer = await _answer_then_close(reader)
    assert (answer["status"], answer["error"]) == (408, "timeout")
    assert "server.body_timeout" in answer["detail"]
    assert (await (await client.get("/api/incidents")).json()) == {"incidents": []}


async def test_at_the_connection_cap_idle_connections_make_room(
    start_medic: StartMedic, sqlite_url: str, connections: Any
) -> None:
    """With ``server.max_connections`` idle connections open, a new client is still served:
    the oldest connection that is not inside a request is closed to make room."""
    server = {"max_connections": 4, "header_timeout": "60s"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    opened = connections(client.port)
    idle = [await opened.connect() for _ in range(4)]
    health = await client.get("/healthz")
    assert health.status == 200
    assert await closed_by_server(idle[0], ANSWER_WITHIN_S) == b""


async def test_when_every_connection_is_busy_a_new_one_gets_503(
    start_medic: StartMedic, sqlite_url: str, connections: Any
) -> None:
    """When every connection under the cap is inside a request, a new one is answered 503
    in the JSON shape and closed (Alertmanager retries a 503)."""
    server = {"max_connections": 3, "header_timeout": "60s", "body_timeout": "60s"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    opened = connections(client.port)
    for _ in range(3):
        await opened.connect(_slow_body_head())
    refused = await opened.connect(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await _answer_then_close(refused)
    assert (answer["status"], answer["error"]) == (503, "unavailable")
    assert "server.max_connections=3" in answer["detail"]


async def _open_event_stream(opened: Connections) -> asyncio.StreamReader:
    """A new anonymous ``GET /ui/events`` whose stream has started (its first event came);
    nothing more is read from it."""
    reader = await opened.connect(request_head("GET", "/ui/events"))
    async with asyncio.timeout(ANSWER_WITHIN_S):
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"retry: ")
    assert head.startswith(b"HTTP/1.1 200")
    return reader


async def test_open_event_streams_do_not_lock_out_probes_and_senders(
    start_medic: StartMedic, sqlite_url: str, connections: Any, log_stream: Any
) -> None:
    """With more anonymous ``/ui/events`` streams opened than ``server.max_connections``
    and none of them read, ``/healthz``, ``/readyz`` and an authenticated Alertmanager
    delivery still answer 200: the oldest streams are pushed out (closed by the server) to
    make room, and their handlers end quietly (an info line, no error)."""
    server = {"max_connections": 8, "header_timeout": "60s"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    opened = connections(client.port)
    streams = [await _open_event_stream(opened) for _ in range(12)]
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    delivery = await client.post(
        AM, data=json.dumps(am_payload(am_alert("fp1"))), headers=_bearer()
    )
    assert delivery.status == 200
    await closed_by_server(streams[0], ANSWER_WITHIN_S)

    async def stream_handler_ended() -> bool:
        return any(line["event"] == "http.client_gone" for line in log_lines(log_stream))

    await eventually(stream_handler_ended, ANSWER_WITHIN_S, "a pushed-out stream's handler to end")
    assert [line for line in log_lines(log_stream) if line["level"] in ("error", "critical")] == []


async def test_request_bodies_in_flight_are_bounded(
    start_medic: StartMedic, sqlite_url: str, connections: Any
) -> None:
    """``server.max_inflight_bytes`` bounds the bodies held at once: while one slow body
    holds the whole budget, another delivery waits ``server.header_timeout`` for room and
    then gets 503 (to retry); once the slow one is gone, deliveries are taken."""
    server = {"max_body_bytes": 4096, "max_inflight_bytes": 4096, "header_timeout": "300ms"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    opened = connections(client.port)
    await opened.connect(_slow_body_head(4000))
    payload = json.dumps(am_payload(am_alert("fp1")))
    waiting = await client.post(AM, data=payload, headers=_bearer())
    assert waiting.status == 503
    assert "server.max_inflight_bytes" in (await waiting.json())["detail"]
    opened.close()  # the slow sender goes away: its handler ends, its share is free again
    taken = await eventually_taken(client, payload)
    assert taken == {"accepted": 1, "duplicates": 0}


async def eventually_taken(client: Any, payload: str) -> Any:
    """Deliver ``payload`` until it is taken (503s while the budget is still held)."""

    async def attempt() -> Any:
        response = await client.post(AM, data=payload, headers=_bearer())
        return await response.json() if response.status == 200 else None

    return await eventually(attempt, ANSWER_WITHIN_S, "the delivery to be taken")


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
