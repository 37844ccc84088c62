"""SQLite's JSON columns write label sets with orjson and everything else, including what
orjson refuses or would write otherwise, with the standard library: every value storable
before is stored, and reads back, as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from bot.store import Database
from bot.store.json_text import dumps
from bot.store.schema import switches

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
# Strings with anything in them, lone surrogates included (json.dumps escapes them).
TEXT = st.text(st.characters(codec=None, categories=None))
SCALARS = st.none() | st.booleans() | st.integers() | TEXT | st.floats(allow_nan=False)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(TEXT | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
# orjson refuses or rewrites each of these; json.dumps stored them.
AWKWARD: list[Any] = [
    {"pod": "web-\ud800"},  # a lone surrogate
    {"fingerprint": "f", "labels": {"pod": "web-\udc00"}},  # the same in a detail
    {1: "one", "two": 2},  # a key that is not a string
    {"big": 2**70},  # an integer beyond 64 bits
    ["\udfff", {"nested": ["\ud83d"]}],
    {"ratio": float("inf"), "floor": -float("inf")},  # orjson writes null
    {1: "one"},  # a flat mapping, a key that is not text
]


LABELS = st.dictionaries(TEXT, TEXT, max_size=6)


DETAILS = st.dictionaries(TEXT, TEXT | LABELS, max_size=4)


@given(value=LABELS | DETAILS)
def test_mappings_of_text_read_back_as_written(value: dict[str, Any]) -> None:
    """A mapping of text, or of label sets (orjson's part), reads back equal, surrogates
    and all."""
    assert json.loads(dumps(value)) == value


@given(value=VALUES)
def test_any_value_reads_back_as_the_standard_library_stored_it(value: Any) -> None:
    """Whatever ``json.dumps`` could write reads back the same written by :func:`dumps`."""
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize("value", AWKWARD)
async def test_values_orjson_refuses_are_stored_through_both_write_paths(
    db: Database, value: Any
) -> None:
    """The async path and the writer thread both store them and read them back."""
    async with db.begin() as conn:
        await conn.execute(switches.insert(), _row("async", value))
    await db.run_transaction(lambda conn: conn.execute(switches.insert(), _row("thread", value)))
    async with db.connect() as conn:
        rows = dict((await conn.execute(sa.select(switches.c.name, switches.c.value))).all())
    assert rows == {"async": json.loads(json.dumps(value)), "thread": json.loads(json.dumps(value))}


def _row(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "changed_by": "test", "changed_at": NOW}
