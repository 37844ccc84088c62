"""``@action`` marks a function with its contract; :class:`ActionRegistry` is built from them.

The decorator only marks: nothing is registered at import. The composition root builds the
registry from the installed integrations' action lists.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel

from bot.actions.contract import (
    ActionFunction,
    ActionKind,
    ActionParams,
    ActionSpec,
    DryRunDescriber,
)

F = TypeVar("F", bound=ActionFunction)

_MARK = "__medic_action__"


def action(
    name: str,
    *,
    kind: ActionKind,
    integration: str | None = None,
    describe: DryRunDescriber | None = None,
    output: type[BaseModel] | None = None,
    idempotent: str | None = None,
) -> Callable[[F], F]:
    """Declare ``async def fn(ctx: StepContext, params: SomeParams) -> StepResult`` as ``name``.

    The params model is read from the second parameter's annotation; ``output`` is the model
    of ``steps.<id>.output`` (checked when playbooks load); ``idempotent`` says by which key
    the other system makes a repeat harmless, when it does.
    """

    def mark(fn: F) -> F:
        hints = get_type_hints(fn)
        names = list(inspect.signature(fn).parameters)
        if len(names) != 2:
            raise TypeError(f"action {name}: expected (ctx, params), got {names}")
        params = hints.get(names[1])
        if not (isinstance(params, type) and issubclass(params, ActionParams)):
            raise TypeError(f"action {name}: params must be annotated with an ActionParams model")
        if output is not None:
            _check_defaults(name, output)
        spec = ActionSpec(name, kind, params, fn, integration, describe, output, idempotent)
        setattr(fn, _MARK, spec)
        return fn

    return mark


def _check_defaults(name: str, output: type[BaseModel]) -> None:
    """Every output field needs a default (a dry run holds the defaults)."""
    missing = [field for field, info in output.model_fields.items() if info.is_required()]
    if missing:
        raise TypeError(f"action {name}: output fields without a default: {', '.join(missing)}")


def spec_of(fn: ActionFunction) -> ActionSpec:
    """The contract ``@action`` put on ``fn``; TypeError for an unmarked function."""
    spec = getattr(fn, _MARK, None)
    if not isinstance(spec, ActionSpec):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not marked with @action")
    return spec


class ActionRegistry:
    """Actions by name."""

    def __init__(self, specs: Iterable[ActionSpec]) -> None:
        self._specs: dict[str, ActionSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"action {spec.name} declared twice")
            self._specs[spec.name] = spec

    @classmethod
    def of(cls, functions: Iterable[ActionFunction]) -> ActionRegistry:
        """The registry of ``@action`` functions."""
        return cls(spec_of(fn) for fn in functions)

    def get(self, name: str) -> ActionSpec | None:
        """The action called ``name``."""
        return self._specs.get(name)

    def names(self) -> list[str]:
        """Sorted action names."""
        return sorted(self._specs)

    def unknown(self, name: str) -> str:
        """Why ``name`` (not registered) is refused, with the closest registered name:
        ``unknown action 'kubernetes.rollbak' (did you mean 'kubernetes.rollback'?)``."""
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown action {name!r}{hint}"

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: Any) -> bool:
        return name in self._specs
