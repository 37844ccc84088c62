"""Deliver each incident's narration to Slack: its channel, pinned status message, timeline
thread and approval messages.

The audit trail is the durable outbox: every change Medic commits writes an audit event in
the same transaction, and each incident's channel row keeps a cursor (the last event shown in
its thread). Delivery reads past the cursor, posts, then advances it, so a Slack outage or a
restart loses nothing (a crash between a post and its cursor commit may repeat that one
message). Remediation never waits on this: it runs in its own tasks, woken by narration and
by a periodic sweep, with backoff per incident while Slack fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.config import Settings
from bot.engine.pause import PauseSwitch
from bot.errors import MedicError, PermanentError
from bot.models import ApprovalStatus, IncidentStatus, StepStatus, parse_incident_id
from bot.playbooks.playbook import PlaybookSet
from bot.slack.attachments import Attachments
from bot.slack.directory import GROUP_CACHE_S
from bot.slack.ledger import SentLedger
from bot.slack.names import channel_name, topic
from bot.slack.render import (
    ApprovalView,
    Burst,
    Evidence,
    StatusView,
    approval_message,
    digest,
    plan_burst,
    stable_digest,
    status_message,
    timeline_message,
)
from bot.store import STORE_ERRORS, Database
from bot.store import incidents as incident_store
from bot.store import runs as run_store
from bot.store import slack as slack_store
from bot.store.runs import TERMINAL_RUN, TERMINAL_STEP
from bot.store.slack import ChannelRow, IncidentHeader, TimelineEvent
from bot.tasks import cancel_all
from responders.slack.client import SlackClient
from responders.slack.const import POST_INTERVAL_S, TIMEOUT_S

log = structlog.get_logger(__name__)

GIVE_UP_AFTER = 5
"""Refusals in a row after which a resolved incident's narration is abandoned."""

_ACTIVE_STEP = (StepStatus.RUNNING, StepStatus.WAITING_APPROVAL)


@dataclass(frozen=True, slots=True)
class SlackTiming:
    """How often Slack delivery looks for work and how it backs off while Slack fails."""

    sweep_s: float = 1.0
    retry_min_s: float = 1.0
    retry_max_s: float = 30.0
    parallel: int = 8
    post_interval_s: float = POST_INTERVAL_S
    group_cache_s: float = GROUP_CACHE_S
    call_timeout_s: float = TIMEOUT_S
    stop_grace_s: float = 5.0
    settle_s: float = 5.0
    status_quiet_s: float = 10.0


