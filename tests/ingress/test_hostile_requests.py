"""Hostile requests, each one a regression seen as a 500, a hang or a wrong answer: every
malformed request is a 4xx in Medic's JSON error shape naming what is wrong, and nothing
is stored."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from hostilekit import answers_until_closed, exchange, request_head
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload
from slackkit import SIGNING_SECRET, command_body, signed

AM = "/webhooks/alertmanager"
PD = "/webhooks/pagerduty"
SLACK = "/slack/events"
PD_SECRET = "pd-secret-hostile-01"
HUGE = "99999999999999999999999"
ERRORS = {200: "listed", 400: "invalid_payload", 404: "not_found"}
NOW = b"<now>"  # replaced by the current Unix time when the request is sent


def _settings(url: str, **sections: dict[str, Any]) -> Any:
    """Alertmanager token, PagerDuty secret, Slack on (its API on a closed port), API token."""
    return make_settings(
        url,
        server={"api_token": API_TOKEN},
        pagerduty={"webhook_secrets": [PD_SECRET]},
        slack={
            "enabled": True,
            "api_url": "http://127.0.0.1:9/api/",
            "bot_token": "xoxb-hostile",
            "signing_secret": SIGNING_SECRET,
        },
        **sections,
    )


def _pd_event(occurred_at: str = "2026-11-24T03:00:00Z") -> bytes:
    """A PagerDuty v3 ``incident.triggered`` event."""
    event = {
        "event": {
            "id": "01HOSTILE",
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": occurred_at,
            "data": {"id": "PINC001", "title": "hostile", "status": "triggered"},
        }
    }
    return json.dumps(event).encode()


def _pd_signature(body: bytes) -> str:
    return "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def _nothing_stored(client: Any) -> None:
    listing = await client.get("/api/incidents")
    assert (listing.status, await listing.json()) == (200, {"incidents": []})


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (AM, [("Authorization", b"Bearer am\xfftok")], 401),
        ("/api/approvals/APR-1", [("Authorization", b"Bearer am\xfftok")], 401),
        (PD, [("X-PagerDuty-Signature", b"v1=\xff\xfe")], 403),
        (SLACK, [("X-Slack-Request-Timestamp", b"abc"), ("X-Slack-Signature", b"v0=00")], 401),
        (SLACK, [("X-Slack-Request-Timestamp", b""), ("X-Slack-Signature", b"v0=00")], 401),
        (SLACK, [("X-Slack-Request-Timestamp", b"\xff"), ("X-Slack-Signature", b"v0=00")], 401),
        (SLACK, [("X-Slack-Request-Timestamp", NOW), ("X-Slack-Signature", "v0=ü".encode())], 401),
    ],
    ids=["am-bearer", "api-bearer", "pd-signature", "slack-ts-abc", "slack-ts-empty",
         "slack-ts-ff", "slack-sig-non-ascii"],
)  # fmt: skip
async def test_malformed_auth_headers_are_refused_not_500(
    start_medic: StartMedic,
    sqlite_url: str,
    path: str,
    headers: list[tuple[str, bytes]],
    status: int,
) -> None:
    """Auth headers with bytes that are not ASCII, or a Slack timestamp that is no number,
    are refused like any wrong credential (they were 500 with a traceback)."""
    client = await start_medic(_settings(sqlite_url))
    body = b"{}" if path != SLACK else b""
    now = str(int(time.time())).encode()
    sent = [(name, value.replace(NOW, now)) for name, value in headers]
    head = request_head("POST", path, [*sent, ("Content-Length", str(len(body)))])
    answer = await exchange(client.port, head + body)
    assert answer.status == status
    assert answer.is_json_error
    await _nothing_stored(client)


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [(PD, 400, "unauthorized"), (SLACK, 401, "unauthorized"), (AM, 401, "unauthorized")],
    ids=["pagerduty", "slack", "alertmanager"],
)
async def test_missing_credentials_are_refused_from_the_headers_alone(
    start_medic: StartMedic, sqlite_url: str, path: str, status: int, error: str
) -> None:
    """A request declaring an 8 MiB body without a signature or token is answered before
    any of the body is sent: Medic never reads (or buffers) an unauthenticated body."""
    client = await start_medic(_settings(sqlite_url))
    head = request_head("POST", path, {"Content-Length": str(8 * 1024 * 1024 + 1)})
    answer = await exchange(client.port, head)
    assert (answer.status, answer.json()["error"]) == (status, error)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (PD, lambda: {"X-PagerDuty-Signature": "v1=" + "0" * 64}),
        (SLACK, lambda: signed("")),  # signed when the test runs: Slack's 5-minute window
    ],
    ids=["pagerduty", "slack"],
)
async def test_small_protocols_have_small_body_limits(
    start_medic: StartMedic,
    sqlite_url: str,
    path: str,
    headers: Callable[[], dict[str, str]],
) -> None:
    """PagerDuty events and Slack payloads are small: a 2 MiB body is 413 from its
    Content-Length, far below ``server.max_body_bytes``."""
    client = await start_medic(_settings(sqlite_url))
    head = request_head("POST", path, {**headers(), "Content-Length": str(2 * 1024 * 1024)})
    answer = await exchange(client.port, head)
    assert (answer.status, answer.json()["error"]) == (413, "too_large")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("startsAt", "9999-12-31T23:00:00-05:00"),
        ("endsAt", "9999-12-31T23:00:00-05:00"),
        ("startsAt", "0001-01-01T01:00:00+05:00"),
        ("endsAt", "0001-01-01T01:00:00+05:00"),
        ("startsAt", 7),
        ("startsAt", "2026-11-24T03:00:00"),
    ],
    ids=[
        "starts-after-9999",
        "ends-after-9999",
        "starts-before-year-1",
        "ends-before-year-1",
        "number",
        "naive",
    ],
)
async def test_bad_timestamps_are_400_naming_the_field(
    start_medic: StartMedic, sqlite_url: str, field: str, value: object
) -> None:
    """Timestamps outside what can be stored, numbers and naive times are a 400 naming the
    field (they were 500s that Alertmanager retries forever, or silently 1970)."""
    client = await start_medic(_settings(sqlite_url))
    alert = am_alert("fp1") | {field: value}
    response = await client.post(AM, json=am_payload(alert), headers=bearer())
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_payload")
    assert f"alerts.0.{field}" in body["detail"]
    await _nothing_stored(client)


@pytest.mark.parametrize("ends_at", ["0001-01-01T00:00:00Z", "0001-01-01T05:00:00+05:00"])
async def test_go_zero_time_in_any_offset_is_no_end(
    start_medic: StartMedic, sqlite_url: str, ends_at: str
) -> None:
    """Alertmanager's "no end" is Go's zero instant, in whatever offset it is written: the
    alert is accepted and firing (only an earlier instant, unstorable, is a 400)."""
    client = await start_medic(_settings(sqlite_url))
    alert = am_alert("fp1") | {"endsAt": ends_at}
    response = await client.post(AM, json=am_payload(alert), headers=bearer())
    assert (response.status, await response.json()) == (200, {"accepted": 1, "duplicates": 0})


async def test_truncated_alerts_must_be_a_number(start_medic: StartMedic, sqlite_url: str) -> None:
    """No lenient coercion at the edge: ``"truncatedAlerts": "3"`` is refused."""
    client = await start_medic(_settings(sqlite_url))
    payload = am_payload(am_alert("fp1")) | {"truncatedAlerts": "3"}
    response = await client.post(AM, json=payload, headers=bearer())
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_payload")
    assert "truncatedAlerts" in body["detail"]


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"])
async def test_signed_pagerduty_event_with_impossible_time_is_refused(
    start_medic: StartMedic, sqlite_url: str, occurred_at: str
) -> None:
    """A signed event whose ``occurred_at`` cannot be stored is 400 (it was 202 and then
    silently dropped by the engine)."""
    client = await start_medic(_settings(sqlite_url))
    body = _pd_event(occurred_at)
    response = await client.post(
        PD, data=body, headers={"X-PagerDuty-Signature": _pd_signature(body)}
    )
    answer = await response.json()
    assert (response.status, answer["error"]) == (400, "invalid_payload")
    assert "event.occurred_at" in answer["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/api/incidents/INC-{HUGE}", 404),
        ("GET", f"/api/incidents/INC-{HUGE}/report", 404),
        ("GET", f"/api/incidents/INC-{HUGE}/graph.png", 404),
        ("POST", f"/api/approvals/APR-{HUGE}", 404),
        ("GET", f"/api/incidents?limit={HUGE}", 200),
        ("GET", "/api/incidents/INC-%EF%BC%91", 404),  # INC- and a full-width digit one
        ("GET", "/api/incidents?limit=%EF%BC%91%EF%BC%90", 400),  # limit= full-width ten
        ("GET", "/api/incidents/INC-+1", 404),
        ("GET", "/api/incidents/INC-0", 404),
    ],
    ids=["detail", "report", "graph", "approval", "limit", "full-width-id", "full-width-limit",
         "signed-id", "zero-id"],
)  # fmt: skip
async def test_ids_and_limits_are_ascii_digits_in_range(
    start_medic: StartMedic, sqlite_url: str, method: str, path: str, status: int
) -> None:
    """Ids and ``limit`` are ASCII digits: anything else, or an id the store cannot hold, is
    404 (no such incident or approval) or 400 (a bad limit), never a 500 or another
    incident; a limit past any store's range lists everything."""
    client = await start_medic(_settings(sqlite_url))
    assert (await client.post(AM, json=am_payload(am_alert("fp1")), headers=bearer())).status == 200
    body = {"decision": "approve", "user": "U1"} if method == "POST" else None
    headers = bearer(API_TOKEN) if method == "POST" else None
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status == status
    answer = await response.json()
    assert answer.get("error", "listed") == ERRORS[status]


