"""The store: the source of truth (SQLAlchemy Core; SQLite or PostgreSQL)."""

from bot.store.database import STORE_ERRORS, TRANSIENT_ERRORS, Database, is_transient

__all__ = ["STORE_ERRORS", "TRANSIENT_ERRORS", "Database", "is_transient"]
