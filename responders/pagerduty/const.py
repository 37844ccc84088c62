"""PagerDuty responder constants."""

from __future__ import annotations

SYSTEM = "pagerduty"
SUMMARY_LIMIT = 1024
"""Events API v2 limit on ``payload.summary``; longer summaries are cut when sent."""
