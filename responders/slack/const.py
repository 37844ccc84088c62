"""Slack responder constants."""

from __future__ import annotations

import re

SYSTEM = "slack"
SECURITY_CHANNEL = "security"
"""``channel: security`` means the channel configured as ``slack.security_channel``."""

CHANNEL = re.compile(r"[CGD][A-Z0-9]{8,}|#[a-z0-9_-]{1,80}")
"""A channel id (``C0123ABCD``) or ``#name``."""

POST_INTERVAL_S = 1.0
"""Slack allows about one ``chat.postMessage`` per second per channel."""

TIMEOUT_S = 10
"""Each Web API call gives up after this many seconds (then the retry handlers decide)."""

RATE_LIMIT_RETRIES = 2
"""429s retried (after ``Retry-After``) before the call fails and the work is kept for later."""

SERVER_ERROR_RETRIES = 1
"""500/503 retried before the call fails and the work is kept for later."""

CHANNEL_NAME_ATTEMPTS = 20
"""``name``, then ``name-2`` … ``name-20`` when taken."""
