"""``POST /webhooks/alertmanager``: authenticate → validate → commit → 200."""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from bot.errors import StoreUnavailable
from bot.http.answer import IngestAnswer
from bot.http.auth import require_bearer
from bot.http.body import read_body, validate_json
from bot.http.errors import ErrorCode, HttpError
from bot.ingress.alertmanager_models import AlertmanagerWebhook
from bot.ingress.rejections import counts_rejections
from bot.models import AlertSource
from bot.runtime import RUNTIME

SOURCE = AlertSource.ALERTMANAGER.value
log = structlog.get_logger(__name__)


@counts_rejections(SOURCE)
async def alertmanager_webhook(request: web.Request) -> web.Response:
    """Commit the notification's alerts, then answer ``{"accepted": n, "duplicates": n}``."""
    runtime = request.app[RUNTIME]
    started = time.perf_counter()
    require_bearer(request, runtime.settings.alertmanager.bearer_token)
    body = await read_body(request, runtime.settings.server.max_body_bytes)
    webhook = validate_json(AlertmanagerWebhook, body)
    alerts = webhook.to_alerts()
    runtime.metrics.received(SOURCE, len(alerts))
    try:
        result = await runtime.committer.submit(alerts)
    except StoreUnavailable as err:
        raise HttpError(ErrorCode.UNAVAILABLE, str(err)) from err
    runtime.metrics.committed(SOURCE, result.duplicates, time.perf_counter() - started)
    # One access-log line per request carries the outcome (see bot.http.middleware).
    structlog.contextvars.bind_contextvars(
        group_key=webhook.group_key, accepted=result.accepted, duplicates=result.duplicates
    )
    # One info line per accepted delivery: counts only, never labels or annotations.
    log.info("webhook.accepted", source=SOURCE, alerts=len(alerts))
    return IngestAnswer(accepted=result.accepted, duplicates=result.duplicates).response()
