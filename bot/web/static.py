"""The console's stylesheet and script, read once at import and served from memory."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from bot.http.errors import ErrorCode, HttpError

_FILES = {
    "console.css": "text/css",
    "console.js": "text/javascript",
}
_CONTENT = {name: (resources.files("bot.web") / "static" / name).read_bytes() for name in _FILES}


async def static_file(request: web.Request) -> web.Response:
    """``GET /ui/static/{name}``."""
    name = request.match_info["name"]
    if name not in _CONTENT:
        raise HttpError(ErrorCode.NOT_FOUND, f"no file {name!r}")
    return web.Response(
        body=_CONTENT[name],
        content_type=_FILES[name],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


async def home(request: web.Request) -> web.Response:
    """``GET /``: the console."""
    raise web.HTTPFound("/ui")
