"""Slack Socket Mode: the same bolt app as ``POST /slack/events``, fed over the websocket
Slack opens for an app-level token, for a Medic that Slack cannot reach (no public URL).

slack-bolt's handler acks each envelope with the listener's reply; slack_sdk's client keeps
the connection up (pings, reconnects on ``disconnect``). Only the first connection is
Medic's to retry: Slack may be down when Medic starts, and Medic must start anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.tasks import BackgroundService

log = structlog.get_logger(__name__)

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0
_CONNECT_ERRORS = (SlackApiError, SlackClientError, aiohttp.ClientError, OSError, TimeoutError)


class _Connection(Protocol):
    """What Medic uses of slack_sdk's (untyped) Socket Mode client."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


class SlackSocket(BackgroundService):
    """The Socket Mode connection: ``start()`` connects in the background, retrying with
    backoff until Slack answers; ``stop()`` stops connecting and disconnects."""

    task_name = "slack-socket-connect"

    def __init__(self, bolt: AsyncApp, app_token: str) -> None:
        super().__init__()
        handler = AsyncSocketModeHandler(
            bolt, app_token, logger=logging.getLogger("medic.slack.socket")
        )
        self._connection = cast(_Connection, handler.client)

    async def _close(self) -> None:
        await self._connection.close()

    async def _run(self) -> None:
        delay = FIRST_RETRY_S
        while True:
            try:
                await self._connection.connect()
            except _CONNECT_ERRORS as err:
                log.warning("slack.socket_unavailable", error=_describe(err), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            log.info("slack.socket_connected")
            return


def _describe(err: BaseException) -> str:
    """What went wrong, without the token (Slack's error code, or the exception's type)."""
    if isinstance(err, SlackApiError):
        return str(err.response.get("error", "slack_api_error"))
    return type(err).__name__
