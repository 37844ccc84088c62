"""The silences Medic creates: expired when their incident resolves, and watched, since a
silence mutes the resolved notification too.

While Medic holds a silence in force on an incident, :class:`SilenceWatch` asks Alertmanager
(``GET /api/v2/alerts``, silenced alerts included) about the incident's firing alerts the
silence covers; one Alertmanager no longer lists (or lists with ``endsAt`` passed) has
resolved, and is journaled as a resolved alert through the same path as a resolved webhook,
so the incident resolves by the normal rules. The same task expires, every round, what Medic
still holds for resolved incidents (a resolution also triggers that at once: the
``on_resolved`` hook).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog

from bot.actions.hooks import HeldSilence, HookContext, IncidentDesk, Service
from bot.errors import MedicError
from bot.models import Alert, AlertStatus
from bot.tasks import BackgroundService
from responders.alertmanager.client import AlertmanagerClient
from responders.alertmanager.models import Matcher, parse_matcher
from responders.alertmanager.wire import GettableAlert

log = structlog.get_logger(__name__)

RESOLVED_REASON = "the incident resolved"
SILENCE_POLL_S = 30.0
"""How often a running Medic asks Alertmanager about the alerts its silences mute."""
SILENCE_POLL = "alertmanager.silence_poll_s"
"""The ``HookContext.tuning`` knob that overrides :data:`SILENCE_POLL_S` (tests)."""

Submit = Callable[[list[Alert]], Awaitable[object]]


def _client(context: HookContext) -> AlertmanagerClient | None:
    client = context.client
    return client if isinstance(client, AlertmanagerClient) else None


async def expire_after_resolution(context: HookContext, incident_seq: int, _actor: str) -> None:
    """The ``on_resolved`` hook: expire what Medic holds for the incident (a failure is
    logged; the watch tries again every round)."""
    client = _client(context)
    if client is not None:
        await expire_held(context.desk, client, incident_seq)


async def expire_held(
    desk: IncidentDesk, client: AlertmanagerClient, incident_seq: int | None = None
) -> int:
    """Expire every silence Medic still holds for a resolved incident (only ``incident_seq``
    unless None); return how many. A failure is logged and left for the next round."""
    expired = 0
    for silence in await desk.silences_of_resolved():
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


def silence_services(context: HookContext) -> Sequence[Service]:
    """The watch of a running Medic (none without ``alertmanager.url``)."""
    client = _client(context)
    if client is None:
        return []
    interval_s = context.tuning.get(SILENCE_POLL, SILENCE_POLL_S)
    return [SilenceWatch(context.desk, client, context.submit, interval_s)]


class SilenceWatch(BackgroundService):
    """One task: every ``interval_s`` (the first round at once), expire what resolved
    incidents still hold, then learn the resolutions the silences in force hide."""

    task_name = "silence-watch"

    def __init__(
        self, desk: IncidentDesk, client: AlertmanagerClient, submit: Submit, interval_s: float
    ) -> None:
        super().__init__()
        self._desk = desk
        self._client = client
        self._submit = submit
        self._interval_s = interval_s

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except MedicError as err:  # Alertmanager or the store: tried again next round
                log.warning("silence.poll_failed", error=str(err) or type(err).__name__)
            except Exception:  # the watch outlives a failing round
                log.exception("silence.poll_crashed")
            await asyncio.sleep(self._interval_s)

    async def poll_once(self) -> list[Alert]:
        """One round; returns the resolved alerts it journaled."""
        await expire_held(self._desk, self._client)
        now = self._desk.now()
        held = await self._desk.silences_in_force()
        firing = await self._desk.firing_alerts(sorted({s.incident_seq for s in held}))
        resolved: dict[tuple[int, str], Alert] = {}
        for silence in held:
            for alert in await self._gone(silence, firing.get(silence.incident_seq, []), now):
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
        self, silence: HeldSilence, firing: Sequence[Alert], now: datetime
    ) -> list[Alert]:
        """The firing alerts ``silence`` covers that Alertmanager no longer holds, resolved."""
        matchers = _matchers(silence)
        covered = [a for a in firing if all(m.matches(a.labels) for m in matchers)]
        if not covered:
            return []
        listed = {a.fingerprint: a for a in await self._client.alerts(matchers)}
        gone: list[Alert] = []
        for alert in covered:
            ended = _ended(listed.get(alert.fingerprint), now)
            if ended is not None:
                gone.append(
                    alert.model_copy(update={"status": AlertStatus.RESOLVED, "ends_at": ended})
                )
        return gone


def _matchers(silence: HeldSilence) -> list[Matcher]:
    return [parse_matcher(text) for text in silence.matchers]


def _ended(listed: GettableAlert | None, now: datetime) -> datetime | None:
    """When an alert ended: now if Alertmanager no longer lists it, its ``endsAt`` if that
    passed, None while it still fires."""
    if listed is None:
        return now
    if listed.ends_at is not None and listed.ends_at <= now:
        return listed.ends_at
    return None
