"""The evidence graph of an incident: the last hour of its first alert's PromQL expression."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from pydantic import BaseModel, ConfigDict

from bot.config.models import PrometheusConfig
from bot.errors import MedicError, PermanentError, RetryableError
from bot.evidence.generator_url import expressions
from bot.evidence.plot import render_png
from bot.models import incident_id
from bot.store import Database
from bot.store import incidents as incident_store
from bot.store.journal import alerts_of_incident
from responders.prometheus.client import PrometheusClient

WINDOW = timedelta(hours=1)
STEP = timedelta(seconds=15)
MAX_SERIES = 10
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class GraphUnavailable(MedicError):
    """The graph cannot be drawn now: ``prometheus.url`` is unset, Prometheus is unreachable,
    or it refused the expression (``refused``)."""

    def __init__(self, detail: str, *, refused: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.refused = refused


@dataclass(frozen=True, slots=True)
class GraphSource:
    """The alert whose expression is drawn."""

    alertname: str
    expression: str


class EvidenceGraph(BaseModel):
    """A drawn graph: PNG bytes plus what a chat upload wants to say about it."""

    model_config = ConfigDict(frozen=True)

    png: bytes
    filename: str
    title: str
    expression: str
    start: datetime
    end: datetime
    series_shown: int
    series_omitted: int


async def graph_source(db: Database, incident_seq: int) -> GraphSource | None:
    """The incident's first alert (in arrival order) whose generator URL carries an
    expression; None when the incident is unknown or none does."""
    async with db.connect() as conn:
        alerts = await alerts_of_incident(conn, incident_seq)
    for alert in alerts:
        found = expressions(alert.generator_url)
        if found:
            name = alert.labels.get("alertname", alert.fingerprint)
            return GraphSource(alertname=name, expression=found[0])
    return None


async def incident_graph(
    db: Database,
    http: aiohttp.ClientSession,
    config: PrometheusConfig,
    incident_seq: int,
    *,
    now: datetime,
) -> EvidenceGraph | None:
    """Draw the hour up to the incident's resolution (up to ``now`` while it is unresolved).

    None when the incident is unknown or has no alert with an expression; GraphUnavailable
    when Prometheus cannot answer. Store errors propagate.
    """
    source = await graph_source(db, incident_seq)
    if source is None:
        return None
    async with db.connect() as conn:
        record = await incident_store.incident_record(conn, incident_seq)
    end = now if record is None or record.resolved_at is None else min(record.resolved_at, now)
    start = end - WINDOW
    if not config.url:
        raise GraphUnavailable("prometheus.url is not set")
    client = PrometheusClient(http, config.url, config.timeout)
    try:
        result = await client.query_range(source.expression, start=start, end=end, step=STEP)
    except RetryableError as err:
        raise GraphUnavailable(str(err)) from err
    except PermanentError as err:
        raise GraphUnavailable(str(err), refused=True) from err
    shown = result.series[:MAX_SERIES]
    omitted = len(result.series) - len(shown)
    png = await asyncio.to_thread(
        render_png,
        title=source.alertname,
        expression=source.expression,
        series=shown,
        omitted=omitted,
        start=start,
        end=end,
    )
    return EvidenceGraph(
        png=png,
        filename=f"{incident_id(incident_seq)}-{_SAFE_NAME.sub('_', source.alertname)}.png",
        title=f"{source.alertname}: {source.expression}",
        expression=source.expression,
        start=start,
        end=end,
        series_shown=len(shown),
        series_omitted=omitted,
    )
