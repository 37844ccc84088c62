"""``GET /api/incidents`` and ``GET /api/incidents/{id}``."""

from __future__ import annotations

import re

import structlog
from aiohttp import web
from pydantic import BaseModel, Field

from bot.errors import StoreError
from bot.http.errors import ErrorCode, HttpError
from bot.http.large_answers import large_answer
from bot.models import IncidentStatus, parse_incident_id
from bot.runtime import RUNTIME, Runtime
from bot.store.views import incident_detail, incidents_json

log = structlog.get_logger(__name__)

# Set when the read-your-writes wait ran out: alerts acknowledged before this request may
# not be in the answer yet.
PARTIAL_HEADER = "X-Medic-Partial"
_STATUSES = ", ".join(s.value for s in IncidentStatus)
# A limit past any store's integer range asks for everything there is.
_ALL = 2**62
_DIGITS = re.compile(r"[0-9]{1,4096}", re.ASCII)


class IncidentFilter(BaseModel):
    """The query of ``GET /api/incidents``."""

    status: IncidentStatus | None = Field(default=None, description="only incidents in it")
    limit: int | None = Field(default=None, ge=1, description="at most this many, newest first")


async def get_incidents(request: web.Request) -> web.Response:
    """Incidents newest first; ``?status=`` filters exactly, ``?limit=`` caps the count."""
    query = IncidentFilter(
        status=_status_filter(request.query.get("status")),
        limit=_limit(request.query.get("limit")),
    )
    runtime = request.app[RUNTIME]
    headers = await read_your_writes(runtime)
    try:
        async with runtime.db.connect() as conn:
            listing = await incidents_json(conn, query.status, query.limit)
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
    return web.json_response(body=listing, headers=headers)


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its alerts, runs, approvals and timeline; 404 when unknown; 503
    while too many large answers are in flight (:func:`large_answer`)."""
    raw_id = request.match_info["incident_id"]
    seq = parse_incident_id(raw_id)
    if seq is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id!r} (ids look like INC-12)")
    runtime = request.app[RUNTIME]
    headers = await read_your_writes(runtime)
    async with large_answer(request) as answer:
        try:
            async with runtime.db.connect() as conn:
                detail = await incident_detail(conn, seq)
        except StoreError as err:
            raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
        if detail is None:
            raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id}")
        return answer.paced(web.json_response(text=detail.model_dump_json(), headers=headers))


async def read_your_writes(runtime: Runtime) -> dict[str, str]:
    """Wait until intake took everything acknowledged so far; when that wait runs out, the
    answer says it may be partial: ``X-Medic-Partial: true``."""
    if await runtime.caught_up():
        return {}
    log.info("api.partial_answer", waited_s=runtime.catch_up_s)
    return {PARTIAL_HEADER: "true"}


def _status_filter(raw: str | None) -> IncidentStatus | None:
    if raw is None:
        return None
    try:
        return IncidentStatus(raw)
    except ValueError as err:
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD, f"status: must be one of {_STATUSES}, not {raw!r}"
        ) from err


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) < 1:
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD,
            f"limit: must be a positive whole number in ASCII digits, not {raw!r}",
        )
    limit = int(raw)
    return limit if limit < _ALL else None
