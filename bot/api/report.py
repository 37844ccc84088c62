"""``GET /api/incidents/{id}/report`` (Markdown) and ``GET /api/incidents/{id}/graph.png``."""

from __future__ import annotations

from aiohttp import web

from bot.api.incidents import read_your_writes
from bot.errors import StoreError
from bot.evidence import GraphUnavailable, incident_graph
from bot.http.errors import ErrorCode, HttpError
from bot.models import parse_incident_id
from bot.report import draft_report
from bot.runtime import RUNTIME

MARKDOWN = "text/markdown"


async def get_report(request: web.Request) -> web.Response:
    """The post-incident report, drafted from the store on each request (a draft so far
    while the incident is unresolved); 404 when the incident is unknown."""
    raw_id, seq = _incident(request)
    runtime = request.app[RUNTIME]
    headers = await read_your_writes(runtime)
    try:
        text = await draft_report(
            runtime.db, seq, now=runtime.clock.now(), playbooks=runtime.playbooks
        )
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
    if text is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id}")
    return web.Response(text=text, content_type=MARKDOWN, charset="utf-8", headers=headers)


async def get_graph(request: web.Request) -> web.Response:
    """The evidence graph as PNG. 404: unknown incident, or no alert with a PromQL expression
    in its generator URL. 503: ``prometheus.url`` unset or Prometheus unreachable. 502:
    Prometheus refused the expression. ``X-Medic-Series-Shown`` / ``-Omitted`` say how many
    series were drawn and how many were left out (at most ``MAX_SERIES`` are drawn)."""
    raw_id, seq = _incident(request)
    runtime = request.app[RUNTIME]
    partial = await read_your_writes(runtime)
    try:
        graph = await incident_graph(
            runtime.db,
            runtime.http,
            runtime.settings.prometheus,
            seq,
            now=runtime.clock.now(),
        )
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
    except GraphUnavailable as err:
        status = 502 if err.refused else 503
        raise HttpError(ErrorCode.UNAVAILABLE, f"prometheus: {err.detail}", status=status) from err
    if graph is None:
        raise HttpError(
            ErrorCode.NOT_FOUND,
            f"no incident {raw_id} with an alert whose generatorURL carries a PromQL expression",
        )
    return web.Response(
        body=graph.png,
        content_type="image/png",
        headers={
            "Content-Disposition": f'inline; filename="{graph.filename}"',
            "X-Medic-Series-Shown": str(graph.series_shown),
            "X-Medic-Series-Omitted": str(graph.series_omitted),
            **partial,
        },
    )


def _incident(request: web.Request) -> tuple[str, int]:
    raw_id = request.match_info["incident_id"]
    seq = parse_incident_id(raw_id)
    if seq is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id!r} (ids look like INC-12)")
    return raw_id, seq
