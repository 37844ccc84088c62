"""The Alertmanager silences Medic creates: remembered, expired when their incident resolves,
and watched, since a silence mutes the resolved notification too.

While Medic holds a silence in force on an incident, :class:`SilenceWatch` asks Alertmanager
(``GET /api/v2/alerts``, silenced alerts included) about the incident's firing alerts the
silence covers; one Alertmanager no longer lists (or lists with ``endsAt`` passed) has
resolved, and is journaled as a resolved alert through the same path as a resolved webhook,
so the incident resolves by the normal rules. The same task expires, every round, what Medic
still holds for resolved incidents (a resolution also triggers that at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiohttp
import structlog

from bot.clock import Clock
from bot.config import Settings
from bot.engine.deps import EngineDeps
from bot.engine.intake import MEDIC, IntakeResult
from bot.errors import MedicError
from bot.models import Alert, AlertStatus, parse_incident_id
from bot.store import Database, is_transient
from bot.store import silences as silence_store
from bot.store.audit import record_event
from bot.tasks import cancel_all
from responders.alertmanager.client import AlertmanagerClient
from responders.alertmanager.const import SYSTEM
from responders.alertmanager.ledger import SilenceRecord
from responders.alertmanager.models import Matcher, parse_matcher
from responders.alertmanager.wire import GettableAlert

log = structlog.get_logger(__name__)

RESOLVED_REASON = "the incident resolved"
SILENCE_POLL_S = 30.0
"""How often a running Medic asks Alertmanager about the alerts its silences mute."""

Submit = Callable[[list[Alert]], Awaitable[object]]


class StoreSilenceLedger:
    """Keeps the silences of the shared Alertmanager client in the store (SilenceLedger)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def created(self, record: SilenceRecord) -> None:
        """Remember the silence for its incident."""
        incident_seq = parse_incident_id(record.incident_id)
        if incident_seq is None:
            log.warning("silence.unowned", silence=record.silence_id, incident=record.incident_id)
            return
        run = record.run_id.removeprefix("RUN-")
        async with self._db.begin() as conn:
            await silence_store.insert_silence(
                conn,
                silence_store.SilenceRow(
                    id=record.silence_id,
                    incident_seq=incident_seq,
                    run_seq=int(run) if run.isdigit() else None,
                    step_id=record.step_id,
                    matchers=list(record.matchers),
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                ),
            )

    async def expired(self, silence_id: str, reason: str) -> None:
        """Mark the silence expired and say so on its incident's timeline (once)."""
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = await silence_store.mark_expired(conn, silence_id, now)
            if row is None:
                return
            await record_event(
                conn,
                at=now,
                actor=MEDIC,
                kind="silence.expired",
                incident_seq=row.incident_seq,
                text=(
                    f"Silence {row.id} ({', '.join(row.matchers)}) expired in Alertmanager: "
                    f"{reason}"
                ),
                detail={
                    "silence_id": row.id,
                    "matchers": row.matchers,
                    "run": row.run_seq,
                    "step": row.step_id,
                },
            )


def alertmanager_clients(
    settings: Settings, http: aiohttp.ClientSession, db: Database, clock: Clock
) -> dict[str, object]:
    """``{"alertmanager": client}`` when ``alertmanager.url`` is set: the shared client,
    on Medic's session, remembering its silences in ``db``."""
    if settings.alertmanager.url is None:
        return {}
    ledger = StoreSilenceLedger(db, clock)
    return {SYSTEM: AlertmanagerClient(http, settings.alertmanager.url, ledger=ledger)}


def client_of(deps: EngineDeps) -> AlertmanagerClient | None:
    """The shared Alertmanager client when ``alertmanager.url`` is set."""
    client = deps.clients.get(SYSTEM)
    return client if isinstance(client, AlertmanagerClient) else None


def expire_after_resolution(deps: EngineDeps, result: IntakeResult) -> None:
    """Expire (in the background) the silences of every incident ``result`` resolved."""
    client = client_of(deps)
    if client is None:
        return
    for incident_seq, _actor in result.resolved:
        deps.background.spawn(
            _expire_quietly(deps.db, client, incident_seq), name=f"silences-expire-{incident_seq}"
        )


async def _expire_quietly(db: Database, client: AlertmanagerClient, incident_seq: int) -> None:
    """``expire_held`` for one incident; a store outage is logged (the watch tries again)."""
    try:
        await expire_held(db, client, incident_seq)
    except Exception as err:
        if not is_transient(err):
            raise
        log.warning("silence.expire_deferred", incident=incident_seq, error=type(err).__name__)


