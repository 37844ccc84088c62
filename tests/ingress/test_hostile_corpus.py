"""A hypothesis-driven corpus of hostile requests against the three webhook endpoints of a
real ``medic serve`` (Slack and PagerDuty on): wrong types, out-of-range and naive
timestamps, NUL characters, deep nesting, bytes that are not UTF-8, sizes past the limits,
chunked bodies, malformed and forged credentials. Every answer is a 4xx in Medic's JSON
error shape, nothing reaches the store, and the server still answers afterwards."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.http import get_json
from harness.medic import MedicProcess
from hostilekit import RawAnswer, request_head
from payloads import am_alert, am_payload

AM = "/webhooks/alertmanager"
PD = "/webhooks/pagerduty"
SLACK = "/slack/events"
AM_TOKEN = "am-corpus-token"
PD_SECRET = "pd-corpus-secret"
SLACK_SECRET = "slack-corpus-secret"
EXAMPLES = 300
BODY_LIMIT = 64 * 1024
ERROR_CODES = {"invalid_json", "invalid_payload", "unauthorized", "forbidden", "too_large"}
JOURNALS = ("alerts", "inbound_events", "webhook_deliveries", "incidents")


@pytest.fixture(scope="module")
def medic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedicProcess]:
    """``medic serve`` with an Alertmanager token, a PagerDuty webhook secret and Slack on
    (its Web API on a closed port), small body limits to reach them cheaply."""
    tmp = tmp_path_factory.mktemp("corpus")
    env = {
        "MEDIC_SERVER__MAX_BODY_BYTES": str(BODY_LIMIT),
        "MEDIC_PAGERDUTY__WEBHOOK_SECRETS": json.dumps([PD_SECRET]),
        "MEDIC_SLACK__ENABLED": "true",
        "MEDIC_SLACK__API_URL": "http://127.0.0.1:9/api/",
        "MEDIC_SLACK__BOT_TOKEN": "xoxb-corpus",
        "MEDIC_SLACK__SIGNING_SECRET": SLACK_SECRET,
    }
    store = f"sqlite:///{tmp / 'medic.db'}"
    with MedicProcess(tmp, store_url=store, bearer_token=AM_TOKEN, extra_env=env) as server:
        server.start(timeout=90)
        yield server


# --- bodies --------------------------------------------------------------------------------

NAIVE_OR_IMPOSSIBLE_TIMES = st.sampled_from(
    [
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T01:00:00+05:00",
        "1969-12-31T23:59:59Z",
        "9000-01-01T00:00:00Z",
        "2026-11-24T03:00:00",
        "2026-13-40T25:61:00Z",
        "",
        "yesterday",
    ]
)
NOT_A_STRING = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.lists(st.integers())
)
NOT_AN_INT = st.one_of(
    st.text(alphabet="0123456789", min_size=1), st.floats(allow_nan=False), st.booleans()
)
NESTED = st.recursive(
    st.one_of(st.integers(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner)
    ),
    max_leaves=20,
)
NOT_A_DICT = NESTED.filter(lambda v: not isinstance(v, dict))
NOT_A_LIST = NESTED.filter(lambda v: not isinstance(v, list))
NOT_FIRING = st.text().filter(lambda s: s not in ("firing", "resolved"))
BAD_TIME = st.one_of(NAIVE_OR_IMPOSSIBLE_TIMES, NOT_A_STRING)
BAD_END = st.one_of(NAIVE_OR_IMPOSSIBLE_TIMES.filter(bool), st.integers())
NUL_LABELS = st.text().map(lambda t: {"path": f"{t}\x00{t}"})
WRONG_LABELS = st.dictionaries(st.text(min_size=1), NOT_A_STRING, min_size=1)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _alert(field: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid notifications whose first alert has ``field`` set to each of ``values``."""

    def build(value: Any) -> dict[str, Any]:
        payload = am_payload(am_alert("fp-corpus"))
        payload["alerts"][0][field] = value
        return payload

    return values.map(build)


