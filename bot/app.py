"""Build the aiohttp application: routes, middleware and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from bot.api.incidents import get_incident, get_incidents
from bot.api.ops import healthz, metrics, readyz
from bot.config import Settings
from bot.engine.events import IncidentChange, IncidentChangeKind
from bot.engine.worker import IntakeWorker
from bot.http.middleware import json_errors, request_context
from bot.ingress.alertmanager import alertmanager_webhook
from bot.ingress.committer import AlertCommitter, Clock, utc_now
from bot.metrics import Metrics
from bot.narrator import ConsoleNarrator, NarrationDispatcher, Narrator
from bot.runtime import RUNTIME, Runtime
from bot.store import Database


def build_app(
    settings: Settings,
    *,
    narrators: Sequence[Narrator] | None = None,
    clock: Clock = utc_now,
) -> web.Application:
    """The whole HTTP surface of DESIGN §3 for ``settings``."""
    app = web.Application(
        middlewares=[request_context, json_errors],
        client_max_size=settings.server.max_body_bytes,
    )
    app.cleanup_ctx.append(_runtime_ctx(settings, narrators, clock))
    app.router.add_post("/webhooks/alertmanager", alertmanager_webhook)
    app.router.add_get("/api/incidents", get_incidents)
    app.router.add_get("/api/incidents/{incident_id}", get_incident)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _runtime_ctx(
    settings: Settings, narrators: Sequence[Narrator] | None, clock: Clock
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.store.url)
        try:
            await db.create_schema()
            metrics = Metrics()
            narration = NarrationDispatcher(
                list(narrators) if narrators is not None else [ConsoleNarrator()]
            )

            def changed(changes: Sequence[IncidentChange]) -> None:
                opened = sum(1 for c in changes if c.kind is IncidentChangeKind.OPENED)
                metrics.incidents_opened.inc(opened)
                narration.publish(changes)

            intake = IntakeWorker(db, changed, clock=clock)
            committer = AlertCommitter(db, lambda _last_id: intake.wake(), clock=clock)
            await narration.start()
            await intake.start()
            await committer.start()
            app[RUNTIME] = Runtime(
                settings=settings,
                db=db,
                committer=committer,
                intake=intake,
                narration=narration,
                metrics=metrics,
            )
            yield
            await committer.stop()
            await app[RUNTIME].caught_up()
            await intake.stop()
            await narration.stop()
        finally:
            await db.close()

    return runtime_ctx
