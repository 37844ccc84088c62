"""``pagerduty.page``, ``note``, ``acknowledge`` and ``resolve`` against a fake PagerDuty over
TLS: dedup keys per installation and incident, outputs without secrets, dry runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.actions.contract import ActionParams, StepContext, StepResult
from bot.config import Settings
from bot.errors import PermanentError, RetryableError
from responders.pagerduty.actions import (
    acknowledge,
    describe_acknowledge,
    describe_note,
    describe_page,
    describe_resolve,
    note,
    page,
    resolve,
)
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.config import PagerDutyConfig
from responders.pagerduty.models import AcknowledgeParams, NoteParams, PageParams, ResolveParams

from fakes.pagerduty import FakePagerDuty
from harness.ports import free_port
from pagerdutykit import PD_TOKEN, ROUTING_KEY, SECURITY_KEY

PUBLIC_URL = "https://medic.example.com"
DEDUP = "medic/install-7/INC-42"

Run = Callable[[StepContext, Any], Awaitable[StepResult]]


def pagerduty_section(url: str) -> PagerDutyConfig:
    """A PagerDuty section pointing at ``url``."""
    return PagerDutyConfig.model_validate(
        {
            "enabled": True,
            "api_url": url,
            "events_url": url,
            "api_token": PD_TOKEN,
            "from_email": "medic@example.com",
            "routing_key": ROUTING_KEY,
            "routing_keys": {"security": SECURITY_KEY},
        }
    )


def settings(url: str) -> Settings:
    """Settings whose PagerDuty section points at ``url``, with a public Medic URL."""
    return Settings(server={"public_url": PUBLIC_URL}).with_sections(
        {"pagerduty": pagerduty_section(url)}
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The engine's shared session (the PagerDuty actions do not use it)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def make_context(
    pagerduty: FakePagerDuty, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., StepContext]]:
    """``make_context(**overrides)``: a step of incident INC-42 of installation install-7,
    with the process's PagerDuty client trusting the fake."""
    config = settings(pagerduty.url)
    client = PagerDutyClient(
        pagerduty_section(pagerduty.url), tls=pagerduty.client_tls(), backoff_s=0.01
    )

    def make(**overrides: Any) -> StepContext:
        values: dict[str, Any] = {
            "settings": config,
            "http": http,
            "incident_id": "INC-42",
            "run_id": "RUN-1",
            "step_id": "page",
            "target": "worker-17",
            "dry_run": False,
            "now": lambda: datetime(2025, 1, 1, tzinfo=UTC),
            "clients": {"pagerduty": client},
            "install_id": "install-7",
            "slack_channel": "C0INC42",
        }
        return StepContext(**{**values, **overrides})

    yield make
    await client.close()


async def test_page_triggers_an_alert(
    make_context: Callable[..., StepContext], pagerduty: FakePagerDuty
) -> None:
    """A page triggers with dedup key ``medic/<install>/<incident>``, the incident id and the
    step's details, and links back to Medic and Slack; the output names no routing key."""
    params = PageParams(summary="Byzantine node worker-17", details={"replicas": 10})
    result = await page(make_context(), params)
    assert result.output == {
        "dedup_key": DEDUP,
        "routing_key_name": None,
        "severity": "critical",
        "summary": "Byzantine node worker-17",
    }
    [request] = pagerduty.requests
    assert request.json == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": DEDUP,
        "payload": {
            "summary": "Byzantine node worker-17",
            "source": "worker-17",
            "severity": "critical",
            "custom_details": {"replicas": "10", "medic_incident_id": "INC-42"},
        },
        "links": [
            {"href": f"{PUBLIC_URL}/api/incidents/INC-42", "text": "Medic incident INC-42"},
            {
                "href": "https://slack.com/app_redirect?channel=C0INC42",
                "text": "Slack incident channel",
            },
        ],
    }
    assert ROUTING_KEY not in result.model_dump_json()


@pytest.mark.parametrize(
    ("params", "routing_key", "dedup_key"),
    [
        (PageParams(summary="s", routing_key_name="security"), SECURITY_KEY, DEDUP),
        (PageParams(summary="s", dedup_key="INC-7"), ROUTING_KEY, "INC-7"),
    ],
)
async def test_page_routing_and_dedup_key(
    make_context: Callable[..., StepContext],
    pagerduty: FakePagerDuty,
    params: PageParams,
    routing_key: str,
    dedup_key: str,
) -> None:
    """A routing key name picks ``pagerduty.routing_keys[name]``; a given dedup key wins."""
    result = await page(make_context(), params)
    assert (pagerduty.requests[0].json["routing_key"], result.output["dedup_key"]) == (
        routing_key,
        dedup_key,
    )
    assert routing_key not in result.model_dump_json()


