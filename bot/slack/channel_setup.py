"""Opening an incident's channel: create it, invite people, set its topic, post and pin the
status message; each step committed as it is done, so a Slack failure half-way resumes there
without a second channel or status message."""

from __future__ import annotations

from dataclasses import replace

import structlog

from bot.clock import Clock
from bot.config import Settings
from bot.errors import MedicError
from bot.slack.names import channel_name, topic
from bot.slack.render import digest
from bot.slack.status_message import StatusMessage
from bot.store import Database
from bot.store import slack as slack_store
from bot.store.slack import ChannelRow, IncidentHeader
from responders.slack.client import SlackClient

log = structlog.get_logger(__name__)


class ChannelSetup:
    """The steps that make an incident's channel ready for its timeline."""

    def __init__(
        self,
        *,
        db: Database,
        client: SlackClient,
        settings: Settings,
        clock: Clock,
        status: StatusMessage,
    ) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._clock = clock
        self._status = status

    async def open_channel(self, header: IncidentHeader) -> ChannelRow:
        """Create the incident's channel and remember it."""
        wanted = channel_name(
            self._settings.slack.channel_prefix,
            header.created_at,
            header.title,
            f"INC-{header.seq}",
        )
        channel_id, name = await self._client.create_channel(wanted)
        async with self._db.begin() as conn:
            await slack_store.save_channel(
                conn,
                incident_seq=header.seq,
                channel_id=channel_id,
                name=name,
                status_ts="",
                at=self._clock.now(),
            )
        log.info("slack.channel_created", incident=f"INC-{header.seq}", channel=channel_id)
        return ChannelRow(header.seq, channel_id, name, "", "", "", 0)

    async def post_status(self, header: IncidentHeader, channel: ChannelRow) -> ChannelRow:
        """Invite people, set the topic, post the status message and remember it at once
        (each step repeatable, so a Slack failure half-way resumes here without a second
        status message); pinning follows as its own step."""
        failed = await self._client.invite(channel.channel_id, await self._invitees(header))
        if failed:
            log.warning("slack.invite_failed", channel=channel.channel_id, users=failed)
        wanted_topic = topic(header.severity, header.title, header.status)
        await self._client.set_topic(channel.channel_id, wanted_topic)
        text, blocks, stable = await self._status.render(header)
        ts = await self._client.post(channel.channel_id, text, blocks=blocks)
        status_digest = digest(blocks, text)
        async with self._db.begin() as conn:
            await slack_store.save_status(
                conn, header.seq, digest=status_digest, topic=wanted_topic, status_ts=ts
            )
        self._status.shown(header.seq, stable)
        return replace(channel, status_ts=ts, status_digest=status_digest, topic=wanted_topic)

    async def pin_status(self, channel: ChannelRow) -> ChannelRow:
        """Pin the status message."""
        await self._client.pin(channel.channel_id, channel.status_ts)
        async with self._db.begin() as conn:
            await slack_store.mark_posted(conn, channel.incident_seq, pinned=True)
        return replace(channel, pinned=True)

    async def _invitees(self, header: IncidentHeader) -> list[str]:
        """``slack.invite``, the approvers (members of approver groups too) and a human
        commander."""
        slack = self._settings.slack
        people = [*slack.invite, *slack.approvers]
        for group in slack.approver_groups:
            try:
                people += await self._client.usergroup_members(group)
            except MedicError as err:
                log.warning("slack.group_lookup_failed", group=group, error=str(err))
        if header.commander != "medic":
            people.append(header.commander)
        return people
