"""Prometheus metrics, one registry per app (names start with ``medic_``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The counters and histograms Medic exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
