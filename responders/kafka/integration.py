"""Kafka as an integration: consumer-group lag as evidence."""

from __future__ import annotations

from bot.actions.integration import Integration
from bot.config.models import KafkaConfig
from responders.kafka import actions
from responders.kafka.const import SYSTEM


def _enabled(config: KafkaConfig) -> bool:
    return config.bootstrap_servers is not None


integration = Integration(
    name=SYSTEM, config=KafkaConfig, actions=[actions.consumer_lag], enabled=_enabled
)
