"""The async Slack Web API client behind narration, approvals and ``slack.notify``.

slack_sdk's ``AsyncWebClient`` pointed at ``slack.api_url``, with retry handlers for 429
(honouring ``Retry-After``), 5xx and connection errors, each bounded; every
``chat.postMessage`` first waits for its channel's turn (at most one per second per
channel, Slack's limit). Errors: what Slack refuses for good (``channel_not_found``,
``invalid_auth``…) is PermanentError; rate limits, 5xx, timeouts and network failures that
outlast the retries are RetryableError, so the caller keeps the work and tries later.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config.models import SlackConfig
from bot.errors import ConfigError, PermanentError, RetryableError
from responders.slack.const import (
    CHANNEL_NAME_ATTEMPTS,
    POST_INTERVAL_S,
    RATE_LIMIT_RETRIES,
    SERVER_ERROR_RETRIES,
    TIMEOUT_S,
)

log = structlog.get_logger(__name__)

"""``INC-<n>`` → its Slack channel id."""

# Errors that a later attempt may not repeat.
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})
# Invite answers that leave the invitees in the channel anyway.
_INVITE_HARMLESS = frozenset({"already_in_channel", "cant_invite_self"})


class ChannelPacer:
    """At most one post per ``interval`` seconds per channel, in arrival order."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[str, float] = {}

    @asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        """Hold the channel's turn; leaving the block starts the next interval."""
        async with self._locks[channel]:
            wait = self._last.get(channel, -self._interval) + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last[channel] = time.monotonic()


