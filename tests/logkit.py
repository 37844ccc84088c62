"""Reading what Medic logged during a test (the ``log_stream`` fixture's JSON lines)."""

from __future__ import annotations

import io
import json
from typing import Any


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line logged so far, decoded."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
