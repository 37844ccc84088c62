"""Params models of the ``kafka.*`` actions."""

from __future__ import annotations

from bot.actions.contract import ActionParams
from responders.common import NonEmptyStr


class ConsumerLagParams(ActionParams):
    """``kafka.consumer_lag``: lag (end offset - committed offset) of ``group``, per partition
    and in total, on ``topic`` or (None) on every topic the group has committed offsets for."""

    group: NonEmptyStr
    topic: NonEmptyStr | None = None
