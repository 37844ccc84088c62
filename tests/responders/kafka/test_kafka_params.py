"""``kafka.consumer_lag`` params and dry-run sentence."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from responders.kafka.actions import describe_consumer_lag
from responders.kafka.models import ConsumerLagParams


@pytest.mark.parametrize(
    ("given", "sentence"),
    [
        (
            {"group": "dwcp-workers", "topic": "dwcp-tasks"},
            "would read the lag of consumer group dwcp-workers on topic dwcp-tasks",
        ),
        (
            {"group": "{{ labels.consumergroup }}"},
            "would read the lag of consumer group {{ labels.consumergroup }} on every topic it "
            "consumes",
        ),
    ],
)
def test_valid_params_and_sentence(given: dict[str, Any], sentence: str) -> None:
    """A group (templated or not) and an optional topic; the sentence names both."""
    assert describe_consumer_lag(ConsumerLagParams.model_validate(given)) == sentence


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({}, "group"),
        ({"group": ""}, "must not be empty"),
        ({"group": "g", "topic": " "}, "must not be empty"),
        ({"group": "g", "partition": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_params(given: dict[str, Any], reason: str) -> None:
    """A missing or blank group, a blank topic or an unknown key fails."""
    with pytest.raises(ValidationError, match=reason):
        ConsumerLagParams.model_validate(given)