class SlackClient:
    """One per process; ``close()`` at shutdown."""

    def __init__(
        self,
        config: SlackConfig,
        *,
        post_interval: float = POST_INTERVAL_S,
        timeout: float = TIMEOUT_S,
    ) -> None:
        if config.bot_token is None:
            raise ConfigError(["slack.bot_token: required when slack.enabled is true"])
        # slack_sdk applies its ``timeout`` only to sessions it makes itself: bound ours.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        self.web = AsyncWebClient(
            token=config.bot_token.get_secret_value(),
            base_url=config.api_url,
            timeout=int(max(1, timeout)),
            session=self._session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=1),
                AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                AsyncServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
            ],
        )
        self.security_channel = config.security_channel
        self._pacer = ChannelPacer(post_interval)
        self._timeout = timeout

    async def close(self) -> None:
        """Release the HTTP session."""
        await self._session.close()

    async def create_channel(self, name: str) -> tuple[str, str]:
        """Create a public channel named ``name`` (or ``name-2``, ``name-3``… when taken);
        returns its id and final name."""
        for attempt in range(1, CHANNEL_NAME_ATTEMPTS + 1):
            candidate = name if attempt == 1 else _suffixed(name, attempt)
            try:
                answer = await self._call("conversations_create", name=candidate)
            except PermanentError as err:
                if "name_taken" in str(err):
                    continue
                raise
            channel = answer["channel"]
            return str(channel["id"]), str(channel["name"])
        raise PermanentError(f"conversations.create: {name!r} and its suffixes are all taken")

    async def invite(self, channel: str, users: Sequence[str]) -> list[str]:
        """Invite ``users``; one by one when Slack refuses the batch, so one bad id never
        keeps the others out. Returns the users that could not be invited."""
        wanted = sorted(set(users))
        if not wanted:
            return []
        try:
            await self._call("conversations_invite", channel=channel, users=",".join(wanted))
        except PermanentError as err:
            if any(code in str(err) for code in _INVITE_HARMLESS) and len(wanted) == 1:
                return []
        else:
            return []
        failed = []
        for user in wanted:
            try:
                await self._call("conversations_invite", channel=channel, users=user)
            except PermanentError as err:
                if not any(code in str(err) for code in _INVITE_HARMLESS):
                    failed.append(user)
        return failed

    async def set_topic(self, channel: str, topic: str) -> None:
        """Set the channel topic."""
        await self._call("conversations_setTopic", channel=channel, topic=topic)

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        paced: bool = True,
    ) -> str:
        """Post a message in its channel's turn (``paced=False``: the caller holds the turn,
        see :meth:`turn`); returns its ``ts``."""
        if paced:
            async with self.turn(channel):
                return await self.post(
                    channel, text, blocks=blocks, thread_ts=thread_ts, paced=False
                )
        answer = await self._call(
            "chat_postMessage",
            channel=channel,
            text=text,
            blocks=list(blocks) if blocks else None,
            thread_ts=thread_ts,
            unfurl_links=False,
        )
        return str(answer["ts"])

    def turn(self, channel: str) -> AbstractAsyncContextManager[None]:
        """Hold ``channel``'s posting turn: what is posted inside can be composed at the last
        moment, so a burst that arrived while waiting goes out as one message."""
        return self._pacer.turn(channel)

    async def update(
        self, channel: str, ts: str, text: str, *, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """Edit a message in place."""
        await self._call(
            "chat_update", channel=channel, ts=ts, text=text, blocks=list(blocks or [])
        )

    async def pin(self, channel: str, ts: str) -> None:
        """Pin a message (already pinned is fine)."""
        try:
            await self._call("pins_add", channel=channel, timestamp=ts)
        except PermanentError as err:
            if "already_pinned" not in str(err):
                raise

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees."""
        await self._call("chat_postEphemeral", channel=channel, user=user, text=text)

    async def respond(self, response_url: str, text: str) -> None:
        """Answer an interaction privately through its ``response_url`` (works for users who
        are not in the channel, unlike ``chat.postEphemeral``)."""
        body = {"text": text, "response_type": "ephemeral", "replace_original": False}
        try:
            async with self._session.post(
                response_url, json=body, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as answer:
                if answer.status >= 400:
                    raise PermanentError(f"response_url: HTTP {answer.status}")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise RetryableError(f"response_url: {type(err).__name__}") from err

    async def usergroup_members(self, group: str) -> list[str]:
        """The user ids of a user group."""
        answer = await self._call("usergroups_users_list", usergroup=group)
        users: list[object] = answer.get("users", [])
        return [str(user) for user in users]

    async def upload(
        self,
        channel: str,
        *,
        filename: str,
        title: str,
        content: bytes,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Slack's external upload flow: get an upload URL, send the bytes, complete.
        Returns the file id."""
        ticket = await self._call(
            "files_getUploadURLExternal", filename=filename, length=len(content)
        )
        try:
            async with self._session.post(
                str(ticket["upload_url"]),
                data=content,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as answer:
                if answer.status >= 400:
                    raise RetryableError(f"file upload: HTTP {answer.status}")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise RetryableError(f"file upload: {type(err).__name__}") from err
        file_id = str(ticket["file_id"])
        await self._call(
            "files_completeUploadExternal",
            files=[{"id": file_id, "title": title}],
            channel_id=channel,
            thread_ts=thread_ts,
            initial_comment=comment,
        )
        return file_id

    async def _call(self, method: str, **args: Any) -> AsyncSlackResponse:
        api = method.replace("_", ".", 1)
        kwargs = {key: value for key, value in args.items() if value is not None}
        try:
            answer: AsyncSlackResponse = await getattr(self.web, method)(**kwargs)
        except SlackApiError as err:
            code = str(err.response.get("error", "")) if err.response is not None else ""
            status = err.response.status_code if err.response is not None else 0
            if status == 429 or status >= 500 or code in _TRANSIENT:
                raise RetryableError(f"{api}: {code or f'HTTP {status}'}") from err
            raise PermanentError(f"{api}: {code or f'HTTP {status}'}") from err
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise RetryableError(f"{api}: {type(err).__name__}: {err}") from err
        return answer


def _suffixed(name: str, attempt: int) -> str:
    suffix = f"-{attempt}"
    return name[: 80 - len(suffix)] + suffix
