"""Alertmanager as an integration: silences Medic creates and expires."""

from __future__ import annotations

from bot.actions.integration import Integration
from bot.config.models import AlertmanagerConfig
from responders.alertmanager import actions
from responders.alertmanager.const import SYSTEM


def _enabled(config: AlertmanagerConfig) -> bool:
    return config.url is not None


integration = Integration(
    name=SYSTEM,
    config=AlertmanagerConfig,
    actions=[actions.silence, actions.expire_silence],
    enabled=_enabled,
)
