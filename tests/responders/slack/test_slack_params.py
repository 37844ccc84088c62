"""``slack.notify`` params: where a message may go, and the dry-run sentence."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from responders.slack.actions import describe_notify
from responders.slack.models import NotifyParams


@pytest.mark.parametrize(
    ("given", "sentence"),
    [
        ({"text": "rolled back"}, 'would post to the incident channel: "rolled back"'),
        (
            {"text": "Byzantine node\n{{ labels.node }}", "channel": "security"},
            'would post to the security channel (slack.security_channel): "Byzantine node '
            '{{ labels.node }}"',
        ),
        ({"text": "hi", "channel": "C0123ABCD"}, 'would post to channel C0123ABCD: "hi"'),
        ({"text": "hi", "channel": "#sre-oncall"}, 'would post to channel #sre-oncall: "hi"'),
        (
            {"text": "x" * 200, "channel": "{{ params.channel }}"},
            f'would post to channel {{{{ params.channel }}}}: "{"x" * 119}…"',
        ),
    ],
)
def test_valid_params_and_sentence(given: dict[str, Any], sentence: str) -> None:
    """Incident channel by default, ``security``, a channel id or #name; long or multi-line
    texts are shown on one cut line."""
    assert describe_notify(NotifyParams.model_validate(given)) == sentence


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({}, "text"),
        ({"text": " "}, "must not be empty"),
        ({"text": "t", "channel": "sre-oncall"}, "is not a channel"),
        ({"text": "t", "channel": "#SRE"}, "is not a channel"),
        ({"text": "t", "channel": ""}, "must not be empty"),
    ],
)
def test_invalid_params(given: dict[str, Any], reason: str) -> None:
    """Blank texts and channels that are neither ids, #names nor ``security`` fail."""
    with pytest.raises(ValidationError, match=reason):
        NotifyParams.model_validate(given)
