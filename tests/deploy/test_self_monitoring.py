"""Medic watches itself: every metric the chart's Grafana dashboard and PrometheusRule use
is exposed on a live ``medic serve``'s ``/metrics``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.chart import CHART, one, render
from harness.http import get_text
from harness.medic import MedicProcess
from medickit import AM_TOKEN

METRIC = re.compile(r"\b(medic_[a-z_]+)\b")
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= len(dashboard["panels"])
    return exprs


def _rule_exprs() -> list[str]:
    rule = one(render({"prometheusRule": {"enabled": True}}), "PrometheusRule")
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


def _exposed(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_the_dashboard_and_rules_use_is_exposed(tmp_path: Path) -> None:
    """Each ``medic_*`` name in the dashboard's and the rules' expressions is a family or
    sample of a freshly started Medic's ``/metrics`` (so none is misspelt or missing)."""
    used = {name for expr in _dashboard_exprs() + _rule_exprs() for name in METRIC.findall(expr)}
    with MedicProcess(
        tmp_path, store_url=f"sqlite:///{tmp_path / 'm.db'}", bearer_token=AM_TOKEN
    ).start() as medic:
        exposed = _exposed(get_text(f"{medic.url}/metrics"))
    missing = {
        name
        for name in used
        if name not in exposed and not any(name.removesuffix(s) in exposed for s in SUFFIXES)
    }
    assert used >= {
        "medic_engine_lag_seconds",
        "medic_delivery_backlog",
        "medic_approvals_decided_total",
        "medic_runs_finished_total",
        "medic_steps_finished_total",
        "medic_paused",
        "medic_store_errors_total",
    }
    assert missing == set()
