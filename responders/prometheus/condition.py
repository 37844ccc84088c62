"""Conditions on sample values (``">= 0.999"``, ``"< 0.01"``, ``"== 1"``), parsed once at load.

A condition is always a literal in a playbook, never a template, so a typo fails
``medic check`` rather than a verification step during an incident.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_SYNTAX = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*")
_HINT = "expected an operator (>=, <=, ==, !=, >, <) and a number, such as '>= 0.999'"


def format_number(value: float) -> str:
    """``1.0`` as ``1``, ``0.9995`` as ``0.9995``, NaN and infinities the Prometheus way."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Condition:
    """``op threshold``: what every sample value must satisfy."""

    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the condition; NaN satisfies none."""
        if math.isnan(value):
            return False
        return _OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {format_number(self.threshold)}"


def parse_condition(value: object) -> Condition:
    """Parse ``">= 0.999"`` into ``Condition(">=", 0.999)``; ValueError on anything else."""
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{_HINT}; got {type(value).__name__}")  # noqa: TRY004 -- pydantic wants ValueError
    match = _SYNTAX.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r}: {_HINT}")
    op, number = match.groups()
    try:
        threshold = float(number)
    except ValueError:
        raise ValueError(f"{value!r}: {number!r} is not a number; {_HINT}") from None
    if math.isnan(threshold):
        raise ValueError(f"{value!r}: NaN cannot be compared; {_HINT}")
    return Condition(op, threshold)


ConditionField = Annotated[
    Condition,
    PlainValidator(parse_condition),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\s*(>=|<=|==|!=|>|<)\s*\S+\s*$"}),
]
"""A params field holding a condition: written as a string, validated into a Condition."""
