"""Files Medic shares into an incident channel: the evidence graph of the alert's own
expression (once the channel opens) and the post-incident report (once it resolves)."""

from __future__ import annotations

import aiohttp
import structlog

from bot.clock import Clock
from bot.config import Settings
from bot.evidence import GraphUnavailable, incident_graph
from bot.playbooks.playbook import PlaybookSet
from bot.report import draft_report
from bot.store import Database
from bot.store import slack as slack_store
from bot.store.slack import ChannelRow
from responders.slack.client import SlackClient

log = structlog.get_logger(__name__)


class Attachments:
    """Posts each file once per channel; a Slack failure raises (the caller retries)."""

    def __init__(
        self,
        *,
        db: Database,
        client: SlackClient,
        settings: Settings,
        playbooks: PlaybookSet,
        http: aiohttp.ClientSession,
        clock: Clock,
    ) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._playbooks = playbooks
        self._http = http
        self._clock = clock

    async def graph(self, channel: ChannelRow) -> None:
        """The last hour of the first alert's expression, in the status thread."""
        seq = channel.incident_seq
        try:
            graph = await incident_graph(
                self._db, self._http, self._settings.prometheus, seq, now=self._clock.now()
            )
        except GraphUnavailable as err:
            log.info("slack.graph_unavailable", incident=f"INC-{seq}", reason=err.detail)
            graph = None
        if graph is not None:
            omitted = (
                f" ({graph.series_omitted} more series not drawn)" if graph.series_omitted else ""
            )
            await self._client.upload(
                channel.channel_id,
                filename=graph.filename,
                title=f"{graph.title}: {graph.expression}",
                content=graph.png,
                thread_ts=channel.status_ts,
                comment=f"Evidence: the last hour of `{graph.expression}`{omitted}",
            )
        async with self._db.begin() as conn:
            await slack_store.mark_posted(conn, seq, graph=True)

    async def report(self, channel: ChannelRow) -> None:
        """The drafted post-incident report, as a Markdown file in the channel."""
        seq = channel.incident_seq
        text = await draft_report(self._db, seq, now=self._clock.now(), playbooks=self._playbooks)
        if text is not None:
            await self._client.upload(
                channel.channel_id,
                filename=f"INC-{seq}-post-incident-report.md",
                title=f"INC-{seq} post-incident report (draft)",
                content=text.encode(),
                comment=(
                    f":memo: INC-{seq} is resolved. Here is the drafted post-incident report: "
                    "fill in the root cause, impact and lessons "
                    f"(also at GET /api/incidents/INC-{seq}/report)."
                ),
            )
        async with self._db.begin() as conn:
            await slack_store.mark_posted(conn, seq, report=True)
