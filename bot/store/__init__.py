"""The store: the source of truth (SQLAlchemy Core; SQLite or PostgreSQL). What goes wrong
with it leaves as :class:`bot.errors.StoreError` (``StoreUnavailable``, ``StoreRefused``),
never as a driver's error. ``AsyncConnection`` is the type of the connection its functions
take (a transaction the caller holds)."""

from bot.store.database import AsyncConnection, Database

__all__ = ["AsyncConnection", "Database"]
