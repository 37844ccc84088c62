"""PagerDuty as an integration: pages, notes, acknowledgements and resolutions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.actions.integration import ClientSetup, Integration
from bot.config.models import PagerDutyConfig
from responders.pagerduty import actions
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.const import SYSTEM


@asynccontextmanager
async def open_client(setup: ClientSetup) -> AsyncIterator[PagerDutyClient]:
    """The process's PagerDuty client, closed at shutdown."""
    client = PagerDutyClient(setup.config_as(PagerDutyConfig), tls=setup.tls)
    try:
        yield client
    finally:
        await client.close()


integration = Integration(
    name=SYSTEM,
    config=PagerDutyConfig,
    actions=[actions.page, actions.note, actions.acknowledge, actions.resolve],
    client=open_client,
)
