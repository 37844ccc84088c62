"""What the engine reads about the cluster for ``safety.max_cordoned_fraction``.

The Kubernetes integration provides the real view; while it is disabled the counts are
unknown and the guard cannot trip (nothing is really cordoned in a dry run either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NodeCounts:
    """All nodes, how many are unschedulable now, and which (when known)."""

    total: int
    cordoned: int
    cordoned_nodes: frozenset[str] = frozenset()


class ClusterView(Protocol):
    """Reads node counts."""

    async def node_counts(self) -> NodeCounts | None:
        """The counts, or None when unknown."""


class UnknownCluster:
    """No cluster access (Kubernetes disabled)."""

    async def node_counts(self) -> NodeCounts | None:
        """Unknown."""
        return None
