"""``alertmanager.silence`` and ``alertmanager.expire_silence`` against a real Alertmanager
(Debian's package): the silence really exists, mutes the alert and expires; Alertmanager's
refusals fail the step with its own message; outages are retried, then retryable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.actions.contract import StepContext
from bot.config import Settings
from bot.errors import PermanentError, RetryableError
from responders.alertmanager.actions import expire_silence, silence
from responders.alertmanager.client import AlertmanagerClient
from responders.alertmanager.models import ExpireSilenceParams, SilenceParams, parse_matcher

from harness.alertmanager import AlertmanagerServer
from harness.ports import free_port

UNUSED_WEBHOOK = "http://127.0.0.1:9/webhooks/alertmanager"


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    """One real Alertmanager for the module (tests use distinct alertnames)."""
    with AlertmanagerServer(UNUSED_WEBHOOK).start(tmp_path_factory.mktemp("am")) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, as the engine shares one."""
    async with aiohttp.ClientSession() as session:
        yield session


def context(http: aiohttp.ClientSession, url: str, *, dry_run: bool = False) -> StepContext:
    """Step ``mute`` of RUN-5 on INC-3, with ``alertmanager.url`` = ``url``."""
    return StepContext(
        settings=Settings(alertmanager={"url": url}),
        http=http,
        incident_id="INC-3",
        run_id="RUN-5",
        step_id="mute",
        target=None,
        dry_run=dry_run,
        now=lambda: datetime.now(UTC),
    )


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    """``GET`` JSON from Alertmanager."""
    async with http.get(url) as resp:
        assert resp.status == 200
        return await resp.json()


async def post_alert(http: aiohttp.ClientSession, url: str, labels: dict[str, str]) -> None:
    """Make Alertmanager hold one firing alert."""
    starts_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    async with http.post(
        f"{url}/api/v2/alerts", json=[{"labels": labels, "startsAt": starts_at}]
    ) as resp:
        assert resp.status == 200


async def silence_by_id(http: aiohttp.ClientSession, url: str, silence_id: str) -> Any:
    """One silence as Alertmanager shows it."""
    return await get(http, f"{url}/api/v2/silence/{silence_id}")


