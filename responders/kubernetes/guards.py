"""Hard guards for Kubernetes: the namespace allowlist and the consensus quorum.

Both refuse with ``GuardRefused`` (no override); the namespace check runs before any call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.errors import GuardRefused
from responders.kubernetes import calls
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.views import Node, NodeList

ALL_NAMESPACES = "*"


def namespace_allowed(allowlist: Iterable[str], namespace: str) -> bool:
    """Whether ``kubernetes.namespaces`` lets Medic touch ``namespace``."""
    allowed = list(allowlist)
    return ALL_NAMESPACES in allowed or namespace in allowed


def check_namespace(client: KubernetesClient, namespace: str) -> None:
    """GuardRefused unless ``namespace`` is in ``kubernetes.namespaces``."""
    if not namespace_allowed(client.namespaces, namespace):
        allowed = ", ".join(client.namespaces) or "none"
        raise GuardRefused(
            f"namespace {namespace} is outside kubernetes.namespaces (allowed: {allowed})"
        )


def every_namespace(client: KubernetesClient) -> bool:
    """Whether the allowlist is ``["*"]``."""
    return ALL_NAMESPACES in client.namespaces


def node_ready(node: dict[str, Any]) -> bool:
    """Condition ``Ready`` is ``True``."""
    return Node.model_validate(node).ready


def node_isolated(node: dict[str, Any]) -> bool:
    """Cordoned, or not Ready: the node does not take part in consensus."""
    return _isolated(Node.model_validate(node))


def _isolated(node: Node) -> bool:
    return node.spec.unschedulable or not node.ready


@dataclass(frozen=True, slots=True)
class Quorum:
    """The consensus nodes (``selector``) and how many are isolated now."""

    selector: str
    total: int
    isolated: int
    target_counts: bool

    @property
    def tolerated(self) -> int:
        """floor((n-1)/3): isolated nodes a Byzantine-tolerant group of n survives."""
        return max(self.total - 1, 0) // 3

    def as_output(self) -> dict[str, Any]:
        """For the step output."""
        return {
            "selector": self.selector,
            "nodes": self.total,
            "isolated": self.isolated,
            "tolerated": self.tolerated,
        }


async def check_quorum(client: KubernetesClient, node: str, selector: str | None) -> Quorum | None:
    """GuardRefused when isolating ``node`` would leave more than floor((n-1)/3) of the nodes
    matching ``selector`` isolated (cordoned or not Ready). None without a selector."""
    if selector is None:
        return None
    answer = await client.request(calls.LIST_NODES, query={"labelSelector": selector})
    nodes = NodeList.model_validate(answer).items
    names = {n.metadata.name: n for n in nodes}
    isolated = sum(1 for n in nodes if _isolated(n))
    target = names.get(node)
    target_counts = target is not None and not _isolated(target)
    quorum = Quorum(selector, len(nodes), isolated, target_counts)
    after = isolated + (1 if target_counts else 0)
    if target_counts and after > quorum.tolerated:
        raise GuardRefused(
            f"consensus quorum guard: isolating {node} would leave {after} of {len(nodes)} "
            f"{selector} nodes isolated; at most {quorum.tolerated} may be"
        )
    return quorum
