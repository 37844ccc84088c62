"""Tiny blocking HTTP helpers for tests that drive servers running as subprocesses."""

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

TIMEOUT = 10.0


def get_text(url: str) -> str:
    """``GET url`` and return the body as text; a non-2xx answer raises ``HTTPError``."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:  # noqa: S310  # our own http:// server
        body: bytes = resp.read()
    return body.decode()


def get_json(url: str) -> Any:
    """``GET url`` and decode the JSON body; a non-2xx answer raises ``HTTPError``."""
    return json.loads(get_text(url))


def post_json(url: str, body: Any, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    """``POST`` ``body`` as JSON; return ``(status, decoded JSON answer)`` for any status."""
    request = urllib.request.Request(  # noqa: S310  # our own http:// server
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310  # same
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())
