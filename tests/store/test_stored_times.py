"""Times are stored on SQLite exactly as SQLAlchemy's own ``DATETIME`` stores them (naive
UTC text with microseconds), whatever offset they arrive in, so rows written before and
after Medic's faster path compare, sort and read back alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from bot.store.schema import UTCDateTime

DIALECT = sqlite.dialect()
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
# hypothesis bounds the local time naive and attaches one of ``OFFSETS``
EARLIEST = datetime(1970, 1, 2)  # noqa: DTZ001
LATEST = datetime(8999, 12, 30)  # noqa: DTZ001
TIMES = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=OFFSETS)


def _sqlalchemys_own(value: datetime) -> str:
    """The usual two steps: the naive UTC time, then SQLAlchemy's SQLite ``DATETIME``."""
    processor = sa.DateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert processor is not None
    stored: str = processor(UTCDateTime().process_bind_param(value, DIALECT))
    return stored


@given(value=TIMES)
def test_stored_text_is_sqlalchemys_own(value: datetime) -> None:
    """Any aware time, in any offset, is stored as the text SQLAlchemy's path writes."""
    processor = UTCDateTime().bind_processor(DIALECT)
    assert processor is not None
    assert processor(value) == _sqlalchemys_own(value)


def test_whole_seconds_keep_their_microseconds_and_none_stays_none() -> None:
    """A time on a whole second is written with ``.000000`` (text order is time order);
    no time is NULL; a naive time is refused."""
    processor = UTCDateTime().bind_processor(DIALECT)
    assert processor is not None
    assert processor(datetime(2026, 12, 4, 5, 0, tzinfo=UTC)) == "2026-12-04 05:00:00.000000"
    assert processor(None) is None
    with pytest.raises(ValueError, match="naive"):
        processor(datetime(2026, 12, 4, 5, 0))  # noqa: DTZ001 -- naive on purpose


@given(values=st.lists(TIMES, max_size=8))
def test_a_processor_writing_many_times_writes_each_as_sqlalchemy_does(
    values: list[datetime],
) -> None:
    """One processor (as a table's column keeps it) writing time after time, the same
    instant again in another offset included, writes each as SQLAlchemy's path would."""
    processor = UTCDateTime().bind_processor(DIALECT)
    assert processor is not None
    for value in [*values, *(v.astimezone(UTC) for v in values), *values]:
        assert processor(value) == _sqlalchemys_own(value)


def test_a_remembered_time_never_lets_a_naive_one_through() -> None:
    """A naive time equal, as wall time, to one written before is still refused."""
    processor = UTCDateTime().bind_processor(DIALECT)
    assert processor is not None
    processor(datetime(2026, 12, 4, 5, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        processor(datetime(2026, 12, 4, 5, 0))  # noqa: DTZ001 -- naive on purpose
