"""Alertmanager as an integration: silences Medic creates and expires, and the watch that
learns the resolutions they mute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.actions.integration import ClientSetup, Integration
from bot.config.models import AlertmanagerConfig
from responders.alertmanager import actions, watch
from responders.alertmanager.client import AlertmanagerClient
from responders.alertmanager.const import SYSTEM
from responders.alertmanager.silence_ledger import DeskLedger


@asynccontextmanager
async def open_client(setup: ClientSetup) -> AsyncIterator[AlertmanagerClient]:
    """The client for ``alertmanager.url``, on Medic's session, remembering its silences on
    Medic's desk."""
    config = setup.config_as(AlertmanagerConfig)
    if config.url is None:
        raise ValueError("alertmanager.url is not set")
    ledger = DeskLedger(setup.desk) if setup.desk is not None else None
    yield AlertmanagerClient(setup.http, config.url, ledger=ledger)


def _enabled(config: AlertmanagerConfig) -> bool:
    return config.url is not None


integration = Integration(
    name=SYSTEM,
    config=AlertmanagerConfig,
    actions=[actions.silence, actions.expire_silence],
    enabled=_enabled,
    client=open_client,
    title="Alertmanager",
    on_resolved=watch.expire_after_resolution,
    services=watch.silence_services,
)
