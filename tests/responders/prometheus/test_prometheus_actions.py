"""``prometheus.query`` and ``prometheus.wait`` against a real Prometheus (Debian's package)
evaluating recording rules every second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.actions.contract import StepContext
from bot.config import Settings
from bot.errors import PermanentError, RetryableError
from responders.prometheus.actions import query, wait
from responders.prometheus.models import QueryParams, WaitParams

from harness.http import get_json
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.waiting import wait_until

UNUSED_ALERTMANAGER = "http://127.0.0.1:9"
RULES = """\
groups:
  - name: medic-responders
    rules:
      - record: sla:availability:5m
        expr: vector(0.9995)
        labels: {namespace: dwcp-v3-production, deployment: dwcp-v3}
      - record: sla:availability:5m
        expr: vector(0.42)
        labels: {namespace: production, deployment: dwcp-api}
      - record: medic_test:up
        expr: vector(1)
        labels: {job: dwcp-api}
"""
HEALTHY = 'sla:availability:5m{deployment="dwcp-v3"}'
BROKEN = 'sla:availability:5m{deployment="dwcp-api"}'
MISSING = 'sla:availability:5m{deployment="no-such-deployment"}'
HEALTHY_LABELS = {
    "__name__": "sla:availability:5m",
    "namespace": "dwcp-v3-production",
    "deployment": "dwcp-v3",
}
SLOW_QUERY = "count_over_time(vector(1)[1d:1s])"


def recorded_series(server: PrometheusServer) -> int:
    """How many series the recording rules have written so far."""
    answer = get_json(f"{server.url}/api/v1/query?query=count(%7B__name__%3D~%22.%2B%3A.%2B%22%7D)")
    return sum(int(item["value"][1]) for item in answer["data"]["result"])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One Prometheus for the module, started (blocking) outside the event loop, with the
    recording rules evaluated at least once."""
    with PrometheusServer(UNUSED_ALERTMANAGER, RULES).start(
        tmp_path_factory.mktemp("prom")
    ) as server:
        wait_until(lambda: recorded_series(server) == 3, 30.0, "the recording rules")
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, as the engine shares one."""
    async with aiohttp.ClientSession() as session:
        yield session


def context(http: aiohttp.ClientSession, url: str | None, timeout: str = "5s") -> StepContext:
    """A step context whose settings point at ``url``."""
    return StepContext(
        settings=Settings(prometheus={"url": url, "timeout": timeout}),
        http=http,
        incident_id="INC-1",
        run_id="RUN-1",
        step_id="verify",
        target="deployment/dwcp-v3-production/dwcp-v3",
        dry_run=False,
        now=lambda: datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("promql", "result_type", "samples"),
    [
        (HEALTHY, "vector", [{"labels": HEALTHY_LABELS, "value": 0.9995}]),
        (
            "medic_test:up",
            "vector",
            [{"labels": {"__name__": "medic_test:up", "job": "dwcp-api"}, "value": 1.0}],
        ),
        ("scalar(medic_test:up) * 2", "scalar", [{"labels": {}, "value": 2.0}]),
        ("vector(0) / 0", "vector", [{"labels": {}, "value": None}]),
        (MISSING, "vector", []),
    ],
)
async def test_query_returns_the_real_values(
    prometheus: PrometheusServer,
    http: aiohttp.ClientSession,
    promql: str,
    result_type: str,
    samples: list[dict[str, Any]],
) -> None:
    """Vector and scalar results become typed samples; ``value`` is the first one (None when
    empty, and NaN, which JSON cannot carry, is None too)."""
    result = await query(context(http, prometheus.url), QueryParams(query=promql))
    assert result.output == {
        "query": promql,
        "result_type": result_type,
        "samples": samples,
        "value": samples[0]["value"] if samples else None,
    }


@pytest.mark.parametrize(
    ("promql", "expect", "met"),
    [
        (HEALTHY, ">= 0.999", True),
        (BROKEN, ">= 0.999", False),
        ("sla:availability:5m", "> 0.4", True),
        ("sla:availability:5m", ">= 0.999", False),
        (MISSING, ">= 0", False),
    ],
)
async def test_query_checks_an_expectation_on_every_sample(
    prometheus: PrometheusServer, http: aiohttp.ClientSession, promql: str, expect: str, met: bool
) -> None:
    """``expect`` holds only when every sample satisfies it; an empty result does not."""
    params = QueryParams.model_validate({"query": promql, "expect": expect})
    result = await query(context(http, prometheus.url), params)
    assert result.output["expectation_met"] is met


async def test_wait_succeeds_when_the_condition_holds(
    prometheus: PrometheusServer, http: aiohttp.ClientSession
) -> None:
    """A condition that already holds is confirmed on the first poll."""
    params = WaitParams.model_validate({"query": HEALTHY, "condition": ">= 0.999"})
    result = await wait(context(http, prometheus.url), params)
    assert result.output == {
        "satisfied": True,
        "query": HEALTHY,
        "condition": ">= 0.999",
        "samples": [{"labels": HEALTHY_LABELS, "value": 0.9995}],
        "polls": 1,
    }


@pytest.mark.parametrize(
    ("promql", "condition", "last"),
    [
        (BROKEN, ">= 0.999", r'last values: sla:availability:5m\{deployment="dwcp-api", '),
        ("sla:availability:5m", ">= 0.999", r"namespace=\"production\"} 0\.42"),
        (MISSING, ">= 0", "last values: no samples"),
    ],
)
async def test_wait_fails_after_its_timeout_naming_the_last_values(
    prometheus: PrometheusServer,
    http: aiohttp.ClientSession,
    promql: str,
    condition: str,
    last: str,
) -> None:
    """When not every sample satisfies the condition (or there are none) before the timeout,
    the step fails permanently after polling repeatedly, saying what it last saw."""
    params = WaitParams.model_validate(
        {"query": promql, "condition": condition, "timeout": "2s", "interval": "200ms"}
    )
    started = datetime.now(UTC)
    with pytest.raises(PermanentError, match=rf"within 2s \(\d{{2}} polls\); .*{last}"):
        await wait(context(http, prometheus.url), params)
    assert (datetime.now(UTC) - started).total_seconds() >= 2


@pytest.mark.parametrize(
    ("promql", "message"),
    [
        ("sum(", r"\(400\): bad_data: .*parse error: unclosed left parenthesis"),
        ("rate(medic_test:up)", r"\(400\): bad_data: .*expected type range vector"),
        ("medic_test:up[1m]", "returned a matrix; use an instant vector or a scalar"),
    ],
)
async def test_bad_queries_fail_permanently_with_prometheus_message(
    prometheus: PrometheusServer, http: aiohttp.ClientSession, promql: str, message: str
) -> None:
    """Prometheus' own error text reaches the step error; so does a wrong result type."""
    with pytest.raises(PermanentError, match=message):
        await query(context(http, prometheus.url), QueryParams(query=promql))


