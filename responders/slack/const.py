"""Slack responder constants."""

from __future__ import annotations

import re

SYSTEM = "slack"
SECURITY_CHANNEL = "security"
"""``channel: security`` means the channel configured as ``slack.security_channel``."""

CHANNEL = re.compile(r"[CGD][A-Z0-9]{8,}|#[a-z0-9_-]{1,80}")
"""A channel id (``C0123ABCD``) or ``#name``."""