async def test_silence_mutes_the_alert_and_names_the_incident(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """The silence exists in Alertmanager with the params' matchers, createdBy medic, a
    comment naming the incident and run, ending ``duration`` from now; the matching alert
    shows ``suppressed``; the output carries the silence id."""
    labels = {"alertname": "RespSilenced", "instance": "node-a:9100"}
    await post_alert(http, alertmanager.url, labels)
    params = SilenceParams.model_validate(
        {
            "matchers": ['alertname="RespSilenced"', 'instance=~"node-a.*"'],
            "duration": "2h",
            "comment": "noisy while the disk is cleaned",
        }
    )
    before = datetime.now(UTC)
    result = await silence(context(http, alertmanager.url), params)
    silence_id = result.output["silence_id"]
    assert result.output["matchers"] == ['alertname="RespSilenced"', 'instance=~"node-a.*"']
    assert not result.dry_run

    found = await silence_by_id(http, alertmanager.url, silence_id)
    assert found["status"]["state"] == "active"
    assert found["createdBy"] == "medic"
    assert found["comment"] == "Medic INC-3 (RUN-5): noisy while the disk is cleaned"
    assert found["matchers"] == [
        {"name": "alertname", "value": "RespSilenced", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "node-a.*", "isRegex": True, "isEqual": True},
    ]
    ends_at = datetime.fromisoformat(found["endsAt"].replace("Z", "+00:00"))
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= ends_at
    assert ends_at <= datetime.now(UTC) + timedelta(hours=2)

    alerts = await get(
        http, f"{alertmanager.url}/api/v2/alerts?filter=alertname%3D%22RespSilenced%22"
    )
    assert [(a["status"]["state"], a["status"]["silencedBy"]) for a in alerts] == [
        ("suppressed", [silence_id])
    ]


async def test_default_comment_names_the_incident_and_step(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """Without ``comment`` the silence still says which incident, run and step made it."""
    params = SilenceParams.model_validate(
        {"matchers": ['alertname="RespNoComment"'], "duration": "10m"}
    )
    result = await silence(context(http, alertmanager.url), params)
    found = await silence_by_id(http, alertmanager.url, result.output["silence_id"])
    assert found["comment"] == (
        "Medic INC-3 (RUN-5): silenced by step mute while Medic handles the incident"
    )


async def test_expire_silence_ends_it(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """``expire_silence`` with the id a silence step returned: Alertmanager shows it expired
    and the alert is active again."""
    labels = {"alertname": "RespExpired"}
    await post_alert(http, alertmanager.url, labels)
    ctx = context(http, alertmanager.url)
    made = await silence(
        ctx,
        SilenceParams.model_validate({"matchers": ['alertname="RespExpired"'], "duration": "1h"}),
    )
    silence_id = made.output["silence_id"]
    result = await expire_silence(ctx, ExpireSilenceParams(silence_id=silence_id))
    assert result.output == {"silence_id": silence_id, "expired": True}
    found = await silence_by_id(http, alertmanager.url, silence_id)
    assert found["status"]["state"] == "expired"
    alerts = await get(
        http, f"{alertmanager.url}/api/v2/alerts?filter=alertname%3D%22RespExpired%22"
    )
    assert [a["status"]["state"] for a in alerts] == ["active"]


async def test_expiring_an_unknown_silence_fails(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """A silence id Alertmanager does not know fails the step with PermanentError (not a
    retried outage, although Alertmanager 0.25 answers 500); a malformed id is its 422."""
    ctx = context(http, alertmanager.url)
    unknown = "6f0c1d52-94a5-4e4b-9a7e-3b1f1b6c2d10"
    with pytest.raises(PermanentError, match=f"^Alertmanager has no silence {unknown}$"):
        await expire_silence(ctx, ExpireSilenceParams(silence_id=unknown))
    with pytest.raises(PermanentError, match=r"\(422\): silenceID in path must be of type uuid"):
        await expire_silence(ctx, ExpireSilenceParams(silence_id="not-a-uuid"))


async def test_dry_run_creates_nothing(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """With ``ctx.dry_run`` the step says what it would silence, with the comment it would
    write, and Alertmanager holds no new silence; expiring in a dry run expires nothing."""
    before = await get(http, f"{alertmanager.url}/api/v2/silences")
    ctx = context(http, alertmanager.url, dry_run=True)
    params = SilenceParams.model_validate({"matchers": ['alertname="RespDry"'], "duration": "30m"})
    result = await silence(ctx, params)
    assert result.dry_run
    assert (
        result.output["would"]
        == 'would silence alerts matching {alertname="RespDry"} for 30m in Alertmanager'
    )
    assert result.output["comment"].startswith("Medic INC-3 (RUN-5): ")
    assert "silence_id" not in result.output
    expired = await expire_silence(
        ctx, ExpireSilenceParams(silence_id="6f0c1d52-94a5-4e4b-9a7e-3b1f1b6c2d10")
    )
    assert expired.dry_run
    assert await get(http, f"{alertmanager.url}/api/v2/silences") == before


async def test_a_refused_silence_fails_with_alertmanagers_message(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """Alertmanager answers 400 to a regex it cannot compile: PermanentError quoting it.
    (The params model refuses such a matcher when playbooks load; built unchecked here, the
    client is seen handling Alertmanager's own refusal.)"""
    params = SilenceParams.model_construct(
        matchers=['alertname=~"("'], duration=timedelta(hours=1), comment=None
    )
    with pytest.raises(
        PermanentError,
        match=r"^Alertmanager refused to create the silence \(400\): silence invalid: .*"
        r"invalid regular expression",
    ):
        await silence(context(http, alertmanager.url), params)


async def test_alerts_filter_quotes_label_values(
    alertmanager: AlertmanagerServer, http: aiohttp.ClientSession
) -> None:
    """Listing alerts by matchers whose values hold quotes, backslashes and spaces finds
    exactly the alert with those labels (the filter is quoted as Alertmanager parses it)."""
    odd = 'say "hi" \\ then, bye'
    await post_alert(http, alertmanager.url, {"alertname": "RespQuoted", "text": odd})
    await post_alert(http, alertmanager.url, {"alertname": "RespQuoted", "text": "plain"})
    client = AlertmanagerClient(http, alertmanager.url)
    matchers = [parse_matcher('alertname="RespQuoted"')]
    found = await client.alerts([*matchers, parse_matcher('text="say \\"hi\\" \\\\ then, bye"')])
    assert [a.labels for a in found] == [{"alertname": "RespQuoted", "text": odd}]
    assert len(await client.alerts(matchers)) == 2


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server answering 503 to the first two silence posts, then a silence id; it
    records each request's method and path."""
    seen: list[str] = []

    async def silences(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        if len(seen) <= 2:
            return web.Response(status=503, text="overloaded")
        return web.json_response({"silenceID": "sil-after-retries"})

    app = web.Application()
    app.router.add_post("/api/v2/silences", silences)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), seen
    await server.close()


async def test_5xx_is_retried_then_succeeds(
    flaky: tuple[str, list[str]], http: aiohttp.ClientSession
) -> None:
    """Two 503s then a success: three POSTs, and the step gets the silence id."""
    url, seen = flaky
    client = AlertmanagerClient(http, url, backoff_s=0.01)
    silence_id = await client.create_silence(
        [parse_matcher('alertname="X"')],
        datetime.now(UTC),
        datetime.now(UTC) + timedelta(hours=1),
        "c",
    )
    assert silence_id == "sil-after-retries"
    assert seen == ["POST /api/v2/silences"] * 3


async def test_persistent_5xx_is_retryable_after_bounded_attempts(
    flaky: tuple[str, list[str]], http: aiohttp.ClientSession
) -> None:
    """With one retry allowed, two 503s exhaust it: RetryableError quoting the answer."""
    url, seen = flaky
    client = AlertmanagerClient(http, url, retries=1, backoff_s=0.01)
    with pytest.raises(
        RetryableError,
        match=r"^Alertmanager could not create the silence after 2 attempts: answered 503: "
        "overloaded$",
    ):
        await client.create_silence(
            [parse_matcher('alertname="X"')],
            datetime.now(UTC),
            datetime.now(UTC) + timedelta(hours=1),
            "c",
        )
    assert len(seen) == 2


async def test_unreachable_alertmanager_is_retryable(http: aiohttp.ClientSession) -> None:
    """Nothing listening at ``alertmanager.url``: RetryableError naming it, after the
    bounded retries."""
    url = f"http://127.0.0.1:{free_port()}"
    client = AlertmanagerClient(http, url, backoff_s=0.01)
    with pytest.raises(RetryableError, match=f"after 3 attempts: cannot reach {url}: "):
        await client.expire_silence("6f0c1d52-94a5-4e4b-9a7e-3b1f1b6c2d10")
