"""A client that goes away before its answer (a browser tab leaving the console closes its
event stream; a sender gives up mid-body) is not a server error: one info line
``http.client_gone`` with the method and path, no traceback, no 500."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientConnectionResetError, web
from aiohttp.test_utils import TestClient, TestServer

from bot.http.middleware import json_errors, request_context
from bot.web import stream

from harness.waiting import eventually
from hostilekit import ANSWER_WITHIN_S, request_head
from logkit import log_lines
from medickit import AM_TOKEN, StartMedic, make_settings

AM = "/webhooks/alertmanager"
EVENTS = "/ui/events"
# What Medic may log about a request that ended without an answer.
_ENDINGS = {"http.client_gone", "http.unhandled", "http.server_error", "http.request"}


@pytest.fixture
async def raw_connection() -> AsyncIterator[Any]:
    """``await raw_connection(port)``: a raw connection, closed after the test at the latest."""
    writers: list[asyncio.StreamWriter] = []

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
        return reader, writer

    yield connect
    for writer in writers:
        writer.close()


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    """Close the client's end of the connection."""
    writer.close()
    await writer.wait_closed()


async def _how_it_ended(log_stream: io.StringIO, path: str) -> dict[str, Any]:
    """The first line Medic logged about the end of a request for ``path``."""

    async def ending() -> dict[str, Any] | None:
        lines = log_lines(log_stream)
        return next((x for x in lines if x["event"] in _ENDINGS and x.get("path") == path), None)

    return await eventually(ending, ANSWER_WITHIN_S, f"a line about how {path} ended")


def _errors(log_stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in log_lines(log_stream) if line["level"] in ("error", "critical")]


async def test_closing_an_event_stream_is_logged_as_client_gone(
    start_medic: StartMedic,
    sqlite_url: str,
    raw_connection: Any,
    log_stream: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A browser closing ``/ui/events`` (leaving the console) ends the stream's handler
    with one info line ``http.client_gone``: no ``http.unhandled``, no error line, no
    request logged with status 500, also when the handler would write after the client
    left (keep-alive comments every 50 ms here, every 15 s in production)."""
    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.05)
    client = await start_medic(make_settings(sqlite_url))
    reader, writer = await raw_connection(client.port)
    writer.write(request_head("GET", EVENTS))
    async with asyncio.timeout(ANSWER_WITHIN_S):
        await reader.readuntil(b"retry: ")
    await _hang_up(writer)
    await _ended_as_client_gone(log_stream, EVENTS, "GET")


async def test_a_sender_hanging_up_mid_body_is_logged_as_client_gone(
    start_medic: StartMedic, sqlite_url: str, raw_connection: Any, log_stream: io.StringIO
) -> None:
    """An authorized delivery whose sender hangs up halfway through the body (after Medic
    asked for it with ``100 Continue``) is one info line ``http.client_gone``: no error
    line, no traceback, no status 500 logged."""
    server = {"header_timeout": "60s", "body_timeout": "60s"}
    client = await start_medic(make_settings(sqlite_url, server=server))
    reader, writer = await raw_connection(client.port)
    headers = {
        "Authorization": f"Bearer {AM_TOKEN}",
        "Content-Type": "application/json",
        "Content-Length": "4000",
        "Expect": "100-continue",
    }
    writer.write(request_head("POST", AM, headers))
    async with asyncio.timeout(ANSWER_WITHIN_S):
        interim = await reader.readuntil(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100")
    writer.write(b'{"version": "4", ')
    await writer.drain()
    await _hang_up(writer)
    await _ended_as_client_gone(log_stream, AM, "POST")


async def _ended_as_client_gone(log_stream: io.StringIO, path: str, method: str) -> None:
    """The request to ``path`` ended as one info line ``http.client_gone`` (no traceback),
    with no error line and no status 500 logged."""
    ended = await _how_it_ended(log_stream, path)
    assert (ended["event"], ended["level"], ended["method"]) == ("http.client_gone", "info", method)
    assert "exception" not in ended
    assert _errors(log_stream) == []
    assert not [x for x in log_lines(log_stream) if x.get("status") == 500]


async def test_a_connection_error_with_the_client_still_there_stays_a_server_error(
    log_stream: io.StringIO,
) -> None:
    """A connection error that is not the client's leaving (here: a call to another
    service reset while the client waits) is still ``http.unhandled``, logged as an error
    with its traceback, and answered 500 in the JSON shape."""

    async def calls_a_broken_service(request: web.Request) -> web.Response:
        raise ClientConnectionResetError("upstream reset the connection")

    app = web.Application(middlewares=[request_context, json_errors])
    app.router.add_get("/upstream", calls_a_broken_service)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/upstream")
        assert answer.status == 500
        assert (await answer.json())["error"] == "internal"
    (unhandled,) = [x for x in log_lines(log_stream) if x["event"] == "http.unhandled"]
    assert unhandled["level"] == "error"
    assert "ClientConnectionResetError" in unhandled["exception"]
    assert not [x for x in log_lines(log_stream) if x["event"] == "http.client_gone"]