@pytest.mark.parametrize(
    ("label", "status"),
    [("C:\\u0000dir", 200), ("C:\\\\u0000dir", 200), ("nul\u0000here", 400)],
    ids=["escaped-backslash-text", "double-backslash-text", "real-nul"],
)
async def test_only_real_nul_characters_are_refused(
    start_medic: StartMedic, sqlite_url: str, label: str, status: int
) -> None:
    """A label whose text contains backslash-u-0000 is ordinary text and is accepted (it was
    a 400, which Alertmanager drops for good); a real NUL character is a 400 naming where."""
    client = await start_medic(_settings(sqlite_url))
    payload = am_payload(am_alert("fp1", path=label))
    response = await client.post(AM, json=payload, headers=bearer())
    assert response.status == status
    if status == 400:
        assert "alerts.0.labels.path" in (await response.json())["detail"]
    else:
        detail = await (await client.get("/api/incidents/INC-1")).json()
        assert detail["alerts"][0]["labels"]["path"] == label


@pytest.mark.parametrize(
    "raw",
    [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ],
    ids=["bad-chunk-size", "bad-content-length", "two-lengths", "length-and-chunked"],
)
async def test_framing_errors_answer_in_the_json_error_shape(
    start_medic: StartMedic, sqlite_url: str, raw: bytes
) -> None:
    """aiohttp's own refusals of broken HTTP framing answer 400 in Medic's JSON shape (they
    were plain text)."""
    client = await start_medic(_settings(sqlite_url))
    head = f"POST {AM} HTTP/1.1\r\nHost: x\r\n{_authorization()}\r\n".encode()
    answer = await exchange(client.port, head + raw)
    assert answer.status == 400
    assert answer.is_json_error


