"""``POST /webhooks/pagerduty``: verify the signature → validate → journal → 202.

PagerDuty does not retry 400/403, retries 5xx and delivers at least once: a missing
signature is 400, a bad one 403, both with nothing stored; a store that cannot commit is
503; a delivery seen before (same event id or ``X-Webhook-Id``) is accepted and ignored.
Medic maps journaled events onto incidents after the answer (:mod:`.events`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import structlog
from aiohttp import web

from bot.actions.hooks import InboundEvent, inbox_of
from bot.actions.integration import Route
from bot.config import Settings
from bot.http.answer import IngestAnswer
from bot.http.auth import header_bytes
from bot.http.body import read_body, validate_json
from bot.http.endpoint import Auth, Content
from bot.http.errors import ErrorCode, HttpError
from responders.pagerduty.config import PagerDutyConfig
from responders.pagerduty.const import SYSTEM
from responders.pagerduty.webhook_models import PagerDutyWebhook

SIGNATURE_HEADER = "X-PagerDuty-Signature"
log = structlog.get_logger(__name__)
# A v3 event is a few KiB (a note's text at most tens of KiB): nothing bigger is PagerDuty.
MAX_BODY_BYTES = 256 * 1024


def signature_valid(header: str, body: bytes, secrets: Iterable[str]) -> bool:
    """``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]``: valid when any v1 entry is the
    HMAC-SHA256 of the raw body under any configured secret (secret rotation), compared in
    constant time."""
    presented = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets]
    matched = False
    for candidate in presented:
        for digest in expected:
            matched |= hmac.compare_digest(header_bytes(candidate), digest.encode())
    return matched


def signature_header(request: web.Request) -> str:
    """The signature header, read before the body: 400 when it is missing."""
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise HttpError(ErrorCode.UNAUTHORIZED, f"missing {SIGNATURE_HEADER}", status=400)
    return header


def verify_signature(header: str, body: bytes, settings: Settings) -> None:
    """403 when no v1 entry of ``header`` matches any secret."""
    section = settings.section(SYSTEM)
    config = section if isinstance(section, PagerDutyConfig) else PagerDutyConfig()
    secrets = [s.get_secret_value() for s in config.webhook_secrets]
    if not signature_valid(header, body, secrets):
        raise HttpError(ErrorCode.FORBIDDEN, "the signature matches no webhook secret")


async def pagerduty_webhook(request: web.Request) -> web.Response:
    """Journal one PagerDuty event, then answer 202."""
    inbox = inbox_of(request)
    header = signature_header(request)
    limit = min(MAX_BODY_BYTES, inbox.settings.server.max_body_bytes)
    body = await read_body(request, limit)
    verify_signature(header, body, inbox.settings)
    event = validate_json(PagerDutyWebhook, body).event
    fresh = await inbox.journal(
        SYSTEM,
        InboundEvent(
            event_id=event.id,
            event_type=event.event_type,
            payload={"event": event.model_dump(mode="json")},
            delivery_id=request.headers.get("X-Webhook-Id"),
        ),
    )
    structlog.contextvars.bind_contextvars(event_type=event.event_type, duplicate=not fresh)
    # One info line per accepted delivery: counts only, never the event's content.
    log.info("webhook.accepted", source=SYSTEM, accepted=int(fresh), duplicates=int(not fresh))
    return IngestAnswer(accepted=int(fresh), duplicates=int(not fresh)).response(status=202)


WEBHOOK_ROUTE = Route(
    "POST",
    "/webhooks/pagerduty",
    pagerduty_webhook,
    summary="PagerDuty v3 webhook: journal the event, then answer 202",
    tag="ingress",
    answer=Content(model=IngestAnswer),
    status=202,
    request=Content(model=PagerDutyWebhook),
    errors=(400, 403, 408, 413, 503),
    auth=Auth.SIGNED,
    headers={
        SIGNATURE_HEADER: "v1=<hex HMAC-SHA256 of the body> (required)",
        "X-Webhook-Id": "the delivery id; a repeated one is ignored",
    },
)
