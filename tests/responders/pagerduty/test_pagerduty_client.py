"""``PagerDutyClient`` against a fake PagerDuty over TLS (a trustme CA): wire shapes, headers,
bounded retries, final refusals and secrets kept out of errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bot.errors import PermanentError, RetryableError
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.config import PagerDutyConfig
from responders.pagerduty.retry import RetryPolicy

from fakes.pagerduty import FakePagerDuty
from harness.ports import free_port
from pagerdutykit import PD_TOKEN, ROUTING_KEY, SECURITY_KEY

STRANGER_KEY = "R0UT1NGKEY00000000000000000000c3"
"""Configured in Medic but unknown to PagerDuty (the fake echoes it in its 400)."""
SENDER = "medic@example.com"
DEDUP = "medic/install-7/INC-42"
SECRETS = (PD_TOKEN, ROUTING_KEY, SECURITY_KEY, STRANGER_KEY)

Call = Callable[[PagerDutyClient], Awaitable[str]]


def pagerduty_config(url: str, **overrides: Any) -> PagerDutyConfig:
    """A PagerDuty section pointing both APIs at ``url``."""
    values: dict[str, Any] = {
        "enabled": True,
        "api_url": url,
        "events_url": url,
        "api_token": PD_TOKEN,
        "from_email": SENDER,
        "routing_key": ROUTING_KEY,
        "routing_keys": {"security": SECURITY_KEY, "stranger": STRANGER_KEY},
    }
    return PagerDutyConfig(**{**values, **overrides})


@pytest.fixture
async def client(pagerduty: FakePagerDuty) -> AsyncIterator[PagerDutyClient]:
    """A client trusting the fake's CA, with short backoffs."""
    client = PagerDutyClient(
        pagerduty_config(pagerduty.url), tls=pagerduty.client_tls(), backoff_s=0.01
    )
    yield client
    await client.close()


def trigger(routing_key: str = ROUTING_KEY, summary: str = "Byzantine node worker-17") -> Call:
    """A trigger call with fixed details and links."""
    return lambda client: client.trigger(
        routing_key,
        DEDUP,
        summary=summary,
        severity="warning",
        source="worker-17",
        custom_details={"medic_incident_id": "INC-42", "replicas": "10"},
        links=[{"href": "https://medic.example.com/api/incidents/INC-42", "text": "Medic"}],
    )


def acknowledge(client: PagerDutyClient) -> Awaitable[str]:
    """Acknowledge ``DEDUP``."""
    return client.acknowledge(ROUTING_KEY, DEDUP)


def resolve(client: PagerDutyClient) -> Awaitable[str]:
    """Resolve ``DEDUP``."""
    return client.resolve(ROUTING_KEY, DEDUP)


def add_note(client: PagerDutyClient) -> Awaitable[str]:
    """Note on PagerDuty incident PABC123."""
    return client.add_note("PABC123", "rolled back dwcp-api")


