"""Prometheus as an integration: queries for evidence and verification."""

from __future__ import annotations

from bot.actions.integration import Integration
from bot.config.models import PrometheusConfig
from responders.prometheus import actions
from responders.prometheus.const import SYSTEM


def _enabled(config: PrometheusConfig) -> bool:
    return config.url is not None


integration = Integration(
    name=SYSTEM,
    config=PrometheusConfig,
    actions=[actions.query, actions.wait],
    enabled=_enabled,
)