def _top(field: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid notifications with the top-level ``field`` set to each of ``values``."""
    return values.map(lambda value: am_payload(am_alert("fp-corpus")) | {field: value})


AM_BAD_BODIES = st.one_of(
    _alert("startsAt", BAD_TIME),
    _alert("endsAt", BAD_END),
    _alert("status", NOT_FIRING),
    _alert("labels", st.one_of(NOT_A_DICT, st.just({}), WRONG_LABELS, NUL_LABELS)),
    _alert("fingerprint", st.one_of(st.just(""), NOT_A_STRING.filter(lambda v: v is not None))),
    _top("truncatedAlerts", NOT_AN_INT),
    _top("version", st.one_of(NOT_A_STRING, st.text().filter(lambda s: s != "4"))),
    _top("alerts", st.one_of(st.just([]), NOT_A_LIST)),
    _top("groupKey", st.one_of(st.just(""), NOT_A_STRING)),
    NOT_A_DICT,
)


def _pd_event(**changes: Any) -> dict[str, Any]:
    event = {
        "id": "01CORPUS",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-11-24T03:00:00Z",
        "data": {"id": "PCORPUS", "title": "corpus"},
    }
    return {"event": event | changes}


PD_BAD_BODIES = st.one_of(
    BAD_TIME.map(lambda v: _pd_event(occurred_at=v)),
    st.one_of(st.just(""), NOT_A_STRING).map(lambda v: _pd_event(id=v)),
    st.one_of(st.just(""), NOT_A_STRING).map(lambda v: _pd_event(event_type=v)),
    NOT_A_DICT.map(lambda v: _pd_event(data=v)),
    st.text().map(lambda t: _pd_event(data={"id": "P1", "title": f"{t}\x00"})),
    NOT_A_DICT.map(lambda v: {"event": v}),
)

RAW_GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.integers(min_value=300, max_value=5000).map(lambda n: _deep(n).encode()),
    st.just(b'{"version": "4",'),
    st.just(b"\xff\xfe{}"),
    st.integers(min_value=1, max_value=3).map(lambda n: b"x" * (BODY_LIMIT + n)),
)


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


# --- credentials ---------------------------------------------------------------------------

HEADER_BYTES = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"\r" not in b and b"\n" not in b and b.strip() == b and b":" not in b[:1]
)


def _pd_signature(body: bytes, secret: str = PD_SECRET) -> bytes:
    return b"v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()


def _slack_headers(body: bytes, timestamp: bytes, signature: bytes | None) -> list[Any]:
    """Slack's headers; without a ``signature``, a well-formed one under the wrong secret."""
    wrong = hmac.new(b"not-the-secret", b"v0:" + timestamp + b":" + body, hashlib.sha256)
    forged = b"v0=" + wrong.hexdigest().encode()
    return [
        ("X-Slack-Request-Timestamp", timestamp),
        ("X-Slack-Signature", forged if signature is None else signature),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, list[Any], bytes]:
    """(path, headers, body) of one hostile request to one of the three endpoints."""
    endpoint = draw(st.sampled_from([AM, PD, SLACK]))
    if endpoint == AM:
        body = draw(st.one_of(AM_BAD_BODIES.map(_json), RAW_GARBAGE))
        auth = draw(
            st.one_of(
                st.just(b"Bearer " + AM_TOKEN.encode()),
                st.just(b"Bearer " + AM_TOKEN.encode() + b"x"),
                HEADER_BYTES,
                HEADER_BYTES.map(lambda b: b"Bearer " + b),
            )
        )
        headers: list[Any] = [("Authorization", auth), ("Content-Type", "application/json")]
    elif endpoint == PD:
        body = draw(st.one_of(PD_BAD_BODIES.map(_json), RAW_GARBAGE))
        signature = draw(
            st.one_of(
                st.just(_pd_signature(body)),
                st.just(_pd_signature(body, "another-secret")),
                HEADER_BYTES,
                HEADER_BYTES.map(lambda b: b"v1=" + b),
            )
        )
        headers = [("X-PagerDuty-Signature", signature), ("Content-Type", "application/json")]
    else:
        body = draw(st.one_of(RAW_GARBAGE, st.just(b"command=%2Fincident&text=help")))
        now = int(time.time())
        timestamp = draw(
            st.one_of(
                st.just(str(now).encode()),
                st.just(str(now - 301).encode()),
                st.just(str(now + 10**12).encode()),
                HEADER_BYTES,
            )
        )
        signature = draw(st.one_of(st.none(), HEADER_BYTES, HEADER_BYTES.map(lambda b: b"v0=" + b)))
        headers = _slack_headers(body, timestamp, signature)
    if draw(st.booleans()):  # without the credential header at all
        headers = headers[1:]
    return endpoint, headers, body


def _send(port: int, path: str, headers: list[Any], body: bytes, chunked: bool) -> RawAnswer:
    """One request over a fresh connection (blocking; this test is synchronous)."""
    framing = (
        [("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", str(len(body)))]
    )
    payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if chunked else body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request_head("POST", path, [*headers, *framing]) + payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            head, sep, rest = received.partition(b"\r\n\r\n")
            length = _content_length(head) if sep else None
            if length is not None and len(rest) >= length:
                break
    return _parse(received)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


def _parse(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return RawAnswer(int(status_line.split(" ")[1]), headers, body)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=hostile_requests(), chunked=st.booleans())
def test_hostile_webhooks_get_json_4xx_and_change_nothing(
    medic: MedicProcess, request: tuple[str, list[Any], bytes], chunked: bool
) -> None:
    """Each hostile request to a webhook endpoint is answered with a 4xx in the JSON error
    shape naming a known code."""
    path, headers, body = request
    answer = _send(medic.port, path, headers, body, chunked)
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert answer.is_json_error, answer.body[:300]
    assert answer.json()["error"] in ERROR_CODES


def _rows(db: sqlite3.Connection, table: str) -> int:
    count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 -- ours
    return count


def test_after_the_corpus_nothing_is_stored_and_medic_answers(medic: MedicProcess) -> None:
    """After the corpus (the test above runs first), the store holds no alert, event,
    delivery or incident, and Medic is healthy and ready."""
    with sqlite3.connect(Path(medic.store_url.removeprefix("sqlite:///"))) as db:
        counts = {table: _rows(db, table) for table in JOURNALS}
    assert counts == dict.fromkeys(JOURNALS, 0)
    assert get_json(f"{medic.url}/healthz") == {"status": "ok"}
    assert get_json(f"{medic.url}/readyz") == {"status": "ready"}
