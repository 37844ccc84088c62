"""The PromQL expression(s) inside an alert's ``generatorURL`` (Prometheus' graph links)."""

from __future__ import annotations

import urllib.parse

import pytest

from bot.evidence.generator_url import expressions

EXPR = 'rate(http_requests_total{job="api", code=~"5.."}[5m]) > 0.01'


@pytest.mark.parametrize(
    ("url", "found"),
    [
        (f"http://prom:9090/graph?g0.expr={urllib.parse.quote(EXPR)}&g0.tab=1", [EXPR]),
        (f"http://prom:9090/graph?g0.expr={urllib.parse.quote_plus(EXPR)}&g0.tab=1", [EXPR]),
        ("http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1", ["up == 0"]),
        (
            "http://prom:9090/graph?g10.expr=c&g2.expr=b&g0.expr=a&g0.tab=1&g2.tab=0",
            ["a", "b", "c"],
        ),
        ("http://prom:9090/graph?g0.tab=1&g1.expr=up", ["up"]),
        ("http://prom:9090/graph?g0.expr=&g0.tab=1", []),
        ("http://prom:9090/graph?g0.tab=1", []),
        ("http://prometheus.example/graph", []),
        ("http://prom:9090/graph?expr=up&gx.expr=up&g0.exprs=up", []),
        ("not a url at all", []),
        ("", []),
        (None, []),
    ],
    ids=[
        "percent-encoded",
        "plus-encoded",
        "operators",
        "several-panels-by-number",
        "only-g1",
        "empty-expr",
        "no-expr",
        "no-query",
        "lookalike-keys",
        "not-a-url",
        "empty",
        "none",
    ],
)
def test_expressions_come_from_gN_expr_in_panel_order(url: str | None, found: list[str]) -> None:
    """Every non-empty ``g<N>.expr``, decoded, ordered by N; nothing for other URLs."""
    assert expressions(url) == found
