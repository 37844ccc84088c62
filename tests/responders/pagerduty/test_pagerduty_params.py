"""``pagerduty.*`` params and their dry-run sentences."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.actions.contract import ActionParams
from responders.pagerduty.actions import describe_acknowledge, describe_note, describe_page
from responders.pagerduty.models import AcknowledgeParams, NoteParams, PageParams, ResolveParams


@pytest.mark.parametrize(
    ("model", "given", "expected"),
    [
        (
            PageParams,
            {"summary": "{{ incident.title }}"},
            {"severity": "critical", "routing_key_name": None, "dedup_key": None, "details": {}},
        ),
        (
            PageParams,
            {"summary": "s", "severity": "warning", "details": {"replicas": 10}},
            {"severity": "warning", "details": {"replicas": "10"}},
        ),
        (
            PageParams,
            {"summary": "s", "routing_key_name": "security"},
            {"routing_key_name": "security"},
        ),
        (NoteParams, {"content": "rolled back"}, {"dedup_key": None}),
        (AcknowledgeParams, {}, {"dedup_key": None, "routing_key_name": None}),
        (ResolveParams, {"dedup_key": "INC-7"}, {"dedup_key": "INC-7"}),
    ],
)
def test_valid_params(
    model: type[ActionParams], given: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Typical pagerduty steps validate and fill defaults (critical, default routing key)."""
    params = model.model_validate(given)
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("model", "given", "reason"),
    [
        (PageParams, {}, "summary"),
        (
            PageParams,
            {"summary": "s", "severity": "sev1"},
            "'critical', 'error', 'warning' or 'info'",
        ),
        (PageParams, {"summary": "s", "routing_key_name": ""}, "must not be empty"),
        (PageParams, {"summary": "s", "dedup_key": "k" * 256}, "at most 255 characters"),
        (PageParams, {"summary": "s", "routing_key": "R0"}, "Extra inputs are not permitted"),
        (NoteParams, {"content": "  "}, "must not be empty"),
    ],
)
def test_invalid_params(model: type[ActionParams], given: dict[str, Any], reason: str) -> None:
    """Unknown severities, raw routing keys and blank texts are refused."""
    with pytest.raises(ValidationError, match=reason):
        model.model_validate(given)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            describe_page(
                PageParams(summary="Byzantine node worker-17", routing_key_name="security")
            ),
            "would page PagerDuty (critical, routing key 'security', dedup key this incident's "
            'id): "Byzantine node worker-17"',
        ),
        (
            describe_note(NoteParams(content="rolled back", dedup_key="INC-3")),
            'would add a note to the PagerDuty incident with dedup key INC-3: "rolled back"',
        ),
        (
            describe_acknowledge(AcknowledgeParams()),
            "would acknowledge this incident's PagerDuty incident",
        ),
    ],
)
def test_describe_sentences(sentence: str, expected: str) -> None:
    """Dry-run sentences say who would be paged, how loudly, and with what."""
    assert sentence == expected
