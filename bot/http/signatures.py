"""HMAC signature checks for signed webhooks, in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from bot.http.auth import header_bytes


def pagerduty_signature_valid(header: str, body: bytes, secrets: Iterable[str]) -> bool:
    """``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]``: valid when any v1 entry is the
    HMAC-SHA256 of the raw body under any configured secret (secret rotation)."""
    presented = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets]
    matched = False
    for candidate in presented:
        for digest in expected:
            matched |= hmac.compare_digest(header_bytes(candidate), digest.encode())
    return matched
