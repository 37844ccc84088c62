"""The store: the source of truth (SQLAlchemy Core; SQLite or PostgreSQL)."""

from bot.store.database import STORE_ERRORS, Database

__all__ = ["STORE_ERRORS", "Database"]
