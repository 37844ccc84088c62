"""Who belongs to which user group, for ``slack.approver_groups``.

The Slack integration provides the real directory (``usergroups.users.list``); without it
no group has members, so only ``slack.approvers`` can decide.
"""

from __future__ import annotations

from typing import Protocol


class GroupDirectory(Protocol):
    """Answers group membership."""

    async def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id`` (empty when unknown)."""


class NoGroups:
    """No directory (Slack disabled)."""

    async def members(self, group_id: str) -> frozenset[str]:
        """Nobody."""
        return frozenset()
