"""PagerDuty as an integration: pages, notes, acknowledgements and resolutions, both ways:
its webhook and event mapping (PagerDuty → Medic), escalation pages and status sync
(Medic → PagerDuty)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.actions.integration import ClientSetup, Integration
from responders.pagerduty import actions, events, sync
from responders.pagerduty.client import PagerDutyClient
from responders.pagerduty.config import PagerDutyConfig
from responders.pagerduty.const import SYSTEM
from responders.pagerduty.webhook import WEBHOOK_ROUTE


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
    title="PagerDuty",
    routes=[WEBHOOK_ROUTE],
    inbound=events.take_event,
    on_resolved=sync.resolve_remote,
    on_acknowledged=sync.acknowledge_remote,
    pager=sync.page_escalation,
)
