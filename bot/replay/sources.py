"""Where replayed alerts come from: the store's alert journal (read through a read-only
connection, :mod:`bot.store.journal_reader`) or an Alertmanager ``GET /api/v2/alerts`` dump.
Nothing is written anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import ConfigError
from bot.ingress.alertmanager_models import label_fingerprint
from bot.models import Alert, AlertSource, AlertStatus
from bot.store.journal_reader import journaled_alerts
from bot.yamlsource import validation_problems


@dataclass(frozen=True, slots=True)
class ReplayedAlert:
    """One alert as Medic took it (or would have), and when."""

    alert: Alert
    at: datetime


async def journal_alerts(url: str, since: datetime | None) -> list[ReplayedAlert]:
    """Every journaled alert (received at ``since`` or later), in the order Medic took them,
    read through a read-only connection."""
    return [ReplayedAlert(alert, at) for alert, at in await journaled_alerts(url, since)]


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
