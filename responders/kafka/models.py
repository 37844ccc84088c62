"""Params models of the ``kafka.*`` actions."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.actions.contract import ActionOutput, ActionParams
from responders.common import NonEmptyStr


class ConsumerLagParams(ActionParams):
    """``kafka.consumer_lag``: lag (end offset - committed offset) of ``group``, per partition
    and in total, on ``topic`` or (None) on every topic the group has committed offsets for."""

    group: NonEmptyStr
    topic: NonEmptyStr | None = None


class ConsumerLagOutput(ActionOutput):
    """``kafka.consumer_lag``: the total lag, per topic, and per partition."""

    group: str = ""
    topic: str | None = None
    total_lag: int = 0
    topics: dict[str, int] = Field(default_factory=dict)
    partitions: list[dict[str, Any]] = Field(default_factory=list)
