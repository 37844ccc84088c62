"""Where replayed alerts come from: the store's alert journal (read through a read-only
connection) or an Alertmanager ``GET /api/v2/alerts`` dump. Nothing is written anywhere."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.errors import ConfigError
from bot.ingress.alertmanager_models import label_fingerprint
from bot.models import Alert, AlertSource, AlertStatus
from bot.store.database import async_url
from bot.store.schema import alerts as journal
from bot.yamlsource import validation_problems


@dataclass(frozen=True, slots=True)
class ReplayedAlert:
    """One alert as Medic took it (or would have), and when."""

    alert: Alert
    at: datetime


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


async def journal_alerts(url: str, since: datetime | None) -> list[ReplayedAlert]:
    """Every journaled alert (received at ``since`` or later), in the order Medic took them."""
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
        ReplayedAlert(
            Alert(
                source=AlertSource(row["source"]),
                fingerprint=row["fingerprint"],
                status=AlertStatus(row["status"]),
                labels=row["labels"],
                annotations=row["annotations"],
                starts_at=row["starts_at"],
                ends_at=row["ends_at"],
                generator_url=row["generator_url"],
                group_key=row["group_key"],
            ),
            row["received_at"],
        )
        for row in rows
    ]


class DumpedAlert(BaseModel):
    """One alert of ``GET /api/v2/alerts`` (Alertmanager's GettableAlert)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


def dump_alerts(path: Path, since: datetime | None) -> list[ReplayedAlert]:
    """The alerts of an Alertmanager dump (a JSON array), each firing at its ``startsAt``,
    oldest first; ``file:line: key: reason`` when the file is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([f"{path}:0: <file>: cannot read: {err}"]) from err
    except json.JSONDecodeError as err:
        raise ConfigError([f"{path}:{err.lineno}: <json>: {err.msg}"]) from err
    if not isinstance(data, list):
        raise ConfigError([f"{path}:1: <root>: must be the JSON array GET /api/v2/alerts returns"])
    found: list[ReplayedAlert] = []
    for index, item in enumerate(data):
        try:
            dumped = DumpedAlert.model_validate(item)
        except ValidationError as err:
            raise ConfigError(validation_problems(err, str(path), {}, (index,))) from err
        starts = dumped.starts_at.astimezone(UTC)
        if since is not None and starts < since:
            continue
        name = dumped.labels.get("alertname", "")
        alert = Alert(
            source=AlertSource.ALERTMANAGER,
            fingerprint=dumped.fingerprint or label_fingerprint(dumped.labels),
            status=AlertStatus.FIRING,
            labels=dumped.labels,
            annotations=dumped.annotations,
            starts_at=starts,
            generator_url=dumped.generator_url or None,
            group_key=f'{{}}:{{alertname="{name}"}}',
        )
        found.append(ReplayedAlert(alert, starts))
    return sorted(found, key=lambda r: r.at)