async def expire_held(
    db: Database, client: AlertmanagerClient, incident_seq: int | None = None
) -> int:
    """Expire every silence Medic still holds for a resolved incident (only ``incident_seq``
    unless None); return how many. A failure is logged and left for the next round."""
    async with db.connect() as conn:
        held = await silence_store.held_for_resolved(conn)
    expired = 0
    for silence in held:
        if incident_seq is not None and silence.incident_seq != incident_seq:
            continue
        try:
            known = await client.expire_silence(silence.id)
            reason = (
                RESOLVED_REASON if known else f"{RESOLVED_REASON} (Alertmanager no longer knew it)"
            )
            await client.ledger.expired(silence.id, reason)
        except MedicError as err:
            log.warning("silence.expire_failed", silence=silence.id, error=str(err))
            continue
        expired += 1
    return expired


class SilenceWatch:
    """One task: every ``interval_s``, expire what resolved incidents still hold, then learn
    the resolutions the silences in force hide."""

    def __init__(
        self,
        db: Database,
        client: AlertmanagerClient | None,
        submit: Submit,
        clock: Clock,
        interval_s: float,
    ) -> None:
        self._db = db
        self._client = client
        self._submit = submit
        self._clock = clock
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, deps: EngineDeps, submit: Submit, interval_s: float) -> SilenceWatch:
        """The watch of a running Medic, journaling through ``submit`` (the alert
        committer); idle without ``alertmanager.url``."""
        return cls(deps.db, client_of(deps), submit, deps.clock, interval_s)

    async def start(self) -> None:
        """Start polling (the first round at once); nothing to do without a client."""
        if self._client is None:
            return
        self._task = asyncio.create_task(self._run(), name="silence-watch")

    async def stop(self) -> None:
        """Stop after (or in) the current round."""
        await cancel_all([self._task])
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as err:  # the watch outlives a failing round
                if isinstance(err, MedicError) or is_transient(err):
                    log.warning("silence.poll_failed", error=str(err) or type(err).__name__)
                else:
                    log.exception("silence.poll_crashed")
            await asyncio.sleep(self._interval_s)

    async def poll_once(self) -> list[Alert]:
        """One round; returns the resolved alerts it journaled."""
        if self._client is None:
            return []
        await expire_held(self._db, self._client)
        now = self._clock.now()
        async with self._db.connect() as conn:
            held = await silence_store.active(conn, now)
            firing = await silence_store.firing_alerts(conn, sorted({s.incident_seq for s in held}))
        resolved: dict[tuple[int, str], Alert] = {}
        for silence in held:
            for alert in await self._gone(
                self._client, silence, firing.get(silence.incident_seq, []), now
            ):
                resolved.setdefault((silence.incident_seq, alert.fingerprint), alert)
        if held:
            log.debug("silence.polled", silences=len(held), resolved=len(resolved))
        if resolved:
            found = list(resolved.values())
            log.info(
                "silence.alerts_resolved",
                alerts=[a.fingerprint for a in found],
                incidents=sorted({seq for seq, _ in resolved}),
            )
            await self._submit(found)
        return list(resolved.values())

    async def _gone(
        self,
        client: AlertmanagerClient,
        silence: silence_store.SilenceRow,
        firing: Sequence[Alert],
        now: datetime,
    ) -> list[Alert]:
        """The firing alerts ``silence`` covers that Alertmanager no longer holds, resolved."""
        matchers = _matchers(silence)
        covered = [a for a in firing if all(m.matches(a.labels) for m in matchers)]
        if not covered:
            return []
        listed = {a.fingerprint: a for a in await client.alerts(matchers)}
        gone: list[Alert] = []
        for alert in covered:
            ended = _ended(listed.get(alert.fingerprint), now)
            if ended is not None:
                gone.append(
                    alert.model_copy(update={"status": AlertStatus.RESOLVED, "ends_at": ended})
                )
        return gone


def _matchers(silence: silence_store.SilenceRow) -> list[Matcher]:
    return [parse_matcher(text) for text in silence.matchers]


def _ended(listed: GettableAlert | None, now: datetime) -> datetime | None:
    """When an alert ended: now if Alertmanager no longer lists it, its ``endsAt`` if that
    passed, None while it still fires."""
    if listed is None:
        return now
    if listed.ends_at is not None and listed.ends_at <= now:
        return listed.ends_at
    return None