async def test_bytes_past_the_content_length_are_a_json_400(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """Bytes past a request's Content-Length are read as the next request: it gets a 400 in
    the JSON error shape (the request before it is answered too, unless both arrived in
    one read, which aiohttp refuses as a whole), then the connection closes."""
    client = await start_medic(_settings(sqlite_url))
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}garbage\r\n\r\n"
    *before, last = await answers_until_closed(client.port, raw)
    assert [a.status for a in before] in ([], [200])
    assert (last.status, last.is_json_error) == (400, True)


def _authorization() -> str:
    return f"Authorization: {bearer()['Authorization']}"


async def test_slack_command_still_works_after_the_header_checks(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A properly signed slash command passes the header checks made before bolt."""
    client = await start_medic(_settings(sqlite_url))
    body = command_body("help")
    response = await client.post(SLACK, data=body, headers=signed(body))
    assert response.status == 200
    assert "incident" in (await response.json())["text"]


@pytest.mark.parametrize(
    ("body", "sign", "status"),
    [
        ('{"not": json', False, 401),
        ('{"not": json', True, 400),
        ('{"a": ' * 5000 + "1" + "}" * 5000, True, 400),
        ("payload=%7Bnot+json", True, 400),
        ("[[[]]]", True, 404),
    ],
    ids=[
        "unsigned-broken-json",
        "signed-broken-json",
        "signed-deep-nesting",
        "signed-bad-payload",
        "signed-unhandled",
    ],
)
async def test_slack_bodies_bolt_cannot_parse_are_refused_not_500(
    start_medic: StartMedic, sqlite_url: str, body: str, sign: bool, status: int
) -> None:
    """Bolt parses a body before it checks its signature and fails on broken JSON (found by
    the corpus as a 500): the signature is checked first (401), and a signed body bolt
    cannot read is a 400."""
    client = await start_medic(_settings(sqlite_url))
    headers = signed(body) if sign else signed(body, secret="not-the-secret")
    response = await client.post(SLACK, data=body.encode(), headers=headers)
    assert response.status == status
    assert (await response.json())["error"] in {"unauthorized", "invalid_payload", "not_found"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_is_not_in_its_declared_encoding_is_a_json_400(
    start_medic: StartMedic, sqlite_url: str, encoding: str
) -> None:
    """A body sent with ``Content-Encoding: gzip`` (or deflate) that is not compressed
    cannot be decoded: 400 in the JSON error shape (it was a 500, which senders retry),
    and nothing is stored."""
    client = await start_medic(_settings(sqlite_url))
    body = json.dumps(am_payload(am_alert("EncodedWrongly"))).encode()
    answer = await client.post(AM, data=body, headers={**bearer(), "Content-Encoding": encoding})
    assert answer.status == 400
    assert (await answer.json())["error"] == "invalid_payload"
    await _nothing_stored(client)
