"""The installed integrations, found through the ``medic.integrations`` entry points, and the
action registry built from them. Only composition roots (the app, the CLI) use this module.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points

from pydantic import BaseModel

from bot.actions import ActionRegistry
from bot.actions.contract import ActionFunction
from bot.actions.integration import ENTRY_POINT_GROUP, Integration
from bot.config import Settings
from bot.engine.incidents import builtin_actions
from bot.errors import MedicError

MEDIC_DISTRIBUTION = "medic"

BUILTIN_ACTIONS: tuple[ActionFunction, ...] = (
    builtin_actions.approval,
    builtin_actions.set_severity,
    builtin_actions.escalate,
    builtin_actions.note,
    builtin_actions.resolve,
)
"""Medic's own actions (``approval``, ``incident.*``): part of the engine, not an integration."""


class IntegrationError(MedicError, RuntimeError):
    """An installed integration is broken (bad entry point, duplicate name or action): Medic
    refuses to start (``medic: <this error>``, exit 1)."""


@functools.cache
def installed_integrations() -> tuple[Integration, ...]:
    """Every integration installed in this Python environment, by name.

    Reads package metadata (blocking, once per process: composition roots call it before
    the event loop runs, or in a worker thread).
    """
    points = entry_points(group=ENTRY_POINT_GROUP)
    if not any(_distribution(point) == MEDIC_DISTRIBUTION for point in points):
        raise IntegrationError(
            f"Medic's own {ENTRY_POINT_GROUP} entry points are not installed; "
            "reinstall Medic (pip install -e . or make .venv/.dev)"
        )
    return _checked(_load(point) for point in sorted(points, key=lambda p: p.name))


@functools.cache
def medic_integrations() -> tuple[Integration, ...]:
    """The installed integrations Medic itself ships (its own distribution's entry points)."""
    own = {
        point.name
        for point in entry_points(group=ENTRY_POINT_GROUP)
        if _distribution(point) == MEDIC_DISTRIBUTION
    }
    return tuple(item for item in installed_integrations() if item.name in own)


def _distribution(point: EntryPoint) -> str | None:
    return point.dist.name if point.dist is not None else None


def _load(point: EntryPoint) -> Integration:
    try:
        loaded = point.load()
    except Exception as err:
        raise IntegrationError(f"integration {point.name} ({point.value}): {err}") from err
    if not isinstance(loaded, Integration):
        raise IntegrationError(f"integration {point.name}: {point.value} is not an Integration")
    if loaded.name != point.name:
        raise IntegrationError(
            f"integration {point.name}: its entry point must be named {loaded.name!r}"
        )
    return loaded


def _checked(integrations: Iterable[Integration]) -> tuple[Integration, ...]:
    found: dict[str, Integration] = {}
    for integration in integrations:
        if integration.name in found:
            raise IntegrationError(f"integration {integration.name} is installed twice")
        _not_a_core_section(integration)
        found[integration.name] = integration
    return tuple(found.values())


def _not_a_core_section(integration: Integration) -> None:
    """An integration named after one of Medic's own sections (``server``, ``store``…) would
    never see its section (Medic's model reads it): refused, unless its config model is that
    very section's (as for Medic's own alertmanager, prometheus, slack and kafka)."""
    core = Settings.model_fields.get(integration.name)
    if core is not None and integration.config is not core.annotation:
        raise IntegrationError(
            f"integration {integration.name}: {integration.name!r} is a section of Medic's "
            "own configuration; an integration needs a name of its own"
        )


def action_registry(integrations: Sequence[Integration] | None = None) -> ActionRegistry:
    """Medic's own actions and those of ``integrations`` (default: the installed ones)."""
    chosen = installed_integrations() if integrations is None else integrations
    functions = [*BUILTIN_ACTIONS, *(fn for item in chosen for fn in item.actions)]
    try:
        return ActionRegistry.of(functions)
    except (TypeError, ValueError) as err:
        raise IntegrationError(str(err)) from err


def config_sections(
    integrations: Sequence[Integration] | None = None,
) -> Mapping[str, type[BaseModel]]:
    """The config model of each integration's top-level section, by section name."""
    chosen = installed_integrations() if integrations is None else integrations
    return {item.name: item.config for item in chosen if item.config is not None}
