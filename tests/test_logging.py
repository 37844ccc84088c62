"""Logging: JSON lines carrying request and incident ids; secrets redacted."""

from __future__ import annotations

import io
import json
from typing import Any

import structlog

from bot.logging import REDACTED, SecretRedactor, configure_logging

from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_request_and_incident_ids_are_bound(
    start_medic: StartMedic, sqlite_url: str, log_stream: io.StringIO
) -> None:
    """Request log lines carry the caller's X-Request-Id; incident lines carry the incident id."""
    client = await start_medic(make_settings(sqlite_url))
    headers = {**bearer(), "X-Request-Id": "req-abc-123"}
    response = await client.post(
        "/webhooks/alertmanager", json=am_payload(am_alert("fp1")), headers=headers
    )
    assert response.headers["X-Request-Id"] == "req-abc-123"
    await client.close()
    events = _events(log_stream)
    requests = [e for e in events if e["event"] == "http.request"]
    assert [(e["request_id"], e["accepted"]) for e in requests] == [("req-abc-123", 1)]
    opened = [e for e in events if e["event"] == "incident.opened"]
    assert [e["incident"] for e in opened] == ["INC-1"]


def test_secret_keys_and_values_are_redacted() -> None:
    """Secret-looking keys, bearer headers and configured secret values never print."""
    stream = io.StringIO()
    configure_logging(["xoxb-configured-secret"], stream=stream)
    log = structlog.get_logger("test")
    log.info("x", api_token="t0k3n", note="sent Bearer abc.def to peer")
    log.info("y", text="the value xoxb-configured-secret leaked?", authorization="Basic zzz")
    out = stream.getvalue()
    for secret in ("t0k3n", "abc.def", "xoxb-configured-secret", "zzz"):
        assert secret not in out
    first, second = _events(stream)
    assert first["api_token"] == REDACTED
    assert second["text"] == f"the value {REDACTED} leaked?"


def test_threaded_lines_all_arrive_in_order() -> None:
    """Off the event loop (``medic serve``'s stdout) every line arrives, in order and
    whole, once the writer is stopped (as at exit, or when logging is set up again)."""
    written = io.StringIO()
    configure_logging(stream=written, threaded=True)
    log = structlog.get_logger("test")
    for n in range(2000):
        log.info("line", n=n)
    configure_logging(stream=io.StringIO())  # stops the threaded writer: it drains first
    assert [e["n"] for e in _events(written)] == list(range(2000))


def test_secrets_with_separators_or_overlaps_are_redacted_whole() -> None:
    """A configured secret is redacted whole even when it holds spaces or ``;`` after a
    ``token=`` or ``Bearer`` prefix, and of two overlapping secrets the longer is
    redacted first: nothing of either is left in the line."""
    redact = SecretRedactor(["hunter2 is; long", "p@ss word", "abc", "bcdef"])
    texts = {
        "url?token=hunter2 is; long": "url?token=[redacted]",
        "Authorization: Bearer p@ss word": "Authorization: Bearer [redacted]",
        "key abcdef end": "key a[redacted] end",
        "Bearer unknown-token, then more": "Bearer [redacted], then more",
        "nothing to hide": "nothing to hide",
    }
    for text, redacted in texts.items():
        assert redact(None, "info", {"value": text}) == {"value": redacted}