def set_resolved(client: PagerDutyClient) -> Awaitable[str]:
    """Resolve PagerDuty incident PABC123 through REST."""
    return client.set_status("PABC123", "resolved")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            trigger(),
            {
                "routing_key": ROUTING_KEY,
                "event_action": "trigger",
                "dedup_key": DEDUP,
                "payload": {
                    "summary": "Byzantine node worker-17",
                    "source": "worker-17",
                    "severity": "warning",
                    "custom_details": {"medic_incident_id": "INC-42", "replicas": "10"},
                },
                "links": [
                    {"href": "https://medic.example.com/api/incidents/INC-42", "text": "Medic"}
                ],
            },
        ),
        (
            acknowledge,
            {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": DEDUP},
        ),
        (resolve, {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": DEDUP}),
    ],
)
async def test_events_reach_pagerduty(
    client: PagerDutyClient, pagerduty: FakePagerDuty, call: Call, expected: dict[str, Any]
) -> None:
    """Trigger, acknowledge and resolve POST the Events API v2 body (routing key added by the
    library) over TLS, and return the dedup key PagerDuty confirmed."""
    assert await call(client) == DEDUP
    [request] = pagerduty.requests
    assert (request.method, request.path, request.json) == ("POST", "/v2/enqueue", expected)
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("call", "method", "path", "body", "answer"),
    [
        (
            add_note,
            "POST",
            "/incidents/PABC123/notes",
            {"note": {"content": "rolled back dwcp-api"}},
            "PNOTE01",
        ),
        (
            set_resolved,
            "PUT",
            "/incidents/PABC123",
            {"incident": {"type": "incident_reference", "status": "resolved"}},
            "resolved",
        ),
    ],
)
async def test_rest_writes_reach_pagerduty(
    client: PagerDutyClient,
    pagerduty: FakePagerDuty,
    call: Call,
    method: str,
    path: str,
    body: dict[str, Any],
    answer: str,
) -> None:
    """Notes and status changes go to REST v2 with the token, the From address and the
    documented bodies; the client returns the note id / the new status."""
    assert await call(client) == answer
    [request] = pagerduty.requests
    assert (request.method, request.path, request.json) == (method, path, body)
    assert request.headers["authorization"] == f"Token token={PD_TOKEN}"
    assert request.headers["from"] == SENDER
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"


async def test_long_summary_is_cut(client: PagerDutyClient, pagerduty: FakePagerDuty) -> None:
    """A summary over PagerDuty's 1024 characters is cut, not refused."""
    await trigger(summary="x" * 3000)(client)
    assert len(pagerduty.requests[0].json["payload"]["summary"]) == 1024


@pytest.mark.parametrize(
    ("prefix", "call", "statuses"),
    [
        ("/v2/enqueue", trigger(), (429,)),
        ("/v2/enqueue", acknowledge, (500, 503)),
        ("/incidents", add_note, (429, 502, 500)),
        ("/incidents", set_resolved, (503,)),
    ],
)
async def test_transient_answers_are_retried(
    client: PagerDutyClient,
    pagerduty: FakePagerDuty,
    prefix: str,
    call: Call,
    statuses: tuple[int, ...],
) -> None:
    """429 and 5xx are sent again (up to three retries), then the call succeeds."""
    pagerduty.script(prefix, *statuses)
    await call(client)
    assert pagerduty.attempts(prefix) == len(statuses) + 1


@pytest.mark.parametrize(
    ("prefix", "call", "status"),
    [
        ("/v2/enqueue", trigger(), 429),
        ("/v2/enqueue", resolve, 500),
        ("/incidents", add_note, 429),
        ("/incidents", set_resolved, 502),
    ],
)
async def test_retries_are_bounded(
    client: PagerDutyClient, pagerduty: FakePagerDuty, prefix: str, call: Call, status: int
) -> None:
    """A PagerDuty that keeps answering 429/5xx gets exactly four attempts (one plus three
    retries; the library adds none), then the call fails as retryable."""
    pagerduty.script(prefix, *[status] * 10)
    with pytest.raises(RetryableError, match=f"answered {status} .* after 4 attempts"):
        await call(client)
    assert pagerduty.attempts(prefix) == 4


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (trigger(), "Event object is invalid: x"),
        (add_note, "scripted 400"),
    ],
)
async def test_bad_request_is_final(
    client: PagerDutyClient, pagerduty: FakePagerDuty, call: Call, reason: str
) -> None:
    """A 400 is a PermanentError carrying PagerDuty's message, sent once."""
    pagerduty.script("/", 400)
    with pytest.raises(PermanentError, match=f"\\(400\\): {reason}"):
        await call(client)
    assert len(pagerduty.requests) == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [(None, ROUTING_KEY), ("security", SECURITY_KEY)],
)
async def test_routing_key_by_name(
    client: PagerDutyClient, name: str | None, expected: str
) -> None:
    """No name is ``pagerduty.routing_key``; a name picks from ``pagerduty.routing_keys``."""
    assert client.routing_key_for(name) == expected


