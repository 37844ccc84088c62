"""The log pipeline's faster parts write what the slower ones wrote: the same redactions,
the same timestamps, the same JSON text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st

from bot.logging import REDACTED, SecretRedactor, UtcTimestamp, render_json

SECRETS = ["xoxb-configured", "hunter2", "p@ss word"]
# Pieces that make lines worth redacting, in odd cases (the Kelvin sign folds to "k").
PIECES = st.sampled_from(
    [
        *SECRETS,
        "bearer ",
        "BEARER\t",
        "Bearer",
        "token=",
        "TOKEN=",
        "to\u212aen=",
        "my-token=",
        " ",
        ";",
        "abc",
    ]
)
LINES = st.lists(PIECES | st.text(max_size=6), max_size=8).map("".join)
_BEARER = re.compile(r"(?i:\b(bearer\s+|token=))[^\s,;\"']+")


def _searched_whole(text: str) -> str:
    """What redaction made of ``text`` when every value was searched."""
    for secret in sorted(SECRETS, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


@given(text=LINES)
def test_redaction_is_what_searching_every_value_gave(text: str) -> None:
    """The quick checks skip only values the full search finds nothing in."""
    redact = SecretRedactor(SECRETS)
    assert redact(None, "info", {"note": text}) == {"note": _searched_whole(text)}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NANOS = st.integers(0, 4_102_444_800 * 10**9)  # up to 2100
# Readings a few seconds apart at most: several fall in one second, then the next.
CLOCKS = st.tuples(NANOS, st.lists(st.integers(0, 3 * 10**9), min_size=1, max_size=6)).map(
    lambda start_and_steps: sorted(start_and_steps[0] + step for step in start_and_steps[1])
)


@given(clock=CLOCKS)
def test_timestamps_are_utc_iso_with_microseconds(clock: list[int]) -> None:
    """Each line's time as ``datetime.isoformat`` writes it in UTC, microseconds always,
    ``Z`` for the offset; also when consecutive lines fall in the same second."""
    readings = iter(clock)
    stamp = UtcTimestamp(clock=lambda: next(readings))
    for nanos in clock:
        expected = (EPOCH + timedelta(microseconds=nanos // 1000)).isoformat(
            timespec="microseconds"
        )
        assert stamp(None, "info", {})["timestamp"] == expected.replace("+00:00", "Z")


TEXT = st.text(st.characters(codec=None, categories=None), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | TEXT | st.floats() | st.datetimes()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


@given(event=st.dictionaries(TEXT, VALUES, max_size=5))
def test_lines_are_written_as_structlogs_renderer_wrote_them(event: dict[str, Any]) -> None:
    """Byte for byte (consumers may match on the text): any text, number, float that is
    not finite, and object JSON has no form for (a time, written as its ``repr``)."""
    expected = structlog.processors.JSONRenderer()(None, "info", dict(event))
    assert render_json(None, "info", dict(event)) == expected
