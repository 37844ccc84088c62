"""The console's pages: the incident list and one incident, rendered on the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.errors import StoreError
from bot.evidence.generator_url import expressions
from bot.http.errors import ErrorCode, HttpError
from bot.http.large_answers import large_answer
from bot.http.viewer import Viewer, viewer
from bot.models import IncidentStatus, parse_incident_id
from bot.report import draft_report
from bot.runtime import RUNTIME, Runtime
from bot.store.journal import alerts_of_incident
from bot.store.views import IncidentDetail, incident_detail, list_incidents
from bot.web.render import page
from bot.web.session import csrf_token, keep_csrf

PAGE_SIZE = 25
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Notice:
    """A message at the top of a page: ``ok`` (green) or refused (red)."""

    text: str
    ok: bool


def _reader(request: web.Request) -> Viewer:
    """The reader; a redirect to sign-in when ``server.protect_reads`` wants one."""
    server = request.app[RUNTIME].settings.server
    found = viewer(request, server)
    if server.protect_reads and not found.trusted:
        target = quote(request.path_qs, safe="")
        raise web.HTTPSeeOther(f"/ui/login?next={target}")
    return found


def _common(request: web.Request, runtime: Runtime, reader: Viewer) -> dict[str, Any]:
    user = reader.identity.user if reader.identity else None
    return {
        "user": user,
        "via": reader.identity.via.value if reader.identity else None,
        "is_admin": user is not None and user in runtime.settings.slack.admins,
        "paused": runtime.pause.paused,
        "pause_reason": runtime.pause.reason,
        "csrf": csrf_token(request),
        "now": runtime.clock.now(),
        "proxy_login": runtime.settings.server.trusted_user_header is not None,
    }


def _render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    response = page(name, status, **context)
    keep_csrf(request, response, context["csrf"])
    return response


async def incident_list(request: web.Request) -> web.Response:
    """``GET /ui``: incidents newest first, filtered by status, 25 a page."""
    runtime = request.app[RUNTIME]
    reader = _reader(request)
    raw_status = request.query.get("status", "")
    status = IncidentStatus(raw_status) if raw_status in set(IncidentStatus) else None
    raw_page = request.query.get("page", "1")
    number = min(int(raw_page), MAX_PAGE) if raw_page.isascii() and raw_page.isdigit() else 1
    number = max(number, 1)
    await runtime.caught_up()
    try:
        async with runtime.db.connect() as conn:
            listing = await list_incidents(
                conn, status, PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
            )
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
    rows = listing.incidents[:PAGE_SIZE]

    def link(n: int) -> str:
        query = {"status": status.value} if status else {}
        return "/ui?" + urlencode(query | {"page": n})

    return _render(
        request,
        "list.html",
        **_common(request, runtime, reader),
        incidents=rows,
        statuses=[s.value for s in IncidentStatus],
        current_status=status.value if status else "",
        page_number=number,
        previous_page=link(number - 1) if number > 1 else None,
        next_page=link(number + 1) if len(listing.incidents) > PAGE_SIZE else None,
    )


async def incident_page(request: web.Request) -> web.Response:
    """``GET /ui/incidents/{id}``: everything about one incident."""
    runtime = request.app[RUNTIME]
    reader = _reader(request)
    return await render_incident(request, runtime, reader, request.match_info["incident_id"])


async def render_incident(
    request: web.Request,
    runtime: Runtime,
    reader: Viewer,
    raw_id: str,
    notice: Notice | None = None,
    status: int = 200,
) -> web.Response:
    """The incident page, with an optional notice (a decision's outcome); built and sent
    as a large answer (:func:`large_answer`: 503 while too many are in flight)."""
    seq = parse_incident_id(raw_id)
    if seq is None or seq.bit_length() > 62:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id!r} (ids look like INC-12)")
    await runtime.caught_up()
    async with large_answer(request) as answer:
        built = await _incident_page(request, runtime, reader, raw_id, seq, notice, status)
        return answer.paced(built)


async def _incident_page(
    request: web.Request,
    runtime: Runtime,
    reader: Viewer,
    raw_id: str,
    seq: int,
    notice: Notice | None,
    status: int,
) -> web.Response:
    """The incident page built whole, from the store as it is now."""
    try:
        async with runtime.db.connect() as conn:
            detail = await incident_detail(conn, seq)
            journal = await alerts_of_incident(conn, seq)
        report = await draft_report(
            runtime.db, seq, now=runtime.clock.now(), playbooks=runtime.playbooks
        )
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store cannot be read") from err
    if detail is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {raw_id}")
    generator_urls = {a.fingerprint: a.generator_url for a in journal if a.generator_url}
    graphable = runtime.settings.prometheus.url is not None and any(
        expressions(url) for url in generator_urls.values()
    )
    return _render(
        request,
        "incident.html",
        status,
        **_common(request, runtime, reader),
        detail=detail,
        incident=detail.incident,
        generator_urls=generator_urls,
        links=_links(runtime, detail),
        graph=graphable,
        report=report or "",
        notice=notice,
        pending=sum(1 for run in detail.runs for a in run.approvals if a.status == "pending"),
    )


def _links(runtime: Runtime, detail: IncidentDetail) -> list[tuple[str, str]]:
    """Where else this incident lives: its Slack channel, PagerDuty, Alertmanager."""
    incident = detail.incident
    links: list[tuple[str, str]] = []
    if incident.slack_channel:
        channel = quote(incident.slack_channel, safe="")
        links.append(("Slack channel", f"https://slack.com/app_redirect?channel={channel}"))
    if incident.pagerduty_incident:
        pd = quote(incident.pagerduty_incident, safe="")
        links.append(("PagerDuty incident", f"https://app.pagerduty.com/incidents/{pd}"))
    am = runtime.settings.alertmanager.url
    names = sorted({a.labels["alertname"] for a in detail.alerts if "alertname" in a.labels})
    if am and names:
        matcher = "{" + f'alertname=~"{"|".join(names)}"' + "}"
        links.append(("Alertmanager", f"{am.rstrip('/')}/#/alerts?filter={quote(matcher)}"))
    return links
