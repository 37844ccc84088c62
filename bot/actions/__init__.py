"""The action contract: typed params in, a StepResult out; a registry read from signatures."""

from bot.actions.contract import (
    ActionKind,
    ActionOutput,
    ActionParams,
    ActionSpec,
    StepContext,
    StepResult,
)
from bot.actions.registry import ActionRegistry, action

__all__ = [
    "ActionKind",
    "ActionOutput",
    "ActionParams",
    "ActionRegistry",
    "ActionSpec",
    "StepContext",
    "StepResult",
    "action",
]
