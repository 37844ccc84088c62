"""Every endpoint in one table, wired at the composition root: the router and
/openapi.json both come from it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aiohttp import web

from bot.actions.integration import Integration
from bot.api.decisions import (
    DecisionAnswer,
    DecisionBody,
    PauseState,
    RunBody,
    RunStarted,
    SwitchBody,
    decide_approval,
    pause,
    resume,
    start_run,
)
from bot.api.incidents import IncidentFilter, get_incident, get_incidents
from bot.api.openapi import OPENAPI_DOCUMENT, get_docs, get_openapi, openapi_document
from bot.api.ops import Health, healthz, metrics, readyz
from bot.api.report import get_graph, get_report
from bot.http.answer import IngestAnswer
from bot.http.endpoint import Auth, Content, Endpoint
from bot.http.viewer import require_reader
from bot.ingress.alertmanager import alertmanager_webhook
from bot.ingress.alertmanager_models import AlertmanagerWebhook
from bot.ingress.rejections import counts_rejections
from bot.runtime import RUNTIME
from bot.slack.inbound import slack_events
from bot.store.views import IncidentDetail, IncidentList
from bot.web.routes import CONSOLE_ENDPOINTS, console_ctx

_WRITE_ERRORS = (400, 401, 403, 404, 408, 409, 413, 503)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/webhooks/alertmanager",
        alertmanager_webhook,
        "Alertmanager webhook (v4): commit the alerts, then answer",
        "ingress",
        Content(model=IngestAnswer),
        request=Content(model=AlertmanagerWebhook),
        errors=(400, 401, 408, 413, 503),
        auth=Auth.WEBHOOK,
    ),
    Endpoint(
        "POST",
        "/slack/events",
        slack_events,
        "Slack commands, buttons and events (slack-bolt); 404 while Slack is off",
        "slack",
        Content(media="application/json", description="what Slack expects back"),
        request=Content(media="application/x-www-form-urlencoded", description="as Slack sends it"),
        errors=(400, 401, 404, 408, 413, 503),
        auth=Auth.SIGNED,
        headers={"X-Slack-Signature": "v0=<hex HMAC>", "X-Slack-Request-Timestamp": "seconds"},
    ),
    Endpoint(
        "GET",
        "/api/incidents",
        get_incidents,
        "Incidents, newest first",
        "incidents",
        Content(model=IncidentList),
        query=IncidentFilter,
        errors=(400, 401, 503),
        auth=Auth.READ,
    ),
    Endpoint(
        "GET",
        "/api/incidents/{incident_id}",
        get_incident,
        "One incident with its alerts, runs, approvals and timeline",
        "incidents",
        Content(model=IncidentDetail),
        errors=(401, 404, 503),
        auth=Auth.READ,
    ),
    Endpoint(
        "GET",
        "/api/incidents/{incident_id}/report",
        get_report,
        "The post-incident report (Markdown), drafted from the store",
        "incidents",
        Content(media="text/markdown", description="the report"),
        errors=(401, 404, 503),
        auth=Auth.READ,
    ),
    Endpoint(
        "GET",
        "/api/incidents/{incident_id}/graph.png",
        get_graph,
        "The evidence graph: the alert's PromQL expression around the incident",
        "incidents",
        Content(media="image/png", description="the graph"),
        errors=(401, 404, 502, 503),
        auth=Auth.READ,
    ),
    Endpoint(
        "POST",
        "/api/incidents/{incident_id}/runs",
        start_run,
        "A human starts a playbook on an incident",
        "decisions",
        Content(model=RunStarted),
        status=201,
        request=Content(model=RunBody),
        errors=_WRITE_ERRORS,
        auth=Auth.TOKEN,
    ),
    Endpoint(
        "POST",
        "/api/approvals/{approval_id}",
        decide_approval,
        "Approve or reject: the same rules as a Slack click",
        "decisions",
        Content(model=DecisionAnswer),
        request=Content(model=DecisionBody),
        errors=_WRITE_ERRORS,
        auth=Auth.TOKEN,
    ),
    Endpoint(
        "POST",
        "/api/pause",
        pause,
        "Pause: no write step starts anywhere until resumed (slack.admins)",
        "decisions",
        Content(model=PauseState),
        request=Content(model=SwitchBody),
        errors=_WRITE_ERRORS,
        auth=Auth.TOKEN,
    ),
    Endpoint(
        "POST",
        "/api/resume",
        resume,
        "Resume after a pause (slack.admins)",
        "decisions",
        Content(model=PauseState),
        request=Content(model=SwitchBody),
        errors=_WRITE_ERRORS,
        auth=Auth.TOKEN,
    ),
    Endpoint("GET", "/healthz", healthz, "Liveness", "operations", Content(model=Health)),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "Readiness: the store works and the alert writer runs",
        "operations",
        Content(model=Health),
        errors=(503,),
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "Prometheus exposition (medic_*)",
        "operations",
        Content(media="text/plain", description="Prometheus text format"),
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        get_openapi,
        "This description (OpenAPI 3.1)",
        "operations",
        Content(description="the OpenAPI document"),
    ),
    Endpoint(
        "GET",
        "/docs",
        get_docs,
        "A page that renders this description",
        "operations",
        Content(media="text/html", description="the page"),
    ),
)


def integration_endpoints(integrations: Sequence[Integration]) -> list[Endpoint]:
    """The integrations' routes; an ``HttpError`` they raise is counted as a rejected
    delivery of the integration."""
    return [
        Endpoint(
            route.method,
            route.path,
            counts_rejections(integration.name)(route.handler),
            route.summary or f"served by the {integration.name} integration",
            route.tag or integration.name,
            route.answer,
            status=route.status,
            request=route.request,
            errors=route.errors,
            auth=route.auth,
            headers=dict(route.headers),
        )
        for integration in integrations
        for route in integration.routes
    ]


def add_routes(app: web.Application, extra: Sequence[Endpoint] = ()) -> None:
    """Route Medic's endpoints and ``extra`` ones (integrations'), and keep the OpenAPI
    document that describes them all."""
    endpoints = [*ENDPOINTS, *CONSOLE_ENDPOINTS, *extra]
    app.router.add_routes([_route(endpoint) for endpoint in endpoints])
    app.cleanup_ctx.append(console_ctx)
    app[OPENAPI_DOCUMENT] = json.dumps(openapi_document(endpoints)).encode()


def _route(endpoint: Endpoint) -> web.RouteDef:
    """The endpoint's route; reads check ``server.protect_reads`` before the handler runs."""
    if endpoint.auth is not Auth.READ:
        return endpoint.route()
    handler = endpoint.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        require_reader(request, request.app[RUNTIME].settings.server)
        return await handler(request)

    return web.route(endpoint.method, endpoint.path, guarded)
