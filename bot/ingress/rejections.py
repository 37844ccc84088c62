"""Count and log refused webhook deliveries, per source and reason, around a handler."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bot.http.errors import HttpError
from bot.runtime import RUNTIME

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def counts_rejections(source: str) -> Callable[[Handler], Handler]:
    """Every :class:`HttpError` the handler raises is counted in
    ``medic_deliveries_rejected_total{source, reason}`` and logged, then answered."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def counted(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except HttpError as err:
                metrics = request.app[RUNTIME].metrics
                metrics.deliveries_rejected.labels(source, err.code.value).inc()
                log.info("webhook.rejected", source=source, error=err.code.value, detail=err.detail)
                raise

        return counted

    return decorate
