"""Timestamps at the edge: timezone-aware, converted to UTC, within what Medic can store and
compute with. Anything else is a 400 naming the field, never a 500 that a sender retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def in_utc_range(value: datetime) -> datetime:
    """``value`` in UTC; ValueError when it is before 1970 or from the year 9000 on (also
    when the conversion itself overflows, as ``9999-12-31T23:00:00-05:00`` does)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError as err:
        raise ValueError("is out of range: times must be from 1970 to 8999 in UTC") from err
    if not EARLIEST <= utc < LATEST:
        raise ValueError("is out of range: times must be from 1970 to 8999 in UTC")
    return utc


UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc_range)]
"""An aware timestamp, normalised to UTC, from 1970 up to (not including) the year 9000."""
