"""The post-incident report of one incident, drafted on demand from the store."""

from __future__ import annotations

from datetime import datetime

from bot.playbooks.playbook import PlaybookSet
from bot.report.build import load_report
from bot.report.render import render_report
from bot.store import Database


async def draft_report(
    db: Database, incident_seq: int, *, now: datetime, playbooks: PlaybookSet
) -> str | None:
    """The Markdown report of incident ``incident_seq`` as of ``now`` (a draft so far while it
    is unresolved); None when there is no such incident. Store errors propagate."""

    def describe(name: str) -> str:
        playbook = playbooks.get(name)
        return playbook.spec.description if playbook is not None else ""

    async with db.connect() as conn:
        report = await load_report(conn, incident_seq, now=now, describe=describe)
    return None if report is None else render_report(report)
