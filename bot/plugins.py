"""The public API for integration authors: everything a package needs to add actions.

A package declares one :class:`Integration` (its config section's model, its actions, its
client lifecycle, its routes) and names it in the ``medic.integrations`` entry-point group;
installing the package is all it takes. Nothing else in ``bot`` is a stable API.
"""

from bot.actions.contract import (
    ActionKind,
    ActionOutput,
    ActionParams,
    StepContext,
    StepResult,
)
from bot.actions.integration import ENTRY_POINT_GROUP, ClientSetup, Integration, Route
from bot.actions.registry import action
from bot.errors import PermanentError, RetryableError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionKind",
    "ActionOutput",
    "ActionParams",
    "ClientSetup",
    "Integration",
    "PermanentError",
    "RetryableError",
    "Route",
    "StepContext",
    "StepResult",
    "action",
]