class SlackSync:
    """One per process: ``start()``, ``poke(incident)`` after commits, ``stop()``."""

    def __init__(
        self,
        *,
        db: Database,
        client: SlackClient,
        settings: Settings,
        playbooks: PlaybookSet,
        pause: PauseSwitch,
        clock: Clock,
        attachments: Attachments,
        timing: SlackTiming | None = None,
        narrates: Callable[[str], Awaitable[bool]] | None = None,
        recheck_s: float = 5.0,
    ) -> None:
        # Replicas: an incident's channel is narrated by the replica holding its lease
        # (``narrates``); every ``recheck_s`` the others look for channels left behind.
        self._narrates = narrates
        self._recheck_s = recheck_s
        self._rechecked = time.monotonic()
        self._attachments = attachments
        self._db = db
        self._client = client
        self._settings = settings
        self._playbooks = playbooks
        self._pause = pause
        self._clock = clock
        self._timing = timing or SlackTiming()
        self._dirty: set[int] = set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}
        self.failed_deliveries = 0
        """Failed deliveries since start (medic_delivery_failures_total{target="slack"})."""
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(self._timing.parallel)
        self._task: asyncio.Task[None] | None = None
        self._last_top = -1
        self._incident_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ledger = SentLedger(self._timing.settle_s)
        self._shown: dict[int, tuple[str, float]] = {}
        self._status_due: set[int] = set()
        client.channel_of_incident = self.channel_of

    async def channel_of(self, incident_id: str) -> str:
        """The incident's channel id, opening the channel now if it has none yet (so an
        action can link to it)."""
        seq = parse_incident_id(incident_id)
        if seq is None:
            raise PermanentError(f"no incident {incident_id!r}")
        async with self._incident_locks[seq]:
            async with self._db.connect() as conn:
                channel = await slack_store.channel_of(conn, seq)
                header = await slack_store.incident_header(conn, seq)
            if channel is not None:
                return channel.channel_id
            if header is None:
                raise PermanentError(f"no incident {incident_id}")
            opened = await self._open_channel(header)
        self.poke(seq)
        return opened.channel_id

    async def approval_shown(self, approval_seq: int) -> bool:
        """Whether the approval's message is in Slack (a veto nobody saw must not pass).
        A delivery of the incident in flight is waited for first: its post may be the one
        asking for this approval."""
        try:
            async with self._db.connect() as conn:
                incident = await slack_store.incident_of_approval(conn, approval_seq)
            if incident is None:
                return True
            async with self._incident_locks[incident], self._db.connect() as conn:
                return await slack_store.approval_asked(conn, approval_seq)
        except STORE_ERRORS:
            return True  # unknown: keep the engine's ordinary rule

    def poke(self, incident_seq: int) -> None:
        """Something was committed for this incident: deliver it soon."""
        self._dirty.add(incident_seq)
        self._wake.set()

    async def start(self) -> None:
        """Start the sweeper (it also catches up on what a restart left undelivered)."""
        self._task = asyncio.create_task(self._sweep_forever(), name="slack-sync")

    async def stop(self) -> None:
        """Stop sweeping; deliveries in flight get a moment to post and commit what they
        posted (so a restart neither loses nor repeats a message), then are cancelled."""
        await cancel_all([self._task])
        self._task = None
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=self._timing.stop_grace_s)
        await cancel_all(running)

    async def _sweep_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timing.sweep_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._find_behind()
            except Exception:  # the sweeper must outlive any failure, or Slack goes silent
                log.warning("slack.sweep_failed", exc_info=True)
                continue
            self._dirty.update(self._ledger.settling())
            self._dirty.update(self._status_due)
            self._dispatch()

    async def _find_behind(self) -> None:
        if time.monotonic() - self._rechecked >= self._recheck_s:
            self._rechecked, self._last_top = time.monotonic(), -1  # a narrator may be gone
        async with self._db.connect() as conn:
            top = await slack_store.newest_event_seq(conn)
            if top == self._last_top:
                return
            behind = await slack_store.incidents_behind(conn)
        self._dirty.update(behind)
        self._last_top = top

    def _dispatch(self) -> None:
        now = time.monotonic()
        for seq in sorted(self._dirty):
            if seq in self._running or self._retry_at.get(seq, 0.0) > now:
                continue
            self._dirty.discard(seq)
            self._running[seq] = asyncio.create_task(self._deliver(seq), name=f"slack-INC-{seq}")

    async def _deliver(self, seq: int) -> None:
        try:
            if self._narrates is not None and not await self._narrates(f"slack:{seq}"):
                return  # another live replica narrates this channel
            async with self._limit:
                more = await self._sync(seq)
        except PermanentError as err:
            await self._refused(seq, err)
        except Exception as err:
            if not isinstance(err, (MedicError, *STORE_ERRORS)):
                log.exception("slack.delivery_crashed", incident=f"INC-{seq}")
            self._back_off(seq, err)
        else:
            self._failures.pop(seq, None)
            self._retry_at.pop(seq, None)
            if more:
                self._dirty.add(seq)
        finally:
            self._running.pop(seq, None)
            if seq in self._dirty:
                self._wake.set()

    async def _refused(self, seq: int, err: PermanentError) -> None:
        """Slack refused for good (an archived or deleted channel, a deleted message). A
        resolved incident's narration is given up after ``GIVE_UP_AFTER`` such refusals in a
        row (logged once, loudly), so it does not retry for ever; an open incident keeps
        retrying at the slowest pace."""
        self._back_off(seq, err)
        if self._failures.get(seq, 0) < GIVE_UP_AFTER:
            return
        try:
            async with self._db.begin() as conn:
                header = await slack_store.incident_header(conn, seq)
                if header is None or header.status != IncidentStatus.RESOLVED.value:
                    return
                await slack_store.give_up(conn, seq)
        except STORE_ERRORS:
            return
        self._dirty.discard(seq)
        self._failures.pop(seq, None)
        self._retry_at.pop(seq, None)
        self._ledger.forget_through(seq, sys.maxsize)
        self._status_due.discard(seq)
        log.error("slack.narration_given_up", incident=f"INC-{seq}", error=str(err))

    def _back_off(self, seq: int, err: BaseException) -> None:
        self.failed_deliveries += 1
        failures = self._failures.get(seq, 0) + 1
        self._failures[seq] = failures
        delay = min(self._timing.retry_max_s, self._timing.retry_min_s * 2 ** (failures - 1))
        self._retry_at[seq] = time.monotonic() + delay
        self._dirty.add(seq)
        log.warning(
            "slack.delivery_failed",
            incident=f"INC-{seq}",
            error=str(err) or type(err).__name__,
            retry_in_s=round(delay, 2),
        )

    async def _sync(self, seq: int) -> bool:
        """Bring one incident's Slack up to date; True when more is left for a next round."""
        async with self._incident_locks[seq]:
            return await self._sync_locked(seq)

    async def _sync_locked(self, seq: int) -> bool:
        async with self._db.connect() as conn:
            header = await slack_store.incident_header(conn, seq)
            channel = await slack_store.channel_of(conn, seq)
        if header is None:
            return False
        if channel is None:
            channel = await self._open_channel(header)
        if not channel.status_ts:
            channel = await self._post_status(header, channel)
        if not channel.pinned:
            channel = await self._pin_status(channel)
        channel = await self._post_timeline(channel)
        await self._sync_approvals(header, channel)
        await self._refresh_status(header, channel)
        if not channel.graph_done:
            await self._attachments.graph(channel)
        if header.status == IncidentStatus.RESOLVED.value and not channel.report_done:
            await self._attachments.report(channel)
        return bool(await self._pending(channel))

    async def _open_channel(self, header: IncidentHeader) -> ChannelRow:
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

    async def _post_status(self, header: IncidentHeader, channel: ChannelRow) -> ChannelRow:
        """Invite people, set the topic, post the status message and remember it at once
        (each step repeatable, so a Slack failure half-way resumes here without a second
        status message); pinning follows as its own step."""
        failed = await self._client.invite(channel.channel_id, await self._invitees(header))
        if failed:
            log.warning("slack.invite_failed", channel=channel.channel_id, users=failed)
        wanted_topic = topic(header.severity, header.title, header.status)
        await self._client.set_topic(channel.channel_id, wanted_topic)
        text, blocks, stable = await self._status(header)
        ts = await self._client.post(channel.channel_id, text, blocks=blocks)
        status_digest = digest(blocks, text)
        async with self._db.begin() as conn:
            await slack_store.save_status(
                conn, header.seq, digest=status_digest, topic=wanted_topic, status_ts=ts
            )
        self._shown[header.seq] = (stable, time.monotonic())
        return replace(channel, status_ts=ts, status_digest=status_digest, topic=wanted_topic)

    async def _pin_status(self, channel: ChannelRow) -> ChannelRow:
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

    async def _post_timeline(self, channel: ChannelRow) -> ChannelRow:
        """One thread reply with the visible events not posted yet (alert changes past a few
        only counted; other events past the line limit wait for the next reply), then move
        the durable cursor over what has settled (see ledger.py)."""
        seq = channel.incident_seq
        if await self._pending(channel):
            async with self._client.turn(channel.channel_id):
                pending = await self._pending(channel)
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

    async def _pending(self, channel: ChannelRow) -> list[tuple[int, str]]:
        """Visible events past the cursor not posted yet, with their kinds."""
        async with self._db.connect() as conn:
            found = await slack_store.event_kinds_after(
                conn, channel.incident_seq, channel.timeline_seq
            )
        unsent = set(self._ledger.unsent(channel.incident_seq, (n for n, _ in found)))
        return [(n, kind) for n, kind in found if n in unsent]

    async def _sync_approvals(self, header: IncidentHeader, channel: ChannelRow) -> None:
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

    async def _refresh_status(self, header: IncidentHeader, channel: ChannelRow) -> None:
        """Edit the status message when it changed: at once for a change of status, step,
        severity or links; changes of only the alert count or the time of the last update
        wait until ``STATUS_QUIET_S`` after the previous edit (Slack allows ~50 edits a
        minute per workspace)."""
        seq = header.seq
        text, blocks, stable = await self._status(header)
        shown = digest(blocks, text)
        wanted_topic = topic(header.severity, header.title, header.status)
        if wanted_topic != channel.topic:
            await self._client.set_topic(channel.channel_id, wanted_topic)
        edit = False
        if shown != channel.status_digest:
            last_stable, last_at = self._shown.get(seq, ("", 0.0))
            quiet = time.monotonic() - last_at >= self._timing.status_quiet_s
            edit = stable != last_stable or quiet
            if edit:
                await self._client.update(
                    channel.channel_id, channel.status_ts, text, blocks=blocks
                )
                self._shown[seq] = (stable, time.monotonic())
                self._status_due.discard(seq)
            else:
                self._status_due.add(seq)
        if edit or wanted_topic != channel.topic:
            async with self._db.begin() as conn:
                await slack_store.save_status(
                    conn, seq, digest=shown if edit else channel.status_digest, topic=wanted_topic
                )

    async def _status(self, header: IncidentHeader) -> tuple[str, list[dict[str, object]], str]:
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

    def _more_at(self, seq: int) -> str:
        public = self._settings.server.public_url
        path = f"/api/incidents/INC-{seq}"
        return f"{public.rstrip('/')}{path}" if public else f"GET {path}"


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
