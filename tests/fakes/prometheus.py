"""A fake Prometheus query API (``/api/v1/query`` and ``/api/v1/query_range``) on 127.0.0.1.

Tests script answers per expression (a fragment the received query must contain, compared
with whitespace collapsed) and read back every query received, so they can check what Medic
asked and that label values were safely quoted. An expression nothing was scripted for gets
an empty result, as Prometheus answers for a series that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.test_utils import TestServer

Labels = dict[str, str]
Answer = Sequence[tuple[Labels, float]]
"""One answer: the samples of an instant vector (an empty sequence: no samples)."""


class Received(NamedTuple):
    """One query as the fake received it."""

    path: str
    query: str
    params: dict[str, str]


def collapse(text: str) -> str:
    """``text`` with every run of whitespace made one space (YAML folds lines that way too)."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class _Script:
    fragment: str
    answers: list[Answer]
    served: int = 0

    def next(self) -> Answer:
        """The next answer; the last one repeats."""
        answer = self.answers[min(self.served, len(self.answers) - 1)]
        self.served += 1
        return answer


@dataclass
class FakePrometheus:
    """``await start()`` then point ``prometheus.url`` at ``url``."""

    received: list[Received] = field(default_factory=list)
    _scripts: list[_Script] = field(default_factory=list)
    _server: TestServer | None = None

    async def start(self) -> None:
        """Listen on 127.0.0.1, a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", self._query)
        app.router.add_route("*", "/api/v1/query_range", self._query_range)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "start() first"
        return str(self._server.make_url("/")).rstrip("/")

    def script(self, fragment: str, *answers: float | Answer) -> None:
        """Queries containing ``fragment`` get ``answers`` in turn, the last one repeating.
        A number is one sample without labels; a sequence of (labels, value) is a vector."""
        normalised = [[({}, float(a))] if isinstance(a, int | float) else list(a) for a in answers]
        self._scripts.insert(0, _Script(collapse(fragment), normalised))

    def queries(self, path: str = "/api/v1/query") -> list[str]:
        """The expressions received on ``path``, whitespace collapsed, in order."""
        return [collapse(r.query) for r in self.received if r.path == path]

    def asked(self, fragment: str) -> list[str]:
        """The instant queries that contained ``fragment``."""
        wanted = collapse(fragment)
        return [q for q in self.queries() if wanted in q]

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    def _answer(self, query: str) -> Answer:
        text = collapse(query)
        for script in self._scripts:
            if script.fragment in text:
                return script.next()
        return []

    async def _query(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        query = params.get("query", "")
        self.received.append(Received(request.path, query, params))
        if not query.strip():
            return _error("bad_data", 'invalid parameter "query": unknown position')
        now = 1_764_000_000.0
        result = [
            {"metric": labels, "value": [now, _number(value)]}
            for labels, value in self._answer(query)
        ]
        return _success({"resultType": "vector", "result": result})

    async def _query_range(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        query = params.get("query", "")
        self.received.append(Received(request.path, query, params))
        if not query.strip():
            return _error("bad_data", 'invalid parameter "query": unknown position')
        start, end = float(params.get("start", 0)), float(params.get("end", 0))
        result = [
            {"metric": labels, "values": [[start, _number(value)], [end, _number(value)]]}
            for labels, value in self._answer(query)
        ]
        return _success({"resultType": "matrix", "result": result})


def _number(value: float) -> str:
    return f"{value:g}"


def _success(data: dict[str, Any]) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def _error(kind: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "errorType": kind, "error": message}, status=400)
