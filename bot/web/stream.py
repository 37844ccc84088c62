"""``GET /ui/events``: Server-Sent Events from the change feed.

A stream does not hold a place under ``server.max_connections``: at the cap the oldest
stream is closed to make room (the browser reconnects), and a closed stream's handler ends
at once (:func:`bot.http.server.stream_started`).

Each event's id is the audit sequence number it announces, so a browser that reconnects
(after a network blip or a Medic restart) sends ``Last-Event-ID`` and hears at once about
anything it missed. ``?incident=INC-n`` keeps the events of one incident (and global ones).
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.http.server import stream_started
from bot.http.viewer import require_reader
from bot.models import parse_incident_id
from bot.runtime import RUNTIME
from bot.web.feed import ChangeFeed

CHANGE_FEED = web.AppKey("change_feed", ChangeFeed)
KEEPALIVE_S = 15.0
RETRY_MS = 1000


async def events(request: web.Request) -> web.StreamResponse:
    """The event stream: ``event: change`` with ``{"seq", "incidents"}`` after each change."""
    require_reader(request, request.app[RUNTIME].settings.server)
    feed = request.app[CHANGE_FEED]
    raw = request.query.get("incident", "")
    only = parse_incident_id(raw) if raw else None
    last_header = request.headers.get("Last-Event-ID", "")
    last = int(last_header) if last_header.isascii() and last_header.isdigit() else feed.latest
    last = min(last, 2**62)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    stream_started(request)  # may be pushed out under the connection cap; ends when closed
    await response.write(f"retry: {RETRY_MS}\nid: {last}\n\n".encode())
    while True:
        await feed.wait_past(last, KEEPALIVE_S)
        changes = feed.since(last)
        newest = feed.latest
        if changes is None or any(only is None or c.incident_seq in (None, only) for c in changes):
            touched = sorted({f"INC-{c.incident_seq}" for c in changes or [] if c.incident_seq})
            data = json.dumps({"seq": newest, "incidents": touched})
            await response.write(f"id: {newest}\nevent: change\ndata: {data}\n\n".encode())
        elif newest == last:
            await response.write(b": keepalive\n\n")
        last = newest
