"""Prometheus metrics, one registry per app (names start with ``medic_``).

Counters of what happened (deliveries, runs, steps, decisions) count in this process since
it started; the figures only the store knows (pending approvals, the engine's lag, delivery
backlogs) are read from it at each scrape by :meth:`Metrics.refresh`, so every replica
reports the same values for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.events import ApprovalEvent, IncidentChange, RunEvent, StepEvent
from bot.store.health import StoreHealth

DELIVERY_TARGETS = ("slack", "pagerduty")


class Metrics:
    """The counters and histograms Medic exposes on ``/metrics``."""

    def __init__(self, slack_failures: Callable[[], int] | None = None) -> None:
        """``slack_failures``: failed Slack deliveries so far (when Slack narrates)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._per_source: dict[str, _SourceMetrics] = {}
        self.alerts_received = Counter(
            "medic_alerts_received",
            "Alerts in valid deliveries, duplicates included.",
            ["source"],
            registry=self.registry,
        )
        self.alerts_duplicate = Counter(
            "medic_alerts_duplicate",
            "Alerts ignored because the same (fingerprint, startsAt, status) was already taken.",
            ["source"],
            registry=self.registry,
        )
        self.deliveries_rejected = Counter(
            "medic_deliveries_rejected",
            "Webhook deliveries refused, by error code.",
            ["source", "reason"],
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "medic_ingest_latency_seconds",
            "From request to durable commit, for accepted deliveries.",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.incidents_opened = Counter(
            "medic_incidents_opened",
            "Incidents opened.",
            registry=self.registry,
        )
        self.runs_finished = Counter(
            "medic_runs_finished",
            "Runs that reached a final status, by playbook and outcome (the run status).",
            ["playbook", "outcome"],
            registry=self.registry,
        )
        self.steps_finished = Counter(
            "medic_steps_finished",
            "Steps that finished, by playbook, action and outcome (the step status).",
            ["playbook", "action", "outcome"],
            registry=self.registry,
        )
        self.approvals_decided = Counter(
            "medic_approvals_decided",
            "Approvals that ended, by mode and outcome (approved, rejected, expired, cancelled).",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self.breaker_holds = Counter(
            "medic_remediation_breaker_holds",
            "Automatic write steps the ineffective-remediation breaker held back, by playbook.",
            ["playbook"],
            registry=self.registry,
        )
        self.slack_failures: Callable[[], int] = slack_failures or (lambda: 0)
        self.store = _StoreFigures()
        self.registry.register(self.store)

    def received(self, source: str, alerts: int) -> None:
        """A valid delivery of ``alerts`` alerts arrived (before its commit)."""
        self._source(source).received.inc(alerts)

    def committed(self, source: str, duplicates: int, seconds: float | None = None) -> None:
        """A delivery was committed ``seconds`` after it arrived, ``duplicates`` of its
        alerts already taken."""
        children = self._source(source)
        children.duplicate.inc(duplicates)
        if seconds is not None:
            children.latency.observe(seconds)

    def _source(self, source: str) -> _SourceMetrics:
        # labels() looks its child up under a lock on every call; a delivery is hot
        children = self._per_source.get(source)
        if children is None:
            children = self._per_source[source] = _SourceMetrics(
                self.alerts_received.labels(source),
                self.alerts_duplicate.labels(source),
                self.ingest_latency.labels(source),
            )
        return children

    def refresh(
        self, health: StoreHealth, *, paused: bool, store_errors: int, now: datetime
    ) -> None:
        """Take this scrape's store figures, the pause switch and the store error count."""
        self.store.health = health
        self.store.paused = paused
        self.store.store_errors = store_errors
        self.store.slack_failures = self.slack_failures()
        self.store.now = now

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class _SourceMetrics:
    received: Counter
    duplicate: Counter
    latency: Histogram


@dataclass(eq=False)  # the registry keys collectors by identity
class _StoreFigures(Collector):
    """Gauges read from the store at the last refresh, plus counters kept elsewhere."""

    health: StoreHealth | None = None
    paused: bool = False
    store_errors: int = 0
    slack_failures: int = 0
    now: datetime | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The families; gauges are 0 until the first refresh."""
        health, now = self.health, self.now
        pending = GaugeMetricFamily(
            "medic_approvals_pending", "Approvals waiting for a human decision."
        )
        oldest = GaugeMetricFamily(
            "medic_approvals_oldest_pending_age_seconds",
            "Age of the oldest pending approval; 0 when none is pending.",
        )
        lag = GaugeMetricFamily(
            "medic_engine_lag_seconds",
            "Age of the oldest accepted alert or event the engine has not processed yet; "
            "0 when it is caught up.",
        )
        backlog = GaugeMetricFamily(
            "medic_delivery_backlog",
            "Incidents whose Slack narration, or PagerDuty state, is behind.",
            labels=["target"],
        )
        failures = CounterMetricFamily(
            "medic_delivery_failures",
            "Failed deliveries: Slack calls since this process started; PagerDuty calls "
            "recorded in the audit trail.",
            labels=["target"],
        )
        pending.add_metric([], health.pending_approvals if health else 0)
        oldest.add_metric([], _age(health.oldest_pending_approval if health else None, now))
        lag.add_metric([], _age(health.oldest_unprocessed if health else None, now))
        backlog.add_metric(["slack"], health.slack_backlog if health else 0)
        backlog.add_metric(["pagerduty"], health.pagerduty_backlog if health else 0)
        failures.add_metric(["slack"], self.slack_failures)
        failures.add_metric(["pagerduty"], health.pagerduty_failures if health else 0)
        paused = GaugeMetricFamily(
            "medic_paused", "1 while the global pause switch holds write steps, else 0."
        )
        paused.add_metric([], 1 if self.paused else 0)
        errors = CounterMetricFamily(
            "medic_store_errors",
            "Errors the store's driver raised (connections, statements, commits).",
        )
        errors.add_metric([], self.store_errors)
        yield from (pending, oldest, lag, backlog, failures, paused, errors)


def _age(since: datetime | None, now: datetime | None) -> float:
    if since is None or now is None:
        return 0.0
    return max((now - since).total_seconds(), 0.0)


_FINAL_APPROVALS = frozenset({"approved", "rejected", "expired", "cancelled"})


class MetricsNarrator:
    """Turns engine events into the run, step and approval counters: a narrator, so it is
    told each event once, after its commit, like the others."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def incident_changed(self, change: IncidentChange) -> None:
        """Incidents are counted where they open (the intake)."""

    async def step_started(self, event: StepEvent) -> None:
        """Only finished steps are counted."""

    async def step_finished(self, event: StepEvent) -> None:
        """One more step of this playbook and action with this outcome."""
        self._metrics.steps_finished.labels(event.playbook, event.action, event.status).inc()

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """Pending approvals are read from the store at each scrape."""

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """One more approval of this mode with this outcome."""
        if event.status in _FINAL_APPROVALS:
            self._metrics.approvals_decided.labels(event.mode, event.status).inc()

    async def run_finished(self, event: RunEvent) -> None:
        """One more run of this playbook with this outcome."""
        self._metrics.runs_finished.labels(event.playbook, event.status).inc()
