"""A metric the tests export and a real Prometheus scraping it, for evidence graphs
(fixtures ``exporter``, ``prometheus``, ``idle_prometheus``; a plugin of the root conftest)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from harness.prometheus import PrometheusServer

SHOPS = [f"s{n:02d}" for n in range(12)]
METRIC = "medic_test_widgets"
EXPR = f'{METRIC}{{job="test"}} * 2'
SAMPLES_TIMEOUT = 30.0


def graph_url(base: str, *exprs: str) -> str:
    """A generator URL as Prometheus writes it: one URL-encoded ``g<N>.expr`` per panel."""
    panels = "&".join(
        f"g{n}.expr={urllib.parse.quote(expr)}&g{n}.tab=1" for n, expr in enumerate(exprs)
    )
    return f"{base}/graph?{panels}"


@pytest.fixture
async def exporter() -> AsyncIterator[str]:
    """A ``/metrics`` endpoint on 127.0.0.1 exporting one gauge per shop; yields host:port."""

    async def metrics(request: web.Request) -> web.Response:
        lines = [f"# TYPE {METRIC} gauge"]
        lines += [f'{METRIC}{{shop="{shop}"}} {n + 1}' for n, shop in enumerate(SHOPS)]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def prometheus(exporter: str, tmp_path: Path) -> AsyncIterator[PrometheusServer]:
    """A real Prometheus scraping the exporter every second (started off the event loop, so
    the exporter keeps answering)."""
    server = PrometheusServer(scrape_targets=[exporter])
    await asyncio.to_thread(server.start, tmp_path)
    yield server
    await asyncio.to_thread(server.stop)


@pytest.fixture
def idle_prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus with nothing to scrape."""
    with PrometheusServer().start(tmp_path) as server:
        yield server


async def series_count(prometheus: PrometheusServer) -> int:
    """How many series of ``METRIC`` Prometheus has now."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{prometheus.url}/api/v1/query", params={"query": METRIC}) as resp,
    ):
        body = await resp.json()
    return len(body["data"]["result"])
