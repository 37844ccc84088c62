"""What Medic offers an integration beyond its actions: a journal for its webhook's events,
a desk for incidents (timeline, links, silences, alerts), and the shapes of its hooks.

Medic implements these protocols over its store and engine; an integration only sees them,
so it never imports the engine or the store (and a third-party package can use them too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from bot.config import Settings
from bot.models import Alert, IncidentStatus


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One event an integration's webhook received, to journal before answering: ``event_id``
    (and ``delivery_id`` when the sender has one) make a repeated delivery a duplicate."""

    event_id: str
    event_type: str
    payload: Mapping[str, Any]
    delivery_id: str | None = None


class Inbox(Protocol):
    """What an integration's webhook handler gets from :func:`inbox_of`."""

    @property
    def settings(self) -> Settings:
        """The running configuration."""

    async def journal(self, source: str, event: InboundEvent) -> bool:
        """Commit ``event`` under ``source`` (the integration's name) for the engine to map
        after the answer; False when it was delivered before. Raises the 503 ``HttpError``
        when the store cannot commit."""


INBOX = web.AppKey("medic.inbox", Inbox)


def inbox_of(request: web.Request) -> Inbox:
    """The inbox of the running Medic serving ``request``."""
    return request.app[INBOX]


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """An incident as an integration sees it: its number and status."""

    seq: int
    status: IncidentStatus


class IntakeDesk(Protocol):
    """The engine's intake transaction, as an integration's inbound-event mapper uses it.
    Everything joins that transaction; changes are narrated once it commits."""

    @property
    def install(self) -> str:
        """This installation's id (part of the keys Medic sends to other systems)."""

    @property
    def now(self) -> datetime:
        """The time the batch is taken at."""

    async def linked(self, external_id: str) -> IncidentRef | None:
        """The incident linked to ``external_id`` (the other system's incident id)."""

    async def incident(self, seq: int) -> IncidentRef | None:
        """Incident ``seq``, when it exists."""

    async def open_from_alert(self, alert: Alert) -> IncidentRef | None:
        """Journal ``alert`` and take it through the normal intake (grouping, playbooks);
        the incident that holds it (None when the alert was seen before)."""

    async def link(self, seq: int, external_id: str) -> None:
        """Link incident ``seq`` to the other system's incident ``external_id``."""

    async def resolve(self, incident: IncidentRef, *, actor: str, text: str) -> None:
        """Resolve the incident by the normal rules (runs cancelled as playbooks say)."""

    async def update(
        self, incident: IncidentRef, status: IncidentStatus, *, actor: str, kind: str, text: str
    ) -> None:
        """Set its status (unchanged when equal) and say ``text`` on its timeline."""


InboundMapper = Callable[[IntakeDesk, Mapping[str, Any]], Awaitable[None]]
"""Maps one journaled event (its payload) onto incidents, inside the intake transaction."""


@dataclass(frozen=True, slots=True)
class HeldSilence:
    """A silence Medic created for a step of a run on an incident (and still remembers)."""

    id: str
    incident_seq: int
    run_seq: int | None
    step_id: str
    matchers: list[str]
    created_at: datetime
    expires_at: datetime
    expired_at: datetime | None = None


class IncidentDesk(Protocol):
    """Medic's incidents as an integration's hooks and services use them (each call is its
    own transaction)."""

    @property
    def install(self) -> str:
        """This installation's id."""

    def now(self) -> datetime:
        """The engine's clock."""

    async def record(
        self, seq: int, kind: str, text: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Say ``text`` on incident ``seq``'s timeline (audited as Medic's ``kind``)."""

    async def timeline_details(self, seq: int, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """The ``detail`` of each of the incident's timeline events of ``kinds``."""

    async def step_outputs(self, seq: int, action: str) -> list[dict[str, Any]]:
        """The outputs of the incident's real (not dry-run) steps of ``action`` that
        succeeded."""

    async def linked_id(self, seq: int) -> str | None:
        """The other system's incident id the incident is linked to."""

    async def remember_silence(self, silence: HeldSilence) -> None:
        """Remember a silence just created for incident ``silence.incident_seq``."""

    async def silence_expired(
        self, silence_id: str, describe: Callable[[HeldSilence], tuple[str, str]]
    ) -> HeldSilence | None:
        """Mark the silence expired and, in the same transaction, put ``describe(silence)``
        (a timeline kind and text) on its incident's timeline; the silence, or None when it
        was not held (or was marked before)."""

    async def silences_in_force(self) -> list[HeldSilence]:
        """Silences not expired and not yet ended, of incidents not resolved."""

    async def silences_of_resolved(self) -> list[HeldSilence]:
        """Silences still held for incidents that have resolved."""

    async def firing_alerts(self, seqs: Sequence[int]) -> dict[int, list[Alert]]:
        """The firing alerts of each incident of ``seqs``."""


@dataclass(frozen=True, slots=True)
class HookContext:
    """What an integration's hooks and services get: its own config section and open client
    (None when it has none), Medic's desk, ``submit`` to journal alerts as a webhook would
    (e.g. resolutions learned by polling), and tuning knobs a test may set, by name."""

    config: Any
    client: Any
    desk: IncidentDesk
    settings: Settings
    submit: Callable[[list[Alert]], Awaitable[object]]
    tuning: Mapping[str, float] = field(default_factory=dict)


class Service(Protocol):
    """A background service an integration runs while Medic serves (a loop in a task:
    subclass :class:`bot.tasks.BackgroundService`, as Medic's own loops do)."""

    async def start(self) -> None:
        """Start (without blocking)."""

    async def stop(self) -> None:
        """Stop and wait for it."""


ServicesFactory = Callable[[HookContext], Sequence[Service]]
IncidentHook = Callable[[HookContext, int, str], Awaitable[None]]
"""Called after an incident change committed: ``(context, incident number, actor)``."""
Pager = Callable[[HookContext, int, str], Awaitable[bool]]
"""Pages a human about incident ``seq`` for ``reason``; True when a page stands."""
