"""Slack as an integration: the ``slack.notify`` action and the shared Web API client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.actions.integration import ClientSetup, Integration
from bot.config.models import SlackConfig
from responders.slack import actions
from responders.slack.client import SlackClient
from responders.slack.const import POST_INTERVAL_S, SYSTEM, TIMEOUT_S

POST_INTERVAL = "slack.post_interval_s"
CALL_TIMEOUT = "slack.call_timeout_s"
"""Names of the ``ClientSetup.tuning`` knobs this client reads."""


@asynccontextmanager
async def open_client(setup: ClientSetup) -> AsyncIterator[SlackClient]:
    """The process's Slack client, closed at shutdown."""
    client = SlackClient(
        setup.config_as(SlackConfig),
        post_interval=setup.tuning.get(POST_INTERVAL, POST_INTERVAL_S),
        timeout=setup.tuning.get(CALL_TIMEOUT, TIMEOUT_S),
    )
    try:
        yield client
    finally:
        await client.close()


integration = Integration(
    name=SYSTEM, config=SlackConfig, actions=[actions.notify], client=open_client
)
