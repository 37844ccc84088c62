"""An async client for Alertmanager's API v2 (silences and alerts) over an aiohttp session.

Errors: a 4xx is final, PermanentError carrying Alertmanager's own message; a 5xx, a timeout
or a connection error is tried again at most ``retries`` times (waiting ``backoff_s``, then
doubling), then RetryableError. Alertmanager 0.25 answers a DELETE of an unknown silence with
a 500 ``silence not found``: that is an answer, not an outage, and is not retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from bot.errors import PermanentError, RetryableError
from responders.alertmanager.const import (
    ALERTS_PATH,
    BACKOFF_S,
    CREATED_BY,
    ERROR_TEXT_LIMIT,
    NOT_FOUND_TEXT,
    RETRIES,
    SILENCE_PATH,
    SILENCES_PATH,
    TIMEOUT_S,
)
from responders.alertmanager.models import Matcher
from responders.alertmanager.silence_ledger import NoLedger, SilenceLedger
from responders.alertmanager.wire import (
    ApiError,
    GettableAlert,
    PostableSilence,
    SilenceCreated,
    WireMatcher,
)
from responders.common import one_line


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes

    def message(self) -> str:
        """Alertmanager's error text: a JSON string, ``{"message": ...}`` or plain text."""
        text = self.body.decode("utf-8", errors="replace").strip()
        try:
            decoded: Any = json.loads(text)
        except ValueError:
            decoded = text
        if isinstance(decoded, dict):
            try:
                decoded = ApiError.model_validate(decoded).message
            except ValidationError:
                decoded = text
        return one_line(str(decoded), ERROR_TEXT_LIMIT) or "<empty body>"


class AlertmanagerClient:
    """One per process (``ctx.clients["alertmanager"]``), for the Alertmanager at ``url``.

    ``ledger`` hears of every silence created or expired through this client.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        ledger: SilenceLedger | None = None,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._session = session
        self.url = url.rstrip("/")
        self.ledger: SilenceLedger = ledger if ledger is not None else NoLedger()
        self._retries = retries
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def create_silence(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, comment: str
    ) -> str:
        """Create a silence (``createdBy`` medic); return its id."""
        body = PostableSilence(
            matchers=[WireMatcher.of(m) for m in matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=CREATED_BY,
            comment=comment,
        )
        answer = await self._call(
            "create the silence",
            "POST",
            SILENCES_PATH,
            json=body.model_dump(mode="json", by_alias=True),
        )
        try:
            return SilenceCreated.model_validate_json(answer.body).silence_id
        except ValidationError as err:
            raise PermanentError(
                f"Alertmanager answered {answer.status} without a silenceID: {answer.message()}"
            ) from err

    async def expire_silence(self, silence_id: str) -> bool:
        """Expire a silence (expiring an expired one is fine); False when Alertmanager does
        not know it."""
        path = SILENCE_PATH.format(id=quote(silence_id, safe=""))
        answer = await self._call(f"expire silence {silence_id}", "DELETE", path)
        return not _not_found(answer)

    async def alerts(self, matchers: Sequence[Matcher]) -> list[GettableAlert]:
        """The alerts Alertmanager holds that match every matcher, silenced ones included
        (their ``status.state`` is ``suppressed``); resolved ones are not listed."""
        params = [("filter", m.text()) for m in matchers]
        answer = await self._call("list alerts", "GET", ALERTS_PATH, params=params)
        try:
            return [GettableAlert.model_validate(item) for item in json.loads(answer.body)]
        except (ValueError, TypeError, ValidationError) as err:
            raise PermanentError(
                f"Alertmanager answered {answer.status} with alerts Medic cannot read: {err}"
            ) from err

    async def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Sequence[tuple[str, str]] = (),
    ) -> _Answer:
        """One request, tried again on an outage; a 4xx raises PermanentError."""
        failure = ""
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2.0 ** (attempt - 1))
            try:
                answer = await self._send(method, path, json, params)
            except TimeoutError:
                failure = f"no answer within {self._timeout.total:g} s"
                continue
            except aiohttp.ClientError as err:
                failure = f"cannot reach {self.url}: {err}"
                continue
            if answer.status < 400 or _not_found(answer):
                return answer
            if answer.status < 500:
                raise PermanentError(
                    f"Alertmanager refused to {what} ({answer.status}): {answer.message()}"
                )
            failure = f"answered {answer.status}: {answer.message()}"
        raise RetryableError(
            f"Alertmanager could not {what} after {self._retries + 1} attempts: {failure}"
        )

    async def _send(
        self, method: str, path: str, body: Any, params: Sequence[tuple[str, str]]
    ) -> _Answer:
        async with self._session.request(
            method, self.url + path, json=body, params=list(params), timeout=self._timeout
        ) as resp:
            return _Answer(resp.status, await resp.read())


def _not_found(answer: _Answer) -> bool:
    return answer.status == 500 and answer.message() == NOT_FOUND_TEXT
