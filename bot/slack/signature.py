"""Slack's request signature, checked before bolt sees anything.

A request without well-formed ``X-Slack-Signature`` / ``X-Slack-Request-Timestamp``, or
one outside Slack's 5-minute window, is refused from its headers alone (401), before Medic
reads or buffers its body; once the body is in, its HMAC is checked before bolt parses it
(bolt parses a body before it verifies it, and fails on one that is not well-formed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from bot.http.errors import ErrorCode, HttpError

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
# Slack's replay window: a request signed longer ago (or ahead) than this is refused.
MAX_SKEW_S = 300
# A command's form or a click's payload (the message it sits on included) stays far below.
MAX_BODY_BYTES = 1024 * 1024

_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)


def check_signature_headers(headers: Mapping[str, str], now: float) -> None:
    """401 unless both headers are well-formed and the timestamp is within the window."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise HttpError(ErrorCode.UNAUTHORIZED, f"{TIMESTAMP_HEADER} is missing or not a Unix time")
    if abs(now - int(timestamp)) > MAX_SKEW_S:
        raise HttpError(
            ErrorCode.UNAUTHORIZED, f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_S} s away"
        )
    if not _SIGNATURE.fullmatch(headers.get(SIGNATURE_HEADER, "")):
        raise HttpError(ErrorCode.UNAUTHORIZED, f"{SIGNATURE_HEADER} is missing or malformed")


def signature_matches(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """``X-Slack-Signature`` is ``v0=`` HMAC-SHA256(secret, ``v0:{timestamp}:{body}``);
    call after :func:`check_signature_headers` (the headers are well-formed ASCII)."""
    base = b"v0:" + headers[TIMESTAMP_HEADER].encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE_HEADER].encode(), expected.encode())
