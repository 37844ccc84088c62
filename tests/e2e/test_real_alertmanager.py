"""``medic serve`` as a subprocess behind a real Alertmanager (and once a real Prometheus)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.alertmanager import AlertmanagerServer
from harness.http import get_json
from harness.medic import MedicProcess
from harness.prometheus import PrometheusServer
from harness.waiting import wait_until
from medickit import AM_TOKEN

WRONG_TOKEN = "wrong-am-token-3e9d41c7"
DELIVERY_TIMEOUT = 10.0
PROMETHEUS_TIMEOUT = 30.0
REJECTED = "medic_deliveries_rejected_total"
ALWAYS_FIRING_RULES = """\
groups:
  - name: e2e
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: critical
        annotations:
          summary: AlwaysFiring from a real Prometheus rule
"""


@dataclass(frozen=True)
class Stack:
    """One ``medic serve`` and the Alertmanager that delivers to it."""

    medic: MedicProcess
    alertmanager: AlertmanagerServer


def _stack(workdir: Path, alertmanager_token: str) -> Iterator[Stack]:
    """Medic expecting ``AM_TOKEN``; Alertmanager sending ``alertmanager_token``."""
    medic = MedicProcess(
        workdir, store_url=f"sqlite:///{workdir / 'medic.db'}", bearer_token=AM_TOKEN
    )
    with medic.start():
        webhook = f"{medic.url}/webhooks/alertmanager"
        alertmanager = AlertmanagerServer(webhook, bearer_token=alertmanager_token)
        with alertmanager.start(workdir):
            yield Stack(medic, alertmanager)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Alertmanager and Medic sharing the right token (tests use distinct alertnames)."""
    yield from _stack(tmp_path_factory.mktemp("stack"), AM_TOKEN)


@pytest.fixture(scope="module")
def wrong_token_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Alertmanager configured with a token Medic does not accept."""
    yield from _stack(tmp_path_factory.mktemp("wrong-token"), WRONG_TOKEN)


def api_alert(
    alertname: str, *, starts_at: datetime, ends_at: datetime | None = None, **labels: str
) -> dict[str, Any]:
    """One alert for Alertmanager's ``POST /api/v2/alerts``, titled ``<alertname> e2e``."""
    alert: dict[str, Any] = {
        "labels": {"alertname": alertname, "severity": "critical", **labels},
        "annotations": {"summary": f"{alertname} e2e"},
        "startsAt": starts_at,
    }
    return alert if ends_at is None else {**alert, "endsAt": ends_at}


def incidents_titled(medic: MedicProcess, title: str) -> list[dict[str, Any]]:
    """The incidents in ``GET /api/incidents`` whose title is ``title``."""
    listing = get_json(f"{medic.url}/api/incidents")
    return [incident for incident in listing["incidents"] if incident["title"] == title]


def counts_and_statuses(medic: MedicProcess, title: str) -> list[tuple[int, str]]:
    """``(alert_count, status)`` of each incident titled ``title``."""
    return [(i["alert_count"], i["status"]) for i in incidents_titled(medic, title)]


def log_events(medic: MedicProcess, event: str) -> int:
    """How many JSON log lines of ``medic`` have ``"event": event``."""
    lines = [line for line in medic.log_text().splitlines() if line.startswith("{")]
    return sum(json.loads(line).get("event") == event for line in lines)


def test_one_group_is_one_incident_that_resolves_with_its_alerts(stack: Stack) -> None:
    """Two alerts of one alertname (two instances) that Alertmanager groups and delivers are
    one open incident with two alerts; once both are resolved at Alertmanager, Alertmanager's
    resolved notification resolves the incident."""
    starts_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    alerts = [
        api_alert("E2EGroupedPair", starts_at=starts_at, instance=instance)
        for instance in ("node-a:9100", "node-b:9100")
    ]
    stack.alertmanager.post_alerts(alerts)
    wait_until(
        lambda: counts_and_statuses(stack.medic, "E2EGroupedPair e2e") == [(2, "open")],
        DELIVERY_TIMEOUT,
        "one open incident with 2 alerts",
    )

    ends_at = datetime.now(UTC) - timedelta(seconds=1)
    stack.alertmanager.post_alerts([{**alert, "endsAt": ends_at} for alert in alerts])
    wait_until(
        lambda: counts_and_statuses(stack.medic, "E2EGroupedPair e2e") == [(2, "resolved")],
        DELIVERY_TIMEOUT,
        "the incident to be resolved",
    )


def test_wrong_token_at_alertmanager_is_refused_and_stores_nothing(
    wrong_token_stack: Stack,
) -> None:
    """Alertmanager with a bearer token Medic does not know really delivers, Medic refuses it
    as unauthorized (counted on /metrics), and no incident appears."""
    medic = wrong_token_stack.medic
    labels = {"source": "alertmanager", "reason": "unauthorized"}
    before = medic.metric(REJECTED, **labels)
    starts_at = datetime.now(UTC) - timedelta(minutes=1)
    wrong_token_stack.alertmanager.post_alerts([api_alert("E2EWrongToken", starts_at=starts_at)])
    wait_until(
        lambda: medic.metric(REJECTED, **labels) >= before + 1,
        DELIVERY_TIMEOUT,
        "Medic to refuse Alertmanager's delivery as unauthorized",
    )
    assert get_json(f"{medic.url}/api/incidents") == {"incidents": []}


def test_prometheus_rule_reaches_medic_through_alertmanager(stack: Stack, tmp_path: Path) -> None:
    """A rule firing in a real Prometheus goes through the real Alertmanager to Medic: one open
    sev1 incident titled by the rule's summary, its alert carrying exactly the rule's labels."""
    title = "AlwaysFiring from a real Prometheus rule"
    with PrometheusServer(stack.alertmanager.url, ALWAYS_FIRING_RULES).start(tmp_path):
        incidents = wait_until(
            lambda: incidents_titled(stack.medic, title),
            PROMETHEUS_TIMEOUT,
            f"an incident titled {title!r}",
        )
    assert [(i["severity"], i["status"], i["alert_count"]) for i in incidents] == [
        ("sev1", "open", 1)
    ]
    detail = get_json(f"{stack.medic.url}/api/incidents/{incidents[0]['id']}")
    assert [(a["source"], a["status"], a["labels"]) for a in detail["alerts"]] == [
        ("alertmanager", "firing", {"alertname": "AlwaysFiring", "severity": "critical"})
    ]


@pytest.mark.parametrize(
    ("stack_fixture", "event", "alertname"),
    [
        ("stack", "incident.opened", "E2ELogsAccepted"),
        ("wrong_token_stack", "webhook.rejected", "E2ELogsRefused"),
    ],
    ids=["accepted", "refused"],
)
def test_logs_never_contain_a_bearer_token(
    request: pytest.FixtureRequest, stack_fixture: str, event: str, alertname: str
) -> None:
    """Whether Medic takes or refuses Alertmanager's delivery, nothing it writes (JSON logs on
    stdout, narration on stderr) contains the configured or the presented bearer token."""
    stack: Stack = request.getfixturevalue(stack_fixture)
    before = log_events(stack.medic, event)
    starts_at = datetime.now(UTC) - timedelta(minutes=1)
    stack.alertmanager.post_alerts([api_alert(alertname, starts_at=starts_at)])
    wait_until(
        lambda: log_events(stack.medic, event) > before,
        DELIVERY_TIMEOUT,
        f"a {event} log line",
    )
    text = stack.medic.log_text()
    assert AM_TOKEN not in text
    assert WRONG_TOKEN not in text
