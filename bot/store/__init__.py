"""The store: the source of truth (SQLAlchemy Core; SQLite or PostgreSQL). What goes wrong
with it leaves as :class:`bot.errors.StoreError` (``StoreUnavailable``, ``StoreRefused``),
never as a driver's error."""

from bot.store.database import Database

__all__ = ["Database"]
