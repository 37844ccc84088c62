"""``prometheus.*`` params: conditions parsed at load time, wait timing, dry-run sentences."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from responders.prometheus.actions import describe_query, describe_wait
from responders.prometheus.condition import Condition, parse_condition
from responders.prometheus.models import QueryParams, QueryResult, Sample, WaitParams


@pytest.mark.parametrize(
    ("text", "op", "threshold"),
    [
        (">= 0.999", ">=", 0.999),
        ("<0.01", "<", 0.01),
        ("== 1", "==", 1.0),
        ("  != -2.5e3 ", "!=", -2500.0),
        ("> 0", ">", 0.0),
        ("<= +Inf", "<=", math.inf),
    ],
)
def test_conditions_parse(text: str, op: str, threshold: float) -> None:
    """An operator and a number, spaces optional, scientific notation allowed."""
    assert parse_condition(text) == Condition(op, threshold)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "expected an operator"),
        ("0.999", "expected an operator"),
        ("=> 1", "expected an operator"),
        ("= 1", "expected an operator"),
        (">= abc", "'abc' is not a number"),
        (">= {{ params.slo }}", "expected an operator"),
        (">= NaN", "NaN cannot be compared"),
        ("> 1 2", "expected an operator"),
        (0.5, "got float"),
    ],
)
def test_bad_conditions_fail(value: object, reason: str) -> None:
    """Anything but a literal ``op number`` is refused (conditions are never templates)."""
    with pytest.raises(ValueError, match=reason):
        parse_condition(value)


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        (">= 0.999", 0.9995, True),
        (">= 0.999", 0.999, True),
        (">= 0.999", 0.42, False),
        ("< 0.01", 0.001, True),
        ("== 1", 1.0, True),
        ("!= 1", 0.0, True),
        ("> 0", math.nan, False),
        ("!= 0", math.nan, False),
        ("< 100", math.inf, False),
    ],
)
def test_conditions_evaluate(condition: str, value: float, holds: bool) -> None:
    """Comparison as written; NaN satisfies no condition."""
    assert parse_condition(condition).holds(value) is holds


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"query": "sla:availability:5m", "condition": ">= 0.999"},
            {
                "condition": Condition(">=", 0.999),
                "timeout": timedelta(minutes=10),
                "interval": timedelta(seconds=15),
            },
        ),
        (
            {"query": "up", "condition": "== 1", "timeout": "2s", "interval": "200ms"},
            {"timeout": timedelta(seconds=2), "interval": timedelta(milliseconds=200)},
        ),
    ],
)
def test_valid_wait_params(given: dict[str, Any], expected: dict[str, Any]) -> None:
    """``timeout`` defaults to 10m and ``interval`` to 15s."""
    params = WaitParams.model_validate(given)
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("model", "given", "reason"),
    [
        (WaitParams, {"query": "up"}, "condition"),
        (WaitParams, {"query": "up", "condition": "1"}, "expected an operator"),
        (WaitParams, {"query": "", "condition": "== 1"}, "must not be empty"),
        (WaitParams, {"query": "up", "condition": "== 1", "timeout": "0s"}, "timeout must be"),
        (WaitParams, {"query": "up", "condition": "== 1", "interval": "0s"}, "interval must be"),
        (
            WaitParams,
            {"query": "up", "condition": "== 1", "timeout": "10s", "interval": "1m"},
            "interval must not be longer than timeout",
        ),
        (QueryParams, {"query": "up", "expect": "positive"}, "expected an operator"),
        (QueryParams, {"query": "up", "condition": "> 0"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_params(
    model: type[QueryParams | WaitParams], given: dict[str, Any], reason: str
) -> None:
    """Missing or malformed conditions and impossible timings fail at load time."""
    with pytest.raises(ValidationError, match=reason):
        model.model_validate(given)


def test_params_serialize_conditions_as_written() -> None:
    """Dumped params show conditions and durations the way playbooks write them."""
    params = WaitParams.model_validate({"query": "up", "condition": ">=0.999", "timeout": "90s"})
    assert params.model_dump(mode="json") == {
        "query": "up",
        "condition": ">= 0.999",
        "timeout": "1m30s",
        "interval": "15s",
    }


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            describe_query(QueryParams(query="up{job='api'}")),
            "would query Prometheus for `up{job='api'}`",
        ),
        (
            describe_query(QueryParams.model_validate({"query": "up", "expect": "> 0"})),
            "would query Prometheus for `up` and check that every sample is > 0",
        ),
        (
            describe_wait(
                WaitParams.model_validate(
                    {"query": "sla:availability:5m\n  {deployment='x'}", "condition": ">= 0.999"}
                )
            ),
            "would poll Prometheus every 15s for up to 10m until every sample of "
            "`sla:availability:5m {deployment='x'}` is >= 0.999",
        ),
    ],
)
def test_describe_sentences(sentence: str, expected: str) -> None:
    """Dry-run sentences show the query on one line and the condition as written."""
    assert sentence == expected


@pytest.mark.parametrize(
    ("samples", "text"),
    [
        ([], "no samples"),
        ([Sample(labels={}, value=2.0)], "2"),
        ([Sample(labels={"__name__": "up"}, value=1.0)], "up 1"),
        (
            [Sample(labels={"__name__": "up", "job": "api", "instance": "a:1"}, value=0.5)],
            'up{instance="a:1", job="api"} 0.5',
        ),
        (
            [Sample(labels={"job": "x"}, value=math.nan)] * 7,
            '{job="x"} NaN, ' * 4 + '{job="x"} NaN and 2 more',
        ),
    ],
)
def test_values_read_like_prometheus(samples: list[Sample], text: str) -> None:
    """Error messages and summaries show samples as PromQL series with their values, at most
    five of them."""
    assert QueryResult(result_type="vector", samples=samples).describe_values() == text
