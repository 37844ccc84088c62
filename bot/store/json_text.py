"""JSON text for SQLite's JSON columns: orjson for label sets, the standard library else.

Every journaled alert writes its labels and annotations as JSON twice each (its journal
row, its state in the incident); ``json.dumps`` costs ~2 µs for a label set, orjson a
quarter of that. orjson only writes flat ``str -> str`` mappings, where its compact text
means the same; anything else (floats, which it would write ``inf`` and ``nan`` of as
``null``; a lone surrogate or a key that is not text, which it refuses) is written by
``json.dumps`` as always: nothing storable before is refused now, nothing reads back
otherwise. Reading stays ``json.loads`` (orjson reads an integer beyond 64 bits as a float).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """``value`` as JSON text."""
    if type(value) is dict and all(type(text) is str for text in value.values()):
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # a lone surrogate, a key that is not text
            pass
    return json.dumps(value)