async def test_wait_fails_at_once_on_a_bad_query(
    prometheus: PrometheusServer, http: aiohttp.ClientSession
) -> None:
    """A query Prometheus rejects is not polled until the timeout."""
    params = WaitParams.model_validate({"query": "sum(", "condition": "> 0", "timeout": "1h"})
    with pytest.raises(PermanentError, match="parse error"):
        await wait(context(http, prometheus.url), params)


async def test_unreachable_prometheus_is_retryable(http: aiohttp.ClientSession) -> None:
    """Nothing listening: the query is a RetryableError (try again later)."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RetryableError, match="cannot reach Prometheus"):
        await query(context(http, url), QueryParams(query="up"))


async def test_wait_on_unreachable_prometheus_is_retryable_after_its_timeout(
    http: aiohttp.ClientSession,
) -> None:
    """``prometheus.wait`` keeps polling through connection errors; if the last poll failed
    too, the outcome is retryable rather than a verdict on the condition."""
    url = f"http://127.0.0.1:{free_port()}"
    params = WaitParams.model_validate(
        {"query": "up", "condition": "== 1", "timeout": "1s", "interval": "200ms"}
    )
    with pytest.raises(RetryableError, match=r"not confirmed == 1 within 1s .*cannot reach"):
        await wait(context(http, url), params)


async def test_slow_query_past_the_timeout_is_retryable(
    prometheus: PrometheusServer, http: aiohttp.ClientSession
) -> None:
    """A query that outlives ``prometheus.timeout`` (Prometheus' 503 or our own client
    timeout, whichever comes first) is a RetryableError."""
    with pytest.raises(RetryableError, match="Prometheus"):
        await query(context(http, prometheus.url, timeout="1ms"), QueryParams(query=SLOW_QUERY))


async def test_unset_url_is_a_permanent_error(http: aiohttp.ClientSession) -> None:
    """Without ``prometheus.url`` there is nothing to ask."""
    with pytest.raises(PermanentError, match=r"prometheus\.url is not set"):
        await query(context(http, None), QueryParams(query="up"))
