"""Alertmanager label matchers: parsing, anchoring, missing labels; checked against amtool."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.matchers import (
    Matcher,
    MatcherSyntaxError,
    MatchOp,
    matches_all,
    parse_matcher,
    quote,
)

# (matcher text, labels, does it match) — every case is also run through amtool below.
MATCH_CASES: list[tuple[str, dict[str, str], bool]] = [
    # =
    ('severity="critical"', {"severity": "critical"}, True),
    ('severity="critical"', {"severity": "warning"}, False),
    ('severity="critical"', {"severity": "Critical"}, False),
    ('severity="critical"', {}, False),
    # !=
    ('severity!="critical"', {"severity": "warning"}, True),
    ('severity!="critical"', {"severity": "critical"}, False),
    ('severity!="critical"', {}, True),
    # =~ is anchored at both ends, around the whole alternation
    ('alertname=~"High.*"', {"alertname": "HighCPU"}, True),
    ('alertname=~"foo"', {"alertname": "foo"}, True),
    ('alertname=~"foo"', {"alertname": "foobar"}, False),
    ('alertname=~"foo"', {"alertname": "xfoo"}, False),
    ('alertname=~"foo"', {"alertname": "foo\n"}, False),
    ('alertname=~"foo|bar"', {"alertname": "bar"}, True),
    ('alertname=~"foo|bar"', {"alertname": "foobar"}, False),
    ('alertname=~"foo|bar"', {"alertname": "xbar"}, False),
    ('alertname=~"foo"', {}, False),
    # !~
    ('alertname!~"foo|bar"', {"alertname": "foo"}, False),
    ('alertname!~"foo|bar"', {"alertname": "foobar"}, True),
    ('alertname!~"foo|bar"', {"alertname": "baz"}, True),
    # a missing label is the empty string
    ('x=""', {}, True),
    ('x=""', {"x": ""}, True),
    ('x=""', {"x": "a"}, False),
    ('x!=""', {}, False),
    ('x!=""', {"x": "a"}, True),
    ('x=~".*"', {}, True),
    ('x=~".+"', {}, False),
    ('x!~".+"', {}, True),
    ('x!~".+"', {"x": "a"}, False),
    # quoted escapes: \" \\ \n; any other backslash is kept (regex escapes survive)
    (r'msg="say \"hi\""', {"msg": 'say "hi"'}, True),
    (r'path="C:\\dir"', {"path": "C:\\dir"}, True),
    (r'text="a\nb"', {"text": "a\nb"}, True),
    (r'host=~"db\.prod"', {"host": "db.prod"}, True),
    (r'host=~"db\.prod"', {"host": "dbxprod"}, False),
    (r'code=~"5\d\d"', {"code": "503"}, True),
    # unquoted values: the rest of the text, trimmed
    ("severity=critical", {"severity": "critical"}, True),
    ("env=~prod|staging", {"env": "staging"}, True),
    ("env!~prod|staging", {"env": "production"}, True),
    ("env=prod ", {"env": "prod"}, True),
    # whitespace around the parts
    ('  severity  =  "critical"  ', {"severity": "critical"}, True),
    ('team = "sre ops"', {"team": "sre ops"}, True),
    ("team = sre ops ", {"team": "sre ops"}, True),
]

# (matcher text, part of the error message)
SYNTAX_ERRORS: list[tuple[str, str]] = [
    ("", "expected a label name"),
    ('1x="a"', "expected a label name"),
    ('"x"="a"', "expected a label name"),
    ("severity", "expected one of =, !=, =~, !~"),
    ('severity~="a"', "expected one of =, !=, =~, !~"),
    ('label-name="a"', "expected one of =, !=, =~, !~"),
    ('x="abc', "unterminated quoted value"),
    ('x="abc\\"', "unterminated quoted value"),
    ('x="a" b', "unexpected ' b' after the quoted value"),
    ('x="a",y="b"', """unexpected ',y="b"' after the quoted value"""),
    ('x=a"b', "unescaped double quote"),
    ('x=="a"', "unescaped double quote"),
    ('x=~"("', "invalid regular expression '(': missing ), unterminated subpattern"),
    ('x!~"[a-"', "invalid regular expression '[a-': unterminated character set"),
    ('x=~"a)|(b"', "invalid regular expression 'a)|(b': unbalanced parenthesis"),
]

# Errors Alertmanager rejects too; ``a)|(b`` it accepts (and un-anchors), and a
# route's ``matchers`` line may hold several comma-separated matchers.
AM_REJECTS = [text for text, _ in SYNTAX_ERRORS if text not in {"", 'x="a",y="b"', 'x=~"a)|(b"'}]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH_CASES)
def test_matcher_verdicts(text: str, labels: dict[str, str], expected: bool) -> None:
    """A parsed matcher follows Alertmanager's semantics: anchored regexes, missing = ""."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(("text", "reason"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, reason: str) -> None:
    """Malformed matchers are refused with a reason naming what is wrong."""
    with pytest.raises(MatcherSyntaxError, match=re.escape(reason)):
        parse_matcher(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', Matcher("severity", MatchOp.EQ, "critical")),
        ("  a !=  b ", Matcher("a", MatchOp.NE, "b")),
        ('a=~"x|y"', Matcher("a", MatchOp.RE, "x|y")),
        (r'a!~"\d+"', Matcher("a", MatchOp.NRE, r"\d+")),
        ("a=", Matcher("a", MatchOp.EQ, "")),
        ('a="=~"', Matcher("a", MatchOp.EQ, "=~")),
    ],
)
def test_parse_fields(text: str, expected: Matcher) -> None:
    """Parsing yields the name, the operator and the unescaped value."""
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(
    ("matcher", "canonical"),
    [
        (Matcher("severity", MatchOp.EQ, "critical"), 'severity="critical"'),
        (Matcher("a", MatchOp.RE, r"db\.prod|x"), r'a=~"db\\.prod|x"'),
        (Matcher("msg", MatchOp.NE, 'say "hi"\n'), r'msg!="say \"hi\"\n"'),
        (Matcher("x", MatchOp.NRE, ""), 'x!~""'),
    ],
)
def test_str_is_canonical_and_round_trips(matcher: Matcher, canonical: str) -> None:
    """``str()`` gives canonical quoted text that parses back to an equal matcher."""
    assert (str(matcher), parse_matcher(str(matcher))) == (canonical, matcher)


