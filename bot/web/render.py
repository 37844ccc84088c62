"""Jinja2 for the console: autoescaped templates, loaded once at import (off the loop)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES = ("base.html", "list.html", "incident.html", "login.html")


def ago(then: datetime | None, now: datetime) -> str:
    """``5m``, ``3h``, ``2d``: how long ago, for people scanning a list."""
    if then is None:
        return "-"
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration(start: datetime | None, end: datetime | None) -> str:
    """A step's duration (``1.2 s``, ``3m 4s``), or ``-`` when it has not run or finished."""
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest}s"


def pretty(value: Any) -> str:
    """Step output as indented JSON."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # no stat() per render on the event loop
    )
    env.filters["pretty"] = pretty
    env.globals.update(ago=ago, duration=duration)
    for name in TEMPLATES:  # read the files now, never on the event loop
        env.get_template(name)
    return env


ENVIRONMENT = _environment()


def page(name: str, status: int = 200, **context: Any) -> web.Response:
    """A rendered page."""
    html = ENVIRONMENT.get_template(name).render(**context)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )
