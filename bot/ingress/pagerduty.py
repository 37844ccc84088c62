"""``POST /webhooks/pagerduty``: verify the signature → validate → journal → 202.

PagerDuty does not retry 400/403, retries 5xx and delivers at least once: a missing
signature is 400, a bad one 403, both with nothing stored; a store that cannot commit is
503; a delivery seen before (same event id or ``X-Webhook-Id``) is accepted and ignored.
The engine maps journaled events onto incidents after the answer.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from bot.config import Settings
from bot.http.body import read_body, validate_json
from bot.http.errors import ErrorCode, HttpError
from bot.http.signatures import pagerduty_signature_valid
from bot.ingress.answer import IngestAnswer
from bot.ingress.rejections import counts_rejections
from bot.models import AlertSource
from bot.runtime import RUNTIME
from bot.store import STORE_ERRORS
from bot.store.inbound import journal_event
from responders.pagerduty.webhook_models import PagerDutyWebhook

SOURCE = AlertSource.PAGERDUTY.value
SIGNATURE_HEADER = "X-PagerDuty-Signature"
log = structlog.get_logger(__name__)
# A v3 event is a few KiB (a note's text at most tens of KiB): nothing bigger is PagerDuty.
MAX_BODY_BYTES = 256 * 1024


def signature_header(request: web.Request) -> str:
    """The signature header, read before the body: 400 when it is missing."""
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise HttpError(ErrorCode.UNAUTHORIZED, f"missing {SIGNATURE_HEADER}", status=400)
    return header


def verify_signature(header: str, body: bytes, settings: Settings) -> None:
    """403 when no v1 entry of ``header`` matches any secret."""
    secrets = [s.get_secret_value() for s in settings.pagerduty.webhook_secrets]
    if not pagerduty_signature_valid(header, body, secrets):
        raise HttpError(ErrorCode.FORBIDDEN, "the signature matches no webhook secret")


@counts_rejections(SOURCE)
async def pagerduty_webhook(request: web.Request) -> web.Response:
    """Journal one PagerDuty event, then answer 202."""
    runtime = request.app[RUNTIME]
    header = signature_header(request)
    limit = min(MAX_BODY_BYTES, runtime.settings.server.max_body_bytes)
    body = await read_body(request, limit)
    verify_signature(header, body, runtime.settings)
    event = validate_json(PagerDutyWebhook, body).event
    try:
        async with runtime.db.begin() as conn:
            new = await journal_event(
                conn,
                source=SOURCE,
                event_id=event.id,
                delivery_id=request.headers.get("X-Webhook-Id"),
                event_type=event.event_type,
                payload={"event": event.model_dump(mode="json")},
                at=runtime.intake.now(),
            )
    except STORE_ERRORS as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store could not commit") from err
    if new is not None:
        runtime.intake.event_journaled(new)
    fresh = new is not None
    structlog.contextvars.bind_contextvars(event_type=event.event_type, duplicate=not fresh)
    # One info line per accepted delivery: counts only, never the event's content.
    log.info("webhook.accepted", source=SOURCE, accepted=int(fresh), duplicates=int(not fresh))
    return IngestAnswer(accepted=int(fresh), duplicates=int(not fresh)).response(status=202)
