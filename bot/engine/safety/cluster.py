"""The ``safety.max_cordoned_fraction`` guard, from the node counts of
:class:`bot.actions.cluster.ClusterView`."""

from __future__ import annotations

from bot.actions.cluster import ClusterView, NodeCounts, UnknownCluster

__all__ = ["CORDONING_ACTIONS", "ClusterView", "NodeCounts", "UnknownCluster", "cordon_over_limit"]

CORDONING_ACTIONS = frozenset({"kubernetes.cordon", "kubernetes.drain"})


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
