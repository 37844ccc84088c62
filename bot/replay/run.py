"""``medic replay`` end to end: read the alerts (journal or dump), replay, render."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.integrations import action_registry
from bot.playbooks.playbook import PlaybookSet
from bot.replay.render import render_text
from bot.replay.simulate import replay
from bot.replay.sources import dump_alerts, journal_alerts


def replay_report(
    settings: Settings,
    playbooks: PlaybookSet,
    dump: Path | None,
    since: timedelta | None,
    *,
    as_json: bool,
) -> str:
    """The report (text, or JSON) of replaying ``dump`` (else the journal of ``store.url``)
    through ``playbooks``; ConfigError when the alerts cannot be read."""
    cutoff = None if since is None else datetime.now(UTC) - since
    if dump is not None:
        alerts = dump_alerts(dump, cutoff)
        source = f"the alert dump {dump}"
    else:
        alerts = asyncio.run(journal_alerts(settings.store.url, cutoff))
        source = f"the journal of {_redacted(settings.store.url)}"
    report = replay(alerts, playbooks, action_registry(), settings, source)
    return report.model_dump_json(indent=2) + "\n" if as_json else render_text(report)


def _redacted(url: str) -> str:
    """The store URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
