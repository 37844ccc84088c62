"""``slack.approver_groups`` membership from Slack (``usergroups.users.list``), cached
briefly so a burst of clicks asks Slack once."""

from __future__ import annotations

import time

from bot.errors import MedicError
from responders.slack.client import SlackClient

GROUP_CACHE_S = 60.0


class SlackGroupDirectory:
    """GroupDirectory backed by Slack; on a Slack failure the last known members stand,
    and with none known the group has no members (a click is refused, never allowed)."""

    def __init__(self, client: SlackClient, ttl_s: float = GROUP_CACHE_S) -> None:
        self._client = client
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id``."""
        cached = self._cache.get(group_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            members = frozenset(await self._client.usergroup_members(group_id))
        except MedicError:  # Slack unreachable: fall back, never widen
            return cached[1] if cached is not None else frozenset()
        self._cache[group_id] = (time.monotonic(), members)
        return members
