"""Prometheus responder constants."""

from __future__ import annotations

from datetime import timedelta

SYSTEM = "prometheus"
QUERY_PATH = "/api/v1/query"
QUERY_RANGE_PATH = "/api/v1/query_range"
DEFAULT_WAIT_TIMEOUT = timedelta(minutes=10)
DEFAULT_WAIT_INTERVAL = timedelta(seconds=15)
DESCRIBED_VALUES = 5
"""How many samples an error message or summary spells out before saying "and N more"."""