@pytest.mark.parametrize(
    ("name", "op", "value", "reason"),
    [
        ("1x", MatchOp.EQ, "a", "invalid label name '1x'"),
        ("x", "==", "a", "unknown operator '=='"),
        ("x", MatchOp.RE, "(", "invalid regular expression '('"),
    ],
)
def test_constructor_validates(name: str, op: Any, value: str, reason: str) -> None:
    """A Matcher built directly is checked like a parsed one."""
    with pytest.raises(MatcherSyntaxError, match=re.escape(reason)):
        Matcher(name, op, value)


def test_plain_string_operator_is_normalised() -> None:
    """An operator given as a plain string becomes its MatchOp."""
    assert Matcher("x", "=~", "a").op is MatchOp.RE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("texts", "labels", "expected"),
    [
        ([], {}, True),
        (['severity="critical"', 'team=~"sre|db"'], {"severity": "critical", "team": "db"}, True),
        (['severity="critical"', 'team=~"sre|db"'], {"severity": "critical", "team": "web"}, False),
        (['severity="critical"', 'team!=""'], {"severity": "critical"}, False),
    ],
)
def test_matches_all(texts: list[str], labels: dict[str, str], expected: bool) -> None:
    """matches_all holds when every matcher holds, and for no matchers at all."""
    assert matches_all([parse_matcher(text) for text in texts], labels) is expected


def _amtool_verdict(tmp_path: Path, matcher: str, labels: dict[str, str]) -> bool:
    """Whether Alertmanager routes ``labels`` through a route holding only ``matcher``."""
    config = {
        "route": {"receiver": "miss", "routes": [{"receiver": "hit", "matchers": [matcher]}]},
        "receivers": [{"name": "miss"}, {"name": "hit"}],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    args = [f"{name}={quote(value)}" for name, value in labels.items()]
    result = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return {"hit": True, "miss": False}[result.stdout.strip()]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH_CASES)
def test_verdicts_agree_with_alertmanager(
    tmp_path: Path, text: str, labels: dict[str, str], expected: bool
) -> None:
    """Alertmanager itself (amtool's route test) reaches the same verdict on every case."""
    assert _amtool_verdict(tmp_path, text, labels) is expected


@pytest.mark.parametrize("text", AM_REJECTS)
def test_alertmanager_rejects_the_same_syntax(tmp_path: Path, text: str) -> None:
    """amtool check-config refuses the malformed matchers Medic refuses."""
    config = {
        "route": {"receiver": "r", "routes": [{"receiver": "r", "matchers": [text]}]},
        "receivers": [{"name": "r"}],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        ["amtool", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (result.returncode, "FAILED" in result.stdout + result.stderr) == (1, True)
