"""Sandboxed templates: strict undefined names, the sandbox, and PromQL-safe quoting."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.playbooks.templates import (
    TemplateError,
    check_expression,
    check_template,
    evaluate,
    promql_literal,
    render,
    render_value,
)

INJECTION = 'x"} or vector(1) #'
CONTEXT: dict[str, Any] = {
    "labels": {"namespace": "shop", "deployment": "web", "job": INJECTION},
    "steps": {"history": {"output": {"last_change_age_s": 600, "revisions": []}}},
    "target": "deployment/shop/web",
}

# Label values that must survive quoting unchanged and never change a query's shape.
NASTY_VALUES = [
    INJECTION,
    'a\\"} or up{b="',
    "back\\slash",
    "line\nbreak\rand\ttab",
    "\x00\x01\x1b\x1f\x7f",
    "é ü 日本 \u0085 \u2028",
    "{{ labels.job }}",
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("deployment/{{ labels.namespace }}/{{ labels.deployment }}", "deployment/shop/web"),
        ('{{ labels.get("team", "") }}', ""),
        ('{{ labels.get("team", "sre") }}', "sre"),
        ('{{ labels.get("namespace", "none") }}', "shop"),
        ("{{ steps.history.output.last_change_age_s // 60 }} min", "10 min"),
        ("no template at all\n", "no template at all"),
        ("{{ labels.job }}", INJECTION),
    ],
)
def test_render(source: str, expected: str) -> None:
    """Templates render from the context; ``labels.get`` gives a default for optional labels."""
    assert render(source, CONTEXT) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ labels.team }}",
            "template '{{ labels.team }}': 'dict object' has no attribute 'team'",
        ),
        ("{{ incident.id }}", "template '{{ incident.id }}': 'incident' is undefined"),
        ("{{ labels.team | upper }}", "'dict object' has no attribute 'team'"),
        ("{% if labels.team %}x{% endif %}", "'dict object' has no attribute 'team'"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ x ", "unexpected end of template"),
        ("{{ labels.team }}" + "." * 100, "template '{{ labels.team }}" + "." * 42 + "…': "),
    ],
)
def test_render_errors(source: str, message: str) -> None:
    """Undefined names and failing operations raise TemplateError naming the template."""
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(source, CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ labels.__class__ }}",
        "{{ render.__globals__ }}",
        "{{ labels.update({'job': 'y'}) }}",
        "{{ labels.pop('job') }}",
        "{% for x in range(10**9) %}{% endfor %}",
    ],
)
def test_sandbox_refuses(source: str) -> None:
    """The sandbox refuses dunder access, mutating the context, and huge ranges."""
    with pytest.raises(TemplateError):
        render(source, {**CONTEXT, "render": render})


def test_render_value_nested() -> None:
    """render_value renders strings at any depth, leaves keys and other scalars as they are."""
    value = {
        "{{ labels.namespace }}": "{{ labels.deployment }}",
        "replicas": 3,
        "dry_run": False,
        "ratio": 0.5,
        "nothing": None,
        "args": ["--ns={{ labels.namespace }}", 7, {"deep": ["{{ target }}"]}],
        "pair": ("{{ labels.deployment }}", 1),
    }
    assert render_value(value, CONTEXT) == {
        "{{ labels.namespace }}": "web",
        "replicas": 3,
        "dry_run": False,
        "ratio": 0.5,
        "nothing": None,
        "args": ["--ns=shop", 7, {"deep": ["deployment/shop/web"]}],
        "pair": ("web", 1),
    }


def test_render_value_fails_on_undefined() -> None:
    """An undefined name anywhere inside the value raises TemplateError."""
    with pytest.raises(TemplateError, match="has no attribute 'team'"):
        render_value({"a": ["ok", {"b": "{{ labels.team }}"}]}, CONTEXT)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("steps.history.output.last_change_age_s > 21600", False),
        ("steps.history.output.last_change_age_s < 21600", True),
        ("steps.history.output.revisions", False),
        ("labels.namespace", True),
        ('labels.get("team", "")', False),
        ('labels.get("team", "") == "sre"', False),
        ('labels.namespace == "shop" and labels.deployment != "db"', True),
        ("labels.team is defined", False),
        ("0", False),
        ("'0'", True),
    ],
)
def test_evaluate(expression: str, expected: bool) -> None:
    """evaluate returns the expression's truthiness as a bool."""
    assert evaluate(expression, CONTEXT) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("labels.team", "expression 'labels.team': 'dict object' has no attribute 'team'"),
        ("incident", "expression 'incident': 'incident' is undefined"),
        ('labels.team == "sre"', "'dict object' has no attribute 'team'"),
        ("steps.verify.output.ok", "'dict object' has no attribute 'verify'"),
        ("1 / 0", "division by zero"),
        ("labels.__class__", "unsafe"),
        ("1 +", "unexpected 'end of template'"),
    ],
)
def test_evaluate_errors(expression: str, message: str) -> None:
    """Undefined names are errors, not falsy: a ``when`` never silently skips a step."""
    with pytest.raises(TemplateError, match=re.escape(message)):
        evaluate(expression, CONTEXT)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain", None),
        ("{{ labels.anything.at.all }}", None),
        ("{{ x ", "line 1: unexpected end of template, expected 'end of print statement'."),
        ("a\n{% if %}", "line 2: Expected an expression, got 'end of statement block'"),
        ("a\nb\n{% endfor %}", "line 3: Encountered unknown tag 'endfor'."),
        ("{{ x | nosuchfilter }}", "line 1: No filter named 'nosuchfilter'."),
    ],
)
def test_check_template(source: str, expected: str | None) -> None:
    """check_template reports syntax errors with their line, None for a valid template."""
    assert check_template(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.history.output.last_change_age_s > 21600", None),
        ('labels.get("x", "") == "y"', None),
        ("1 +", "line 1: unexpected 'end of template'"),
        ("a b", "line 1: chunk after expression"),
        ("{{ a }}", "line 1: expected token ':', got '}'"),
    ],
)
def test_check_expression(source: str, expected: str | None) -> None:
    """check_expression reports syntax errors in ``when`` / ``unless``, None when valid."""
    assert check_expression(source) == expected


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("web", '"web"'),
        ("", '""'),
        (INJECTION, r'"x\"} or vector(1) #"'),
        ("C:\\dir", r'"C:\\dir"'),
        ("a\nb\rc\td", r'"a\nb\rc\td"'),
        ("\x00\x1b\x7f", r'"\x00\x1b\x7f"'),
        ("\u0085é", '"\\u0085é"'),
        ("\ud800", r'"\ufffd"'),
        (42, '"42"'),
        (None, '"None"'),
    ],
)
def test_promql_literal(value: object, literal: str) -> None:
    """promql_literal quotes any value, escaping what could end or break the literal."""
    assert promql_literal(value) == literal


