"""Approval messages in incident channels: each pending approval asked with buttons, and each
asked one edited as it changes."""

from __future__ import annotations

from bot.models import ApprovalStatus
from bot.slack.render import ApprovalView, approval_message, digest
from bot.store import AsyncConnection, Database
from bot.store import runs as run_store
from bot.store import slack as slack_store
from bot.store.slack import ChannelRow, IncidentHeader
from responders.slack.client import SlackClient


class ApprovalMessages:
    """Keeps an incident's approval messages in step with its approvals."""

    def __init__(self, *, db: Database, client: SlackClient) -> None:
        self._db = db
        self._client = client

    async def sync(self, header: IncidentHeader, channel: ChannelRow) -> None:
        """Ask each new pending approval with buttons; edit asked ones as they change."""
        async with self._db.connect() as conn:
            asked = await slack_store.approval_messages(conn, header.seq)
            views = [
                found
                for approval_seq in await slack_store.approvals_of_incident(conn, header.seq)
                if (found := await _approval_view(conn, approval_seq)) is not None
            ]
        for approval_seq, view in views:
            text, blocks = approval_message(view)
            shown = digest(blocks, text)
            message = asked.get(approval_seq)
            if message is None:
                if view.status != ApprovalStatus.PENDING.value:
                    continue  # closed before Slack heard of it: the timeline says so
                ts = await self._client.post(channel.channel_id, text, blocks=blocks)
                async with self._db.begin() as conn:
                    await slack_store.save_approval_message(
                        conn,
                        approval_seq=approval_seq,
                        incident_seq=header.seq,
                        channel_id=channel.channel_id,
                        ts=ts,
                        digest=shown,
                    )
            elif message.digest != shown:
                await self._client.update(message.channel_id, message.ts, text, blocks=blocks)
                async with self._db.begin() as conn:
                    await slack_store.save_approval_digest(conn, approval_seq, shown)


async def _approval_view(
    conn: AsyncConnection, approval_seq: int
) -> tuple[int, ApprovalView] | None:
    row = await run_store.get_approval(conn, approval_seq)
    if row is None:
        return None
    run = await run_store.get_run(conn, row.run_seq)
    if run is None:
        return None
    approvers = await run_store.approvers(conn, approval_seq)
    return approval_seq, ApprovalView(
        approval_id=f"APR-{row.seq}",
        run_id=f"RUN-{run.seq}",
        playbook=run.playbook,
        step_id=row.step_id,
        mode=row.mode,
        status=row.status.value,
        prompt=row.prompt,
        required=row.required,
        reason=row.reason,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        approvals=approvers,
        escalated=row.escalated,
    )
