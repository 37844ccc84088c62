"""``/healthz`` (the process answers), ``/readyz`` (the store works), ``/metrics``."""

from __future__ import annotations

from typing import Literal

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from bot.errors import StoreError
from bot.http.errors import ErrorCode, HttpError
from bot.runtime import RUNTIME
from bot.store.health import read_health
from bot.store.readiness import can_commit

log = structlog.get_logger(__name__)

# How long /readyz waits for the store's write lock before it says "not ready".
PROBE_TIMEOUT_S = 1.0


class Health(BaseModel):
    """``/healthz`` says ``ok``, ``/readyz`` says ``ready``."""

    status: Literal["ok", "ready"]


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return web.json_response(text=Health(status="ok").model_dump_json())


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the alert writer runs and the store commits a write (within
    ``PROBE_TIMEOUT_S``) — exactly when a delivery would be taken rather than 503."""
    runtime = request.app[RUNTIME]
    if not runtime.committer.running:
        raise HttpError(ErrorCode.UNAVAILABLE, "the alert writer is not running")
    if not await can_commit(runtime.db, runtime.clock.now(), PROBE_TIMEOUT_S):
        raise HttpError(
            ErrorCode.UNAVAILABLE,
            "the store cannot commit (unreachable, locked by another writer, or full)",
        )
    return web.json_response(text=Health(status="ready").model_dump_json())


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition, with this scrape's figures from the store (the last
    ones when the store cannot answer; ``medic_store_errors_total`` then grows)."""
    runtime = request.app[RUNTIME]
    try:
        async with runtime.db.connect() as conn:
            health = await read_health(conn, slack=runtime.settings.slack.enabled)
    except StoreError as err:
        log.warning("metrics.store_unavailable", error=type(err).__name__)
    else:
        runtime.metrics.refresh(
            health,
            paused=runtime.pause.paused,
            store_errors=runtime.db.errors,
            now=runtime.clock.now(),
        )
    body = runtime.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
