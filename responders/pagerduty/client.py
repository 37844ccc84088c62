"""The async PagerDuty client behind the ``pagerduty.*`` actions.

Events API v2 (trigger, acknowledge, resolve) and REST v2 (notes, incident status) through the
synchronous ``pagerduty`` library, each call in a worker thread (``asyncio.to_thread``).

Errors: 400 and other 4xx except 429 are PermanentError carrying PagerDuty's own message (a
401 names the setting to check); 429 and 5xx are retried at most ``retries`` times, then
RetryableError; a network failure is RetryableError at once (a down PagerDuty fails the steps
that need it quickly and the engine's retry policy decides). Secrets never reach a message.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar
from urllib.parse import quote

import structlog
from httpx2 import Response
from pagerduty import Error as LibraryError
from pagerduty import HttpError
from pydantic import BaseModel, ValidationError

from bot.errors import PermanentError, RetryableError
from bot.logging import REDACTED
from responders.common import one_line
from responders.pagerduty.config import PagerDutyConfig
from responders.pagerduty.const import (
    BACKOFF_S,
    ERROR_TEXT_LIMIT,
    EVENTS_PATH,
    MAX_WAIT_S,
    RETRIES,
    SUMMARY_LIMIT,
    TIMEOUT_S,
)
from responders.pagerduty.library import LibraryClients
from responders.pagerduty.models import Severity
from responders.pagerduty.retry import RetryPolicy, retryable
from responders.pagerduty.wire import (
    Event,
    EventAnswer,
    EventPayload,
    IncidentAnswer,
    IncidentReference,
    IncidentStatus,
    IncidentUpdate,
    Link,
    NoteAnswer,
    NoteBody,
    NoteRequest,
    refusal_text,
)

log = structlog.get_logger(__name__)

Answer = TypeVar("Answer", bound=BaseModel)
Send = Callable[[], Response]


class PagerDutyClient:
    """One per process (``ctx.clients["pagerduty"]``), for one PagerDuty account.

    ``tls`` is the context TLS connections verify against (None: the system's trust store);
    ``retries``, ``backoff_s``, ``max_wait_s`` and ``timeout_s`` bound each call (see
    ``RetryPolicy``): at most ``retries + 1`` attempts per call.
    """

    def __init__(
        self,
        config: PagerDutyConfig,
        *,
        tls: ssl.SSLContext | None = None,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        max_wait_s: float = MAX_WAIT_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._config = config
        self._policy = RetryPolicy(retries=retries, backoff_s=backoff_s, max_wait_s=max_wait_s)
        self._library = LibraryClients(config.events_url, config.api_url, tls, timeout_s)
        self._secrets = _secrets(config)

    def routing_key_for(self, name: str | None) -> str:
        """``pagerduty.routing_keys[name]``, or ``pagerduty.routing_key`` for None."""
        if name is None:
            if self._config.routing_key is None:
                raise PermanentError("pagerduty.routing_key is not set")
            return self._config.routing_key.get_secret_value()
        key = self._config.routing_keys.get(name)
        if key is None:
            known = ", ".join(repr(known) for known in sorted(self._config.routing_keys))
            raise PermanentError(
                f"no routing key named {name!r} in pagerduty.routing_keys "
                f"(known: {known or 'none'})"
            )
        return key.get_secret_value()

    async def trigger(
        self,
        routing_key: str,
        dedup_key: str,
        summary: str,
        severity: Severity,
        source: str,
        custom_details: Mapping[str, object],
        links: Sequence[Mapping[str, str]],
    ) -> str:
        """Trigger (or re-trigger) the alert ``dedup_key``; returns the dedup key PagerDuty
        confirmed. ``summary`` is cut to PagerDuty's 1024 characters."""
        event = Event(
            event_action="trigger",
            dedup_key=dedup_key,
            payload=EventPayload(
                summary=one_line(summary, SUMMARY_LIMIT),
                source=source,
                severity=severity,
                custom_details=dict(custom_details),
            ),
            links=[Link.model_validate(link) for link in links] or None,
        )
        return await self._enqueue(routing_key, event, "trigger an alert")

    async def acknowledge(self, routing_key: str, dedup_key: str) -> str:
        """Acknowledge the alert ``dedup_key``; returns the dedup key."""
        event = Event(event_action="acknowledge", dedup_key=dedup_key)
        return await self._enqueue(routing_key, event, "acknowledge an alert")

    async def resolve(self, routing_key: str, dedup_key: str) -> str:
        """Resolve the alert ``dedup_key``; returns the dedup key."""
        event = Event(event_action="resolve", dedup_key=dedup_key)
        return await self._enqueue(routing_key, event, "resolve an alert")

    async def add_note(self, pd_incident_id: str, content: str) -> str:
        """Add a note to PagerDuty incident ``pd_incident_id``; returns the note's id."""
        body = NoteRequest(note=NoteBody(content=content)).body()
        path = f"/incidents/{quote(pd_incident_id, safe='')}/notes"
        what = f"add a note to PagerDuty incident {pd_incident_id}"
        token, sender = self._rest_credentials()

        def send() -> Response:
            return self._library.rest(token, sender).post(path, json=body)

        return self._read(NoteAnswer, await self._send(what, send), what).note.id

    async def set_status(self, pd_incident_id: str, status: IncidentStatus) -> str:
        """Acknowledge or resolve PagerDuty incident ``pd_incident_id`` through REST; returns
        the status PagerDuty reports."""
        body = IncidentUpdate(incident=IncidentReference(status=status)).body()
        path = f"/incidents/{quote(pd_incident_id, safe='')}"
        what = f"set PagerDuty incident {pd_incident_id} {status}"
        token, sender = self._rest_credentials()

        def send() -> Response:
            return self._library.rest(token, sender).put(path, json=body)

        return self._read(IncidentAnswer, await self._send(what, send), what).incident.status

    async def close(self) -> None:
        """Close the connections (in a worker thread)."""
        await asyncio.to_thread(self._library.close)

    async def _enqueue(self, routing_key: str, event: Event, what: str) -> str:
        body = event.body()

        def send() -> Response:
            return self._library.events(routing_key).post(EVENTS_PATH, json=body)

        answer = self._read(EventAnswer, await self._send(what, send), what)
        return answer.dedup_key or event.dedup_key

    def _rest_credentials(self) -> tuple[str, str]:
        if self._config.api_token is None:
            raise PermanentError("pagerduty.api_token is not set")
        if not self._config.from_email:
            raise PermanentError("pagerduty.from_email is not set (PagerDuty requires it)")
        return self._config.api_token.get_secret_value(), self._config.from_email

    async def _send(self, what: str, send: Send) -> Response:
        """``send`` in a worker thread, again after a 429/5xx while the policy allows."""
        retry = 0
        while True:
            response = await self._attempt(what, send)
            status = response.status_code
            if status < 300:
                return response
            reason = self._scrub(refusal_text(response.content))
            if not retryable(status):
                raise PermanentError(f"PagerDuty refused to {what} ({status}): {reason}")
            delay = self._policy.delay(retry, response.headers)
            if retry >= self._policy.retries or delay is None:
                raise RetryableError(
                    f"PagerDuty answered {status} to {what} after {retry + 1} "
                    f"attempt{'s' if retry else ''}: {reason}"
                )
            retry += 1
            log.warning("pagerduty.retry", what=what, status=status, retry=retry, wait_s=delay)
            await asyncio.sleep(delay)

    async def _attempt(self, what: str, send: Send) -> Response:
        try:
            return await asyncio.to_thread(send)
        except HttpError as err:  # the library raises on 401 and on redirects
            status = err.response.status_code if err.response is not None else 0
            hint = " (check pagerduty.api_token)" if status == 401 else ""
            raise PermanentError(f"PagerDuty refused to {what} ({status}){hint}") from None
        except LibraryError as err:  # a transport failure, after one attempt
            cause = err.__cause__ or err
            detail = self._scrub(f"{type(cause).__name__}: {cause}")
            raise RetryableError(f"cannot reach PagerDuty to {what}: {detail}") from None

    def _read(self, model: type[Answer], response: Response, what: str) -> Answer:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            text = self._scrub(response.text[:ERROR_TEXT_LIMIT])
            raise PermanentError(
                f"PagerDuty answered {response.status_code} to {what} with an unexpected "
                f"body: {text or '<empty>'}"
            ) from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def _secrets(config: PagerDutyConfig) -> list[str]:
    """Every secret of the section, longest first (so no secret is half-replaced)."""
    values = [config.api_token, config.routing_key, *config.routing_keys.values()]
    values += config.webhook_secrets
    found = {value.get_secret_value() for value in values if value is not None}
    return sorted((secret for secret in found if secret), key=len, reverse=True)
