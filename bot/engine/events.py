"""Incident events moved to :mod:`bot.events` (narrators read them); kept as an alias."""

from bot.events import (
    ApprovalEvent,
    EngineEvent,
    IncidentChange,
    IncidentChangeKind,
    RunEvent,
    StepEvent,
)

__all__ = [
    "ApprovalEvent",
    "EngineEvent",
    "IncidentChange",
    "IncidentChangeKind",
    "RunEvent",
    "StepEvent",
]