@pytest.mark.parametrize(
    ("config", "name", "reason"),
    [
        ({}, "nope", "no routing key named 'nope' .*known: 'security', 'stranger'"),
        ({"routing_key": None}, None, "pagerduty.routing_key is not set"),
    ],
)
def test_unknown_routing_key_is_refused(
    config: dict[str, Any], name: str | None, reason: str
) -> None:
    """An unknown name (or no default key) is refused, naming what is configured."""
    client = PagerDutyClient(pagerduty_config("https://127.0.0.1:9", **config))
    with pytest.raises(PermanentError, match=reason):
        client.routing_key_for(name)


@pytest.mark.parametrize(
    ("config", "call", "error", "reason"),
    [
        ({}, trigger(STRANGER_KEY), PermanentError, "routing key '\\[redacted\\]' is not known"),
        ({"api_token": "wrong-token-9d8e"}, add_note, PermanentError, "401.*api_token"),
        ({"events_url": "https://127.0.0.1:{port}"}, trigger(), RetryableError, "cannot reach"),
    ],
)
async def test_secrets_stay_out_of_errors(
    pagerduty: FakePagerDuty,
    config: dict[str, Any],
    call: Call,
    error: type[Exception],
    reason: str,
) -> None:
    """Refusals that echo a key, a rejected token and an unreachable PagerDuty all fail
    without the secret, or the library's ``*last4`` form of it, in the message."""
    overrides = {key: value.format(port=free_port()) for key, value in config.items()}
    client = PagerDutyClient(
        pagerduty_config(pagerduty.url, **overrides), tls=pagerduty.client_tls()
    )
    with pytest.raises(error, match=reason) as raised:
        await call(client)
    await client.close()
    secrets = [*SECRETS, "wrong-token-9d8e"]
    assert [s for s in secrets if s in str(raised.value) or s[-4:] in str(raised.value)] == []


async def test_untrusted_certificate_is_refused(pagerduty: FakePagerDuty) -> None:
    """With the system's trust store the fake's test CA is not trusted: nothing is sent."""
    client = PagerDutyClient(pagerduty_config(pagerduty.url))
    with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
        await trigger()(client)
    await client.close()
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"api_token": None}, "pagerduty.api_token is not set"),
        ({"from_email": None}, "pagerduty.from_email is not set"),
    ],
)
async def test_rest_needs_token_and_sender(
    pagerduty: FakePagerDuty, config: dict[str, Any], reason: str
) -> None:
    """REST writes without a token or a From address are refused before any request."""
    client = PagerDutyClient(pagerduty_config(pagerduty.url, **config))
    with pytest.raises(PermanentError, match=reason):
        await add_note(client)
    assert pagerduty.requests == []


@pytest.mark.parametrize("key", ["api_url", "events_url"])
def test_plain_http_is_refused(key: str) -> None:
    """The library only speaks https://; the config section refuses a plain URL, so
    ``medic check`` reports it before any client is built."""
    with pytest.raises(ValidationError, match=f"{key}\n  Value error, must be an https:// URL"):
        pagerduty_config("https://127.0.0.1:9", **{key: "http://127.0.0.1:9"})


@pytest.mark.parametrize(
    ("retry", "headers", "expected"),
    [
        (0, {}, 0.5),
        (2, {}, 2.0),
        (1, {"retry-after": "3"}, 3.0),
        (0, {"ratelimit-reset": "0"}, 0.0),
        (0, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.5),
        (0, {"ratelimit-reset": "60"}, None),
    ],
)
def test_retry_waits(retry: int, headers: dict[str, str], expected: float | None) -> None:
    """Backoff doubles; a server's numeric hint wins when small, and a long one is not
    waited for (None: fail as retryable, let the engine retry later)."""
    assert RetryPolicy().delay(retry, headers) == expected
