"""Each incident's timeline thread under its status message: the audit events past the
channel's durable cursor, posted in bursts, the cursor moved over what has settled (see
:mod:`bot.slack.ledger`)."""

from __future__ import annotations

import sys
from dataclasses import replace

from bot.config import Settings
from bot.slack.ledger import SentLedger
from bot.slack.render import Burst, Evidence, plan_burst, timeline_message
from bot.store import Database
from bot.store import slack as slack_store
from bot.store.runs import TERMINAL_STEP
from bot.store.slack import ChannelRow, TimelineEvent
from responders.slack.client import SlackClient


class TimelineThread:
    """Posts what the timeline thread does not show yet."""

    def __init__(
        self, *, db: Database, client: SlackClient, settings: Settings, settle_s: float
    ) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._ledger = SentLedger(settle_s)

    async def post(self, channel: ChannelRow) -> ChannelRow:
        """One thread reply with the visible events not posted yet (alert changes past a few
        only counted; other events past the line limit wait for the next reply), then move
        the durable cursor over what has settled (see ledger.py)."""
        seq = channel.incident_seq
        if await self.pending(channel):
            async with self._client.turn(channel.channel_id):
                pending = await self.pending(channel)
                listed, counted, covered = plan_burst(pending)
                async with self._db.connect() as conn:
                    events = await slack_store.events_numbered(conn, listed)
                    outputs = await slack_store.step_outputs(conn, _step_keys(events))
                burst = Burst(events=events, alerts_counted=counted)
                text = timeline_message(burst, _evidence(events, outputs), self._more_at(seq))
                await self._client.post(
                    channel.channel_id, text, thread_ts=channel.status_ts, paced=False
                )
                self._ledger.mark(seq, covered)
        settled = self._ledger.settled_through(seq)
        if settled is None or settled <= channel.timeline_seq:
            return channel
        async with self._db.begin() as conn:
            await slack_store.advance_timeline(conn, seq, settled)
        self._ledger.forget_through(seq, settled)
        return replace(channel, timeline_seq=settled)

    async def pending(self, channel: ChannelRow) -> list[tuple[int, str]]:
        """Visible events past the cursor not posted yet, with their kinds."""
        async with self._db.connect() as conn:
            found = await slack_store.event_kinds_after(
                conn, channel.incident_seq, channel.timeline_seq
            )
        unsent = set(self._ledger.unsent(channel.incident_seq, (n for n, _ in found)))
        return [(n, kind) for n, kind in found if n in unsent]

    def settling(self) -> list[int]:
        """Incidents whose cursor still has to move over posted events."""
        return self._ledger.settling()

    def forget(self, seq: int) -> None:
        """The incident's narration was given up: nothing to remember for it."""
        self._ledger.forget_through(seq, sys.maxsize)

    def _more_at(self, seq: int) -> str:
        public = self._settings.server.public_url
        path = f"/api/incidents/INC-{seq}"
        return f"{public.rstrip('/')}{path}" if public else f"GET {path}"


_FINISHED_STEP = frozenset(f"step.{status}" for status in TERMINAL_STEP)


def _step_of(event: TimelineEvent) -> tuple[int, str] | None:
    """The (run, step) a finished step's event is about."""
    run, step = event.detail.get("run"), event.detail.get("step")
    if event.kind not in _FINISHED_STEP or not isinstance(run, int) or not isinstance(step, str):
        return None
    return run, step


def _step_keys(events: list[TimelineEvent]) -> list[tuple[int, str]]:
    return [key for e in events if (key := _step_of(e)) is not None]


def _evidence(
    events: list[TimelineEvent], outputs: dict[tuple[int, str], dict[str, object]]
) -> dict[int, Evidence]:
    """Each finished step's output, shown under its line."""
    found: dict[int, Evidence] = {}
    for event in events:
        key = _step_of(event)
        if key is not None and key in outputs:
            found[event.seq] = Evidence(key[1], dict(outputs[key]))
    return found
