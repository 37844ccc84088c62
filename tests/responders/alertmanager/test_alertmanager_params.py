"""``alertmanager.*`` params: Alertmanager matcher strings, silence durations, dry-run sentences."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.cli import main
from responders.alertmanager.actions import describe_expire_silence, describe_silence
from responders.alertmanager.models import (
    ExpireSilenceParams,
    Matcher,
    SilenceParams,
    parse_matcher,
)


@pytest.mark.parametrize(
    ("text", "matcher"),
    [
        ('alertname="DiskSpaceLow"', Matcher("alertname", "DiskSpaceLow", False, True)),
        ("severity = critical", Matcher("severity", "critical", False, True)),
        ('node!="worker-3"', Matcher("node", "worker-3", False, False)),
        ('instance=~"worker-.*"', Matcher("instance", "worker-.*", True, True)),
        ('job!~"node|kube"', Matcher("job", "node|kube", True, False)),
        (r'summary="say \"hi\"\\"', Matcher("summary", 'say "hi"\\', False, True)),
        ('team=""', Matcher("team", "", False, True)),
    ],
)
def test_matchers_parse_like_alertmanager(text: str, matcher: Matcher) -> None:
    """Matcher strings become the (name, value, isRegex, isEqual) the silences API takes."""
    assert parse_matcher(text) == matcher


@pytest.mark.parametrize(
    "text",
    [
        'alertname="DiskSpaceLow"',
        'node!="worker-3"',
        'instance=~"worker-.*"',
        'job!~"node|kube"',
        r'summary="say \"hi\"\\ and\nbye"',
        'team=""',
    ],
)
def test_matcher_text_parses_back_to_the_same_matcher(text: str) -> None:
    """``text()`` writes the matcher (value quoted and escaped) so that it parses back."""
    matcher = parse_matcher(text)
    assert matcher.text() == text
    assert parse_matcher(matcher.text()) == matcher


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ('node="w1"', {"node": "w1"}, True),
        ('node="w1"', {"node": "w10"}, False),
        ('node!="w1"', {"node": "w2"}, True),
        ('node!="w1"', {}, True),
        ('team=""', {}, True),
        ('instance=~"w.*"', {"instance": "w3:9100"}, True),
        ('instance=~"w"', {"instance": "w3"}, False),
        ('job!~"node|kube"', {"job": "kube"}, False),
        ('job!~"node|kube"', {"job": "api"}, True),
        ('job=~"("', {"job": "("}, False),
    ],
)
def test_matchers_match_labels_like_alertmanager(
    text: str, labels: dict[str, str], matches: bool
) -> None:
    """A missing label is empty; regexes match the whole value; a bad regex matches
    nothing."""
    assert parse_matcher(text).matches(labels) is matches


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("alertname", "not a matcher"),
        ('="x"', "not a matcher"),
        ('1node="x"', "not a matcher"),
        ('node=="x"', "stray quote"),
        ('node="x', "unterminated"),
        ('node="a"b"', "unescaped quote"),
        (r'node="a\tb"', "unknown escape"),
    ],
)
def test_bad_matchers_are_refused(text: str, reason: str) -> None:
    """Malformed matchers fail with what is wrong."""
    with pytest.raises(ValueError, match=reason):
        parse_matcher(text)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"matchers": ['alertname="DiskSpaceLow"'], "duration": "2h"},
            {"duration": timedelta(hours=2), "comment": None},
        ),
        (
            {"matchers": ['node="{{ labels.node }}"', "{{ params.matcher }}"], "duration": "30m"},
            {"matchers": ['node="{{ labels.node }}"', "{{ params.matcher }}"]},
        ),
        (
            {"matchers": ["a=b"], "duration": "1d", "comment": "noisy companions"},
            {"comment": "noisy companions"},
        ),
    ],
)
def test_valid_silence_params(given: dict[str, Any], expected: dict[str, Any]) -> None:
    """Literal and templated matchers validate; a matcher that is all template is parsed
    once rendered."""
    params = SilenceParams.model_validate(given)
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"matchers": [], "duration": "1h"}, "at least 1 item"),
        ({"matchers": ["alertname"], "duration": "1h"}, "not a matcher"),
        ({"matchers": ["a=b"]}, "duration"),
        ({"matchers": ["a=b"], "duration": "0s"}, "longer than 0s"),
        ({"matchers": ["a=b"], "duration": "1h", "comment": " "}, "must not be empty"),
        ({"matchers": "a=b", "duration": "1h"}, "valid list"),
    ],
)
def test_invalid_silence_params(given: dict[str, Any], reason: str) -> None:
    """A silence without matchers, with a malformed matcher or no positive duration fails."""
    with pytest.raises(ValidationError, match=reason):
        SilenceParams.model_validate(given)


def test_expire_silence_needs_an_id() -> None:
    """``silence_id`` is required and not blank."""
    with pytest.raises(ValidationError, match="must not be empty"):
        ExpireSilenceParams.model_validate({"silence_id": ""})


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            describe_silence(
                SilenceParams.model_validate(
                    {
                        "matchers": ['alertname="DiskSpaceLow"', 'node="worker-03"'],
                        "duration": "90m",
                        "comment": "disk cleanup\nin progress",
                    }
                )
            ),
            'would silence alerts matching {alertname="DiskSpaceLow", node="worker-03"} for '
            '1h30m in Alertmanager with comment "disk cleanup in progress"',
        ),
        (
            describe_expire_silence(ExpireSilenceParams(silence_id="5f1c-77")),
            "would expire Alertmanager silence 5f1c-77",
        ),
    ],
)
def test_describe_sentences(sentence: str, expected: str) -> None:
    """Dry-run sentences name the matchers, the duration and the silence."""
    assert sentence == expected


def test_check_refuses_a_silence_matcher_playbooks_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A silence's ``with.matchers`` are validated when playbooks load, by the same matcher
    parser as a playbook's ``match:`` (a regex that does not compile is refused, as
    Alertmanager refuses such a silence): ``medic check`` names the step's key and line."""
    playbook = tmp_path / "pb" / "silence.yaml"
    playbook.parent.mkdir()
    playbook.write_text(
        "name: silence-noise\n"
        "match: ['alertname=\"Noise\"']\n"
        "steps:\n"
        "  - id: quiet\n"
        "    uses: alertmanager.silence\n"
        "    with:\n"
        "      matchers: ['job=~\"(\"']\n"
        "      duration: 1h\n"
    )
    assert main(["check", str(playbook.parent)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{playbook}:7: steps.0.with.matchers.0: invalid regular expression '(': "
        "missing ), unterminated subpattern at position 0"
    ]
