"""``GET /api/incidents/{id}/graph.png``: the last hour of the alert's PromQL expression, drawn
from a real Prometheus (Debian's) that scrapes a metric the test exports."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from evidencekit import EXPR, SAMPLES_TIMEOUT, graph_url, series_count
from harness.ports import free_port
from harness.prometheus import PrometheusServer
from harness.waiting import eventually
from medickit import StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

URL = "/webhooks/alertmanager"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def _fire(client: Any, generator_url: str) -> None:
    alert = am_alert("fp-graph", alertname="WidgetsHigh")
    alert["generatorURL"] = generator_url
    payload = am_payload(alert, group_key='{}:{alertname="WidgetsHigh"}')
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200


def _decode(png: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.format or "", image.size


async def test_graph_draws_the_last_hour_from_real_prometheus(
    start_medic: StartMedic, sqlite_url: str, prometheus: PrometheusServer
) -> None:
    """Medic asks the real Prometheus for a 1 h ``query_range`` of the alert's expression and
    answers a valid PNG with at most 10 series drawn (the other 2 named as left out)."""
    await eventually(
        lambda: series_count(prometheus),
        SAMPLES_TIMEOUT,
        "Prometheus to have scraped the exporter",
    )
    client = await start_medic(make_settings(sqlite_url, prometheus={"url": prometheus.url}))
    await _fire(client, graph_url(prometheus.url, EXPR, "up"))

    response = await client.get("/api/incidents/INC-1/graph.png")

    assert response.status == 200
    assert response.content_type == "image/png"
    assert response.headers["Content-Disposition"] == 'inline; filename="INC-1-WidgetsHigh.png"'
    assert (
        response.headers["X-Medic-Series-Shown"],
        response.headers["X-Medic-Series-Omitted"],
    ) == (
        "10",
        "2",
    )
    png = await response.read()
    assert png.startswith(PNG_SIGNATURE)
    assert _decode(png) == ("PNG", (1000, 500))
    ranges = [q for q in await asyncio.to_thread(prometheus.queries) if q["query"] == EXPR]
    assert [(q["step"], _span(q)) for q in ranges] == [(15, timedelta(hours=1))]


def _span(params: dict[str, Any]) -> timedelta:
    """``end - start`` of a query-log entry (RFC 3339 times)."""
    return datetime.fromisoformat(params["end"]) - datetime.fromisoformat(params["start"])


async def test_refused_expression_is_502(
    start_medic: StartMedic, sqlite_url: str, idle_prometheus: PrometheusServer
) -> None:
    """An expression the real Prometheus cannot parse answers 502 ``unavailable`` with
    Prometheus' own message."""
    client = await start_medic(make_settings(sqlite_url, prometheus={"url": idle_prometheus.url}))
    await _fire(client, graph_url(idle_prometheus.url, "rate(oops"))
    response = await client.get("/api/incidents/INC-1/graph.png")
    assert response.status == 502
    body = await response.json()
    assert body["error"] == "unavailable"
    assert "bad_data" in body["detail"]


@pytest.mark.parametrize("prometheus_url", [None, "closed-port"], ids=["unset", "unreachable"])
async def test_no_prometheus_is_503(
    start_medic: StartMedic, sqlite_url: str, prometheus_url: str | None
) -> None:
    """``prometheus.url`` unset or nothing listening there: 503 ``unavailable``."""
    url = f"http://127.0.0.1:{free_port()}" if prometheus_url else None
    client = await start_medic(make_settings(sqlite_url, prometheus={"url": url}))
    await _fire(client, graph_url("http://prom:9090", EXPR))
    response = await client.get("/api/incidents/INC-1/graph.png")
    assert response.status == 503
    body = await response.json()
    assert body["error"] == "unavailable"
    assert body["detail"].startswith("prometheus: ")


@pytest.mark.parametrize(
    ("incident", "generator_url"),
    [("INC-1", "http://prometheus.example/graph"), ("INC-9", None), ("bogus", None)],
    ids=["no-expression", "unknown-incident", "malformed-id"],
)
async def test_no_graph_is_404(
    start_medic: StartMedic, sqlite_url: str, incident: str, generator_url: str | None
) -> None:
    """An incident without an alert carrying an expression, or no such incident: 404."""
    client = await start_medic(make_settings(sqlite_url, prometheus={"url": "http://prom:9090"}))
    await _fire(client, generator_url or graph_url("http://prom:9090", EXPR))
    response = await client.get(f"/api/incidents/{incident}/graph.png")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
