"""The action registry: each action declares its params model in its signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, get_type_hints

from bot.actions.contract import (
    ActionFunction,
    ActionKind,
    ActionParams,
    ActionSpec,
    DryRunDescriber,
)

F = TypeVar("F", bound=ActionFunction)

_DECLARED: list[ActionSpec] = []


def action(
    name: str,
    *,
    kind: ActionKind,
    integration: str | None = None,
    describe: DryRunDescriber | None = None,
) -> Callable[[F], F]:
    """Declare ``async def fn(ctx: StepContext, params: SomeParams) -> StepResult`` as ``name``.

    The params model is read from the second parameter's annotation.
    """

    def register(fn: F) -> F:
        hints = get_type_hints(fn)
        names = list(inspect.signature(fn).parameters)
        if len(names) != 2:
            raise TypeError(f"action {name}: expected (ctx, params), got {names}")
        params = hints.get(names[1])
        if not (isinstance(params, type) and issubclass(params, ActionParams)):
            raise TypeError(f"action {name}: params must be annotated with an ActionParams model")
        _DECLARED.append(ActionSpec(name, kind, params, fn, integration, describe))
        return fn

    return register


class ActionRegistry:
    """Actions by name, built from the modules that declare them."""

    def __init__(self, specs: list[ActionSpec]) -> None:
        self._specs: dict[str, ActionSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"action {spec.name} declared twice")
            self._specs[spec.name] = spec

    @classmethod
    def default(cls) -> ActionRegistry:
        """Every action Medic ships (importing the modules declares them)."""
        import bot.engine.builtin_actions  # noqa: F401, PLC0415 -- registers by import
        import responders.installed  # noqa: F401, PLC0415 -- registers by import

        return cls(list(_DECLARED))

    def get(self, name: str) -> ActionSpec | None:
        """The action called ``name``."""
        return self._specs.get(name)

    def names(self) -> list[str]:
        """Sorted action names."""
        return sorted(self._specs)

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: Any) -> bool:
        return name in self._specs
