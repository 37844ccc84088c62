"""The alert journal read through a read-only connection (``medic replay``): the store file
or database is never written, nor created."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.errors import ConfigError
from bot.models import Alert
from bot.store.database import async_url
from bot.store.journal import alert_from_row
from bot.store.schema import alerts as journal


def read_only_url(url: str) -> tuple[sa.URL, dict[str, Any]]:
    """The store URL for a read-only connection, and the driver's arguments. SQLite: the
    file is never created nor written; a store whose write-ahead log is checkpointed (Medic
    stopped) is opened ``immutable`` (no lock or index file appears beside it), a live one
    ``mode=ro`` (reading its write-ahead log as any reader does). PostgreSQL: the session's
    transactions are read-only."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        path = target.database or ""
        live = Path(f"{path}-wal").exists()
        uri = f"file:{path}?mode=ro" if live else f"file:{path}?immutable=1"
        if not Path(path).is_file():
            raise ConfigError([f"{url}:0: store.url: no store at {path}"])
        return target.set(database=uri, query={"uri": "true"}), {}
    return target, {"server_settings": {"default_transaction_read_only": "on"}}


async def journaled_alerts(url: str, since: datetime | None) -> list[tuple[Alert, datetime]]:
    """Every journaled alert (received at ``since`` or later) and when it was received, in
    the order Medic took them."""
    target, connect_args = await asyncio.to_thread(read_only_url, url)
    engine = create_async_engine(target, connect_args=connect_args)
    query = sa.select(journal).order_by(journal.c.id)
    if since is not None:
        query = query.where(journal.c.received_at >= since)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
    except (OperationalError, DBAPIError, OSError) as err:
        reason = err.orig if isinstance(err, DBAPIError) else err
        raise ConfigError([f"{url}:0: store.url: cannot read the journal: {reason}"]) from err
    finally:
        await engine.dispose()
    return [
        (
            alert_from_row(row),
            row["received_at"],
        )
        for row in rows
    ]