async def test_page_with_unknown_routing_key_name(
    make_context: Callable[..., StepContext], pagerduty: FakePagerDuty
) -> None:
    """An unknown routing key name is refused before anything is sent."""
    with pytest.raises(PermanentError, match="no routing key named 'ops'"):
        await page(make_context(), PageParams(summary="s", routing_key_name="ops"))
    assert pagerduty.requests == []


async def test_note_goes_to_the_linked_incident(
    make_context: Callable[..., StepContext], pagerduty: FakePagerDuty
) -> None:
    """A note is POSTed to the PagerDuty incident linked to this incident."""
    result = await note(make_context(pagerduty_incident_id="PABC123"), NoteParams(content="ok"))
    assert result.output == {"pagerduty_incident_id": "PABC123", "note_id": "PNOTE01"}
    assert [(r.path, r.json) for r in pagerduty.requests] == [
        ("/incidents/PABC123/notes", {"note": {"content": "ok"}})
    ]


@pytest.mark.parametrize(
    ("overrides", "params", "reason"),
    [
        ({}, NoteParams(content="ok"), "not linked to a PagerDuty incident yet"),
        (
            {"pagerduty_incident_id": "PABC123"},
            NoteParams(content="ok", dedup_key="INC-7"),
            "finding one by dedup_key is not supported",
        ),
    ],
)
async def test_note_refused(
    make_context: Callable[..., StepContext],
    pagerduty: FakePagerDuty,
    overrides: dict[str, Any],
    params: NoteParams,
    reason: str,
) -> None:
    """Without a linked PagerDuty incident (or asked for another one) a note is refused."""
    with pytest.raises(PermanentError, match=reason):
        await note(make_context(**overrides), params)
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("run", "params", "event_action", "dedup_key"),
    [
        (acknowledge, AcknowledgeParams(), "acknowledge", DEDUP),
        (resolve, ResolveParams(), "resolve", DEDUP),
        (resolve, ResolveParams(dedup_key="INC-7"), "resolve", "INC-7"),
    ],
)
async def test_acknowledge_and_resolve(
    make_context: Callable[..., StepContext],
    pagerduty: FakePagerDuty,
    run: Run,
    params: ActionParams,
    event_action: str,
    dedup_key: str,
) -> None:
    """Acknowledge and resolve send Events API v2 events for the paged dedup key."""
    result = await run(make_context(), params)
    assert result.output == {"dedup_key": dedup_key, "routing_key_name": None}
    assert pagerduty.requests[0].json == {
        "routing_key": ROUTING_KEY,
        "event_action": event_action,
        "dedup_key": dedup_key,
    }


@pytest.mark.parametrize(
    ("run", "params", "sentence"),
    [
        (page, PageParams(summary="s"), describe_page(PageParams(summary="s"))),
        (note, NoteParams(content="ok"), describe_note(NoteParams(content="ok"))),
        (acknowledge, AcknowledgeParams(), describe_acknowledge(AcknowledgeParams())),
        (resolve, ResolveParams(), describe_resolve(ResolveParams())),
    ],
)
async def test_dry_run_sends_nothing(
    make_context: Callable[..., StepContext],
    pagerduty: FakePagerDuty,
    run: Run,
    params: ActionParams,
    sentence: str,
) -> None:
    """In a dry run no request reaches PagerDuty; the output says what would happen."""
    result = await run(make_context(dry_run=True), params)
    assert (result.dry_run, result.output["would"], result.summary) == (True, sentence, sentence)
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("run", "params"),
    [(page, PageParams(summary="s")), (resolve, ResolveParams())],
)
async def test_without_client(
    make_context: Callable[..., StepContext], run: Run, params: ActionParams
) -> None:
    """Without the process's PagerDuty client the step fails for good."""
    with pytest.raises(PermanentError, match="no PagerDuty client"):
        await run(make_context(clients={}), params)


async def test_down_pagerduty_fails_fast(make_context: Callable[..., StepContext]) -> None:
    """An unreachable PagerDuty fails the step as retryable at once, without blocking."""
    url = f"https://127.0.0.1:{free_port()}"
    config = settings(url)
    client = PagerDutyClient(pagerduty_section(url))
    context = make_context(settings=config, clients={"pagerduty": client})
    with pytest.raises(RetryableError, match="cannot reach PagerDuty to trigger an alert"):
        await page(context, PageParams(summary="s"))
    await client.close()
