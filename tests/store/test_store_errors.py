"""What the store's errors become at its boundary: unavailable (retry later, 503) or
refused."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from bot.errors import StoreUnavailable
from bot.store.database import store_error


def test_no_free_connection_in_the_pool_is_the_store_being_unavailable() -> None:
    """SQLAlchemy's pool gives up waiting for a connection (every one is busy, e.g. many
    readers of a very large incident at once) with its own ``TimeoutError``, which is not
    the builtin one: it is "unavailable, retry" (a 503), not an unexpected 500. (Seen
    failing: it was not translated, and the API answered 500 ``internal``.)"""
    err = sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")
    translated = store_error(err)
    assert isinstance(translated, StoreUnavailable)
    assert "TimeoutError" in str(translated)
