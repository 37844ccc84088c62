"""The PromQL expressions inside an alert's ``generatorURL``.

Prometheus links each alert to its graph page: ``http://prom:9090/graph?g0.expr=<expr>&g0.tab=1``
(one ``g<N>.expr`` per panel, URL-encoded).
"""

from __future__ import annotations

import re
import urllib.parse

_PANEL_EXPR = re.compile(r"g(\d+)\.expr")


def expressions(generator_url: str | None) -> list[str]:
    """The non-empty ``g<N>.expr`` values of ``generator_url``, by panel number; [] when the URL
    carries none (or is not a URL at all)."""
    if not generator_url:
        return []
    query = urllib.parse.urlsplit(generator_url).query
    found: list[tuple[int, str]] = []
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=False):
        match = _PANEL_EXPR.fullmatch(key)
        if match and value.strip():
            found.append((int(match.group(1)), value.strip()))
    return [expr for _, expr in sorted(found, key=lambda pair: pair[0])]
