"""The public API for integration authors: everything a package needs to add actions.

A package declares one :class:`Integration` (its config section's model, a
:class:`ConfigSection`; its actions, its
client lifecycle, its webhook routes, hooks and background services) and names it in the
``medic.integrations`` entry-point group; installing the package is all it takes. Its
webhook handlers journal events through :func:`inbox_of`; its ``inbound`` hook maps them onto
incidents through an :class:`IntakeDesk`; its other hooks and services get a
:class:`HookContext` (its client and an :class:`IncidentDesk`). Nothing else in ``bot`` is a
stable API.
"""

from bot.actions.contract import (
    ActionKind,
    ActionOutput,
    ActionParams,
    StepContext,
    StepResult,
)
from bot.actions.hooks import (
    HeldSilence,
    HookContext,
    InboundEvent,
    Inbox,
    IncidentDesk,
    IncidentRef,
    IntakeDesk,
    Service,
    inbox_of,
)
from bot.actions.integration import ENTRY_POINT_GROUP, ClientSetup, Integration, Route
from bot.actions.registry import action
from bot.config.models import Section as ConfigSection
from bot.errors import PermanentError, RetryableError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionKind",
    "ActionOutput",
    "ActionParams",
    "ClientSetup",
    "ConfigSection",
    "HeldSilence",
    "HookContext",
    "InboundEvent",
    "Inbox",
    "IncidentDesk",
    "IncidentRef",
    "IntakeDesk",
    "Integration",
    "PermanentError",
    "RetryableError",
    "Route",
    "Service",
    "StepContext",
    "StepResult",
    "action",
    "inbox_of",
]
