"""Deliver each incident's narration to Slack: its channel, pinned status message, timeline
thread and approval messages.

The audit trail is the durable outbox: every change Medic commits writes an audit event in
the same transaction, and each incident's channel row keeps a cursor (the last event shown in
its thread). Delivery reads past the cursor, posts, then advances it, so a Slack outage or a
restart loses nothing (a crash between a post and its cursor commit may repeat that one
message). Remediation never waits on this: it runs in its own tasks, woken by narration and
by a periodic sweep, with backoff per incident while Slack fails.

This module schedules the deliveries; one incident's round goes through its parts in order:
:mod:`~bot.slack.channel_setup`, :mod:`~bot.slack.timeline_thread`,
:mod:`~bot.slack.approval_messages`, :mod:`~bot.slack.status_message` and
:mod:`~bot.slack.attachments`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from bot.clock import Clock
from bot.config import Settings
from bot.engine.safety.pause import PauseSwitch
from bot.errors import MedicError, PermanentError, StoreError
from bot.models import IncidentStatus, parse_incident_id
from bot.playbooks.playbook import PlaybookSet
from bot.slack.approval_messages import ApprovalMessages
from bot.slack.attachments import Attachments
from bot.slack.channel_setup import ChannelSetup
from bot.slack.directory import GROUP_CACHE_S
from bot.slack.retry import DeliveryBackoff
from bot.slack.status_message import StatusMessage
from bot.slack.timeline_thread import TimelineThread
from bot.store import Database
from bot.store import slack as slack_store
from bot.tasks import BackgroundService, cancel_all
from responders.slack.client import SlackClient
from responders.slack.const import POST_INTERVAL_S, TIMEOUT_S

log = structlog.get_logger(__name__)

GIVE_UP_AFTER = 5
"""Refusals in a row after which a resolved incident's narration is abandoned."""


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


class SlackSync(BackgroundService):
    """One per process: ``start()`` starts the sweeper (it also catches up on what a restart
    left undelivered), ``poke(incident)`` after commits; ``stop()`` stops sweeping, and
    deliveries in flight get a moment to post and commit what they posted (so a restart
    neither loses nor repeats a message), then are cancelled."""

    task_name = "slack-sync"

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
        super().__init__()
        # Replicas: an incident's channel is narrated by the replica holding its lease
        # (``narrates``); every ``recheck_s`` the others look for channels left behind.
        self._narrates = narrates
        self._recheck_s = recheck_s
        self._rechecked = time.monotonic()
        self._attachments = attachments
        self._db = db
        self._timing = timing or SlackTiming()
        self._dirty: set[int] = set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._backoff = DeliveryBackoff(self._timing.retry_min_s, self._timing.retry_max_s)
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(self._timing.parallel)
        self._last_top = -1
        self._incident_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._status = StatusMessage(
            db=db,
            client=client,
            settings=settings,
            playbooks=playbooks,
            pause=pause,
            quiet_s=self._timing.status_quiet_s,
        )
        self._setup = ChannelSetup(
            db=db, client=client, settings=settings, clock=clock, status=self._status
        )
        self._timeline = TimelineThread(
            db=db, client=client, settings=settings, settle_s=self._timing.settle_s
        )
        self._approvals = ApprovalMessages(db=db, client=client)

    @property
    def failed_deliveries(self) -> int:
        """Failed deliveries since start (medic_delivery_failures_total{target="slack"})."""
        return self._backoff.failed_deliveries

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
            opened = await self._setup.open_channel(header)
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
        except StoreError:
            return True  # unknown: keep the engine's ordinary rule

    def poke(self, incident_seq: int) -> None:
        """Something was committed for this incident: deliver it soon."""
        self._dirty.add(incident_seq)
        self._wake.set()

    async def _close(self) -> None:
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=self._timing.stop_grace_s)
        await cancel_all(running)

    async def _run(self) -> None:
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
            self._dirty.update(self._timeline.settling())
            self._dirty.update(self._status.due)
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
            if seq in self._running or self._backoff.waiting(seq, now):
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
            if not isinstance(err, MedicError):
                log.exception("slack.delivery_crashed", incident=f"INC-{seq}")
            self._back_off(seq, err)
        else:
            self._backoff.reset(seq)
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
        if self._backoff.failures(seq) < GIVE_UP_AFTER:
            return
        try:
            async with self._db.begin() as conn:
                header = await slack_store.incident_header(conn, seq)
                if header is None or header.status != IncidentStatus.RESOLVED.value:
                    return
                await slack_store.give_up(conn, seq)
        except StoreError:
            return
        self._dirty.discard(seq)
        self._backoff.reset(seq)
        self._timeline.forget(seq)
        self._status.due.discard(seq)
        log.error("slack.narration_given_up", incident=f"INC-{seq}", error=str(err))

    def _back_off(self, seq: int, err: BaseException) -> None:
        delay = self._backoff.failed(seq)
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
            channel = await self._setup.open_channel(header)
        if not channel.status_ts:
            channel = await self._setup.post_status(header, channel)
        if not channel.pinned:
            channel = await self._setup.pin_status(channel)
        channel = await self._timeline.post(channel)
        await self._approvals.sync(header, channel)
        await self._status.refresh(header, channel)
        if not channel.graph_done:
            await self._attachments.graph(channel)
        if header.status == IncidentStatus.RESOLVED.value and not channel.report_done:
            await self._attachments.report(channel)
        return bool(await self._timeline.pending(channel))