def test_promql_filter_keeps_injection_inside_the_literal() -> None:
    """A hostile label value rendered with ``| promql`` stays one matcher of one selector."""
    rendered = render("up{job={{ labels.job | promql }}}", CONTEXT)
    assert rendered == r'up{job="x\"} or vector(1) #"}'


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller checks the result."""
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, check=False, timeout=30
    )


def test_injection_query_passes_promtool_check_rules(tmp_path: Path) -> None:
    """The rendered injection query is valid PromQL to promtool.

    On its own this does not prove the shape (the unescaped query parses too, its
    tail commented out by ``#``); the next test checks what the query selects.
    """
    query = render("up{job={{ labels.job | promql }}}", CONTEXT)
    rules = {"groups": [{"name": "medic", "rules": [{"record": "medic:probe", "expr": query}]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = _promtool("check", "rules", str(path))
    assert (result.returncode, result.stderr) == (0, "")


def _go_escaped(value: str) -> str:
    """``value`` as a PromQL literal written independently of promql_literal: all \\U escapes."""
    return '"' + "".join(f"\\U{ord(char):08x}" for char in value) + '"'


@pytest.mark.parametrize("value", NASTY_VALUES)
def test_promql_selects_exactly_that_value(tmp_path: Path, value: str) -> None:
    """Prometheus's own engine (promtool test rules) selects exactly the series with the value.

    Two series exist, ``job="other"`` and ``job=<value>``; the rendered query must
    return just the second one, once: no ``or vector(1)``, no other matcher.
    """
    query = render("count(up{job={{ labels.job | promql }}}) by (job)", {"labels": {"job": value}})
    test = {
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'up{job="other"}', "values": "1"},
                    {"series": f"up{{job={_go_escaped(value)}}}", "values": "1"},
                ],
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": "0m",
                        "exp_samples": [{"labels": f"{{job={_go_escaped(value)}}}", "value": 1}],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test))
    result = _promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
