"""``prometheus.query`` and ``prometheus.wait``: evidence and verification from Prometheus."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.config import format_duration
from bot.errors import PermanentError, RetryableError
from responders.common import one_line
from responders.prometheus.client import PrometheusClient
from responders.prometheus.condition import Condition
from responders.prometheus.const import SYSTEM
from responders.prometheus.models import (
    QueryOutput,
    QueryParams,
    QueryResult,
    WaitOutput,
    WaitParams,
)


def describe_query(params: QueryParams) -> str:
    """The dry-run sentence for ``prometheus.query``."""
    check = f" and check that every sample is {params.expect}" if params.expect else ""
    return f"would query Prometheus for `{one_line(params.query)}`{check}"


def describe_wait(params: WaitParams) -> str:
    """The dry-run sentence for ``prometheus.wait``."""
    return (
        f"would poll Prometheus every {format_duration(params.interval)} for up to "
        f"{format_duration(params.timeout)} until every sample of `{one_line(params.query)}` "
        f"is {params.condition}"
    )


def client_for(ctx: StepContext) -> PrometheusClient:
    """A client for ``prometheus.url`` on the shared session; PermanentError if unset."""
    config = ctx.settings.prometheus
    if not config.url:
        raise PermanentError("prometheus.url is not set")
    return PrometheusClient(ctx.http, config.url, config.timeout)


def satisfied(result: QueryResult, condition: Condition) -> bool:
    """Every sample satisfies ``condition``; an empty result satisfies nothing."""
    return bool(result.samples) and all(condition.holds(s.value) for s in result.samples)


def _samples(result: QueryResult) -> list[dict[str, Any]]:
    return [sample.output() for sample in result.samples]


@action(
    "prometheus.query",
    kind=ActionKind.READ,
    integration=SYSTEM,
    describe=describe_query,
    output=QueryOutput,
)
async def query(ctx: StepContext, params: QueryParams) -> StepResult:
    """Run one instant query; with ``expect``, say whether every sample satisfies it."""
    result = await client_for(ctx).query(params.query)
    samples = _samples(result)
    output: dict[str, Any] = {
        "query": params.query,
        "result_type": result.result_type,
        "samples": samples,
        "value": samples[0]["value"] if samples else None,
    }
    summary = f"`{one_line(params.query)}`: {result.describe_values()}"
    if params.expect is not None:
        met = satisfied(result, params.expect)
        output["expectation_met"] = met
        summary += f" ({'meets' if met else 'does not meet'} {params.expect})"
    return StepResult(output=output, summary=summary)


@action(
    "prometheus.wait",
    kind=ActionKind.READ,
    integration=SYSTEM,
    describe=describe_wait,
    output=WaitOutput,
)
async def wait(ctx: StepContext, params: WaitParams) -> StepResult:
    """Poll every ``interval`` until every sample satisfies ``condition`` or ``timeout`` passes.

    A bad query fails at once (PermanentError). Prometheus being unreachable for a poll is
    tolerated until the timeout; if the last poll could not reach it either, that is a
    RetryableError, otherwise the timeout is a PermanentError naming the last values.
    """
    client = client_for(ctx)
    deadline = ctx.now() + params.timeout
    polls = 0
    while True:
        polls += 1
        result: QueryResult | None = None
        unreachable: RetryableError | None = None
        try:
            result = await client.query(params.query)
        except RetryableError as err:
            unreachable = err
        if result is not None and satisfied(result, params.condition):
            return StepResult(
                output={
                    "satisfied": True,
                    "query": params.query,
                    "condition": str(params.condition),
                    "samples": _samples(result),
                    "polls": polls,
                },
                summary=(
                    f"`{one_line(params.query)}` is {params.condition} after {polls} "
                    f"poll{'s' if polls != 1 else ''}: {result.describe_values()}"
                ),
            )
        remaining = deadline - ctx.now()
        if remaining <= timedelta(0):
            waited = format_duration(params.timeout)
            if unreachable is not None:
                raise RetryableError(
                    f"prometheus.wait: `{one_line(params.query)}` not confirmed {params.condition} "
                    f"within {waited} ({polls} polls); last poll: {unreachable}"
                ) from unreachable
            last = result.describe_values() if result is not None else "no samples"
            raise PermanentError(
                f"prometheus.wait: `{one_line(params.query)}` did not become {params.condition} "
                f"within {waited} ({polls} polls); last values: {last}"
            )
        await asyncio.sleep(min(params.interval, remaining).total_seconds())
