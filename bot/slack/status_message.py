"""Each incident channel's pinned status message: what it shows, and when it is edited."""

from __future__ import annotations

import time

from bot.config import Settings
from bot.engine.safety.pause import PauseSwitch
from bot.models import StepStatus
from bot.playbooks.playbook import PlaybookSet
from bot.slack.names import topic
from bot.slack.render import StatusView, digest, stable_digest, status_message
from bot.store import Database
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store import slack as slack_store
from bot.store.runs import TERMINAL_RUN, TERMINAL_STEP
from bot.store.slack import ChannelRow, IncidentHeader
from responders.slack.client import SlackClient

_ACTIVE_STEP = (StepStatus.RUNNING, StepStatus.WAITING_APPROVAL)

RenderedStatus = tuple[str, list[dict[str, object]], str]
"""The status message's text, its blocks, and the digest of its parts that edit at once."""


class StatusMessage:
    """Renders status messages and edits them, minding Slack's edit budget."""

    def __init__(
        self,
        *,
        db: Database,
        client: SlackClient,
        settings: Settings,
        playbooks: PlaybookSet,
        pause: PauseSwitch,
        quiet_s: float,
    ) -> None:
        self._db = db
        self._client = client
        self._settings = settings
        self._playbooks = playbooks
        self._pause = pause
        self._quiet_s = quiet_s
        self._shown: dict[int, tuple[str, float]] = {}
        self.due: set[int] = set()
        """Incidents whose status message waits for its quiet time to pass."""

    def shown(self, seq: int, stable: str) -> None:
        """The status message with ``stable`` parts is in Slack now."""
        self._shown[seq] = (stable, time.monotonic())

    async def refresh(self, header: IncidentHeader, channel: ChannelRow) -> None:
        """Edit the status message when it changed: at once for a change of status, step,
        severity or links; changes of only the alert count or the time of the last update
        wait until ``quiet_s`` after the previous edit (Slack allows ~50 edits a minute per
        workspace)."""
        seq = header.seq
        text, blocks, stable = await self.render(header)
        shown = digest(blocks, text)
        wanted_topic = topic(header.severity, header.title, header.status)
        if wanted_topic != channel.topic:
            await self._client.set_topic(channel.channel_id, wanted_topic)
        edit = False
        if shown != channel.status_digest:
            last_stable, last_at = self._shown.get(seq, ("", 0.0))
            quiet = time.monotonic() - last_at >= self._quiet_s
            edit = stable != last_stable or quiet
            if edit:
                await self._client.update(
                    channel.channel_id, channel.status_ts, text, blocks=blocks
                )
                self.shown(seq, stable)
                self.due.discard(seq)
            else:
                self.due.add(seq)
        if edit or wanted_topic != channel.topic:
            async with self._db.begin() as conn:
                await slack_store.save_status(
                    conn, seq, digest=shown if edit else channel.status_digest, topic=wanted_topic
                )

    async def render(self, header: IncidentHeader) -> RenderedStatus:
        """The incident's status message as it should read now."""
        async with self._db.connect() as conn:
            runs = await run_store.runs_of_incident(conn, header.seq)
            alert_count = await incident_store.alert_count(conn, header.seq)
            last_at = await slack_store.last_event_at(conn, header.seq)
            run = next((r for r in reversed(runs) if r.status not in TERMINAL_RUN), None) or (
                runs[-1] if runs else None
            )
            steps = await run_store.steps_of_run(conn, run.seq) if run is not None else {}
        playbook = self._playbooks.get(run.playbook) if run is not None else None
        current = next(
            (f"{s.step_id} ({s.status})" for s in steps.values() if s.status in _ACTIVE_STEP),
            None,
        )
        done = sum(1 for s in steps.values() if s.status in TERMINAL_STEP)
        public = self._settings.server.public_url
        am_url = self._settings.alertmanager.url
        view = StatusView(
            incident_id=f"INC-{header.seq}",
            title=header.title,
            severity=header.severity,
            status=header.status,
            commander=header.commander,
            alert_count=alert_count,
            last_update=max(header.updated_at, last_at or header.updated_at),
            playbook=None if run is None else f"{run.playbook} ({run.status})",
            current_step=current,
            progress=None if playbook is None else (done, len(playbook.spec.steps)),
            generator_url=header.generator_url,
            alertmanager_url=f"{am_url.rstrip('/')}/#/alerts" if am_url else None,
            pagerduty_url=(
                f"https://app.pagerduty.com/incidents/{header.pagerduty_incident_id}"
                if header.pagerduty_incident_id
                else None
            ),
            api_url=f"{public.rstrip('/')}/api/incidents/INC-{header.seq}" if public else None,
            paused=self._pause.paused,
        )
        text, blocks = status_message(view)
        return text, list(blocks), stable_digest(view)
