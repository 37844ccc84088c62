"""What the engine needs to know about the cluster for ``safety.max_cordoned_fraction``.

The Kubernetes integration provides the real view; while it is disabled the counts are
unknown and the guard cannot trip (nothing is really cordoned in a dry run either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CORDONING_ACTIONS = frozenset({"kubernetes.cordon", "kubernetes.drain"})


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


def cordon_over_limit(
    counts: NodeCounts | None, max_fraction: float, node: str | None = None
) -> str | None:
    """Why cordoning ``node`` would leave more than ``max_fraction`` of all nodes cordoned,
    if it would. A node that is cordoned already adds nothing: draining it after its
    cordon (the usual isolation) is not one more node out."""
    if counts is None or counts.total <= 0 or node in counts.cordoned_nodes:
        return None
    after = counts.cordoned + 1
    if after / counts.total <= max_fraction:
        return None
    return (
        f"max_cordoned_fraction {max_fraction:g}: {after} of {counts.total} nodes would be cordoned"
    )
