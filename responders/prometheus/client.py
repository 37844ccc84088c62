"""An async client for Prometheus' HTTP API over Medic's shared aiohttp session."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp
from pydantic import ValidationError

from bot.config import format_duration
from bot.errors import PermanentError, RetryableError
from responders.prometheus.const import QUERY_PATH, QUERY_RANGE_PATH
from responders.prometheus.models import (
    ApiResponse,
    MatrixData,
    QueryData,
    QueryResult,
    RangeResult,
    Sample,
    ScalarData,
    Series,
    VectorData,
)

_ERROR_TEXT_LIMIT = 500


class PrometheusClient:
    """Instant and range queries against one Prometheus (``prometheus.url``).

    Errors: 400/422 (bad query, cannot execute) and other 4xx are PermanentError carrying
    Prometheus' own message; 503, other 5xx, 429, timeouts and connection errors are
    RetryableError.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, timeout: timedelta) -> None:
        self._session = session
        self._base = url.rstrip("/")
        self._timeout = timeout

    async def query(self, promql: str) -> QueryResult:
        """Run ``promql`` as an instant query; a vector or scalar result, else PermanentError."""
        params = {"query": promql, "timeout": format_duration(self._timeout)}
        return _instant(await self._get(QUERY_PATH, params))

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step: timedelta
    ) -> RangeResult:
        """Evaluate ``promql`` from ``start`` to ``end`` every ``step``: one entry per series."""
        params = {
            "query": promql,
            "start": _unix(start),
            "end": _unix(end),
            "step": f"{step.total_seconds():g}",
            "timeout": format_duration(self._timeout),
        }
        data = await self._get(QUERY_RANGE_PATH, params)
        if not isinstance(data, MatrixData):
            raise PermanentError(f"a range query returned a {data.result_type}, not a matrix")
        return RangeResult(
            series=[
                Series(labels=item.metric, points=[(t, float(v)) for t, v in item.values])
                for item in data.result
            ]
        )

    async def _get(self, path: str, params: dict[str, str]) -> QueryData:
        endpoint = self._base + path
        try:
            async with self._session.get(
                endpoint,
                params=params,
                timeout=aiohttp.ClientTimeout(total=self._timeout.total_seconds()),
            ) as resp:
                status = resp.status
                body = await resp.read()
        except TimeoutError as err:
            raise RetryableError(
                f"Prometheus did not answer within {format_duration(self._timeout)}"
            ) from err
        except aiohttp.ClientError as err:
            raise RetryableError(f"cannot reach Prometheus at {endpoint}: {err}") from err
        return _data(status, body)


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _data(status: int, body: bytes) -> QueryData:
    """The ``data`` of a successful answer; RetryableError / PermanentError otherwise."""
    try:
        answer = ApiResponse.model_validate_json(body)
    except ValidationError:
        answer = None
    if status >= 500 or status == 429:
        raise RetryableError(f"Prometheus answered {status}: {_message(answer, body)}")
    if status >= 400:  # 400 bad query, 422 cannot execute: trying again will not help
        raise PermanentError(f"Prometheus rejected the query ({status}): {_message(answer, body)}")
    if answer is None:
        raise PermanentError(f"Prometheus answered {status} with a body that is not its API JSON")
    if answer.status != "success" or answer.data is None:
        raise PermanentError(f"Prometheus answered {status}: {_message(answer, body)}")
    return answer.data


def _instant(data: QueryData) -> QueryResult:
    if isinstance(data, VectorData):
        samples = [Sample(labels=item.metric, value=float(item.value[1])) for item in data.result]
        return QueryResult(result_type="vector", samples=samples)
    if isinstance(data, ScalarData):
        return QueryResult(
            result_type="scalar", samples=[Sample(labels={}, value=float(data.result[1]))]
        )
    raise PermanentError(
        f"the query returned a {data.result_type}; use an instant vector or a scalar "
        "(drop the range selector [..])"
    )


def _message(answer: ApiResponse | None, body: bytes) -> str:
    """Prometheus' ``error`` text, else the start of the body."""
    if answer is not None and answer.error:
        kind = f"{answer.error_type}: " if answer.error_type else ""
        return kind + answer.error
    text = body.decode("utf-8", errors="replace").strip()
    return text[:_ERROR_TEXT_LIMIT] or "<empty body>"
