"""The engine's ClusterView (``safety.max_cordoned_fraction``) read from the API server."""

from __future__ import annotations

import structlog

from bot.actions.cluster import NodeCounts
from responders.kubernetes import calls
from responders.kubernetes.client import KubeRefused, KubernetesClient, KubeUnavailable
from responders.kubernetes.views import NodeList

log = structlog.get_logger(__name__)


class KubernetesCluster:
    """Node counts of the cluster ``client`` talks to (a ``bot.actions.cluster.ClusterView``)."""

    def __init__(self, client: KubernetesClient) -> None:
        self._client = client

    async def node_counts(self) -> NodeCounts | None:
        """All nodes and the unschedulable ones; None (unknown) when the API cannot answer."""
        try:
            answer = await self._client.request(calls.LIST_NODES)
        except (KubeRefused, KubeUnavailable) as err:
            log.warning("kubernetes.node_counts_unknown", error=str(err))
            return None
        items = NodeList.model_validate(answer).items
        cordoned = frozenset(n.metadata.name for n in items if n.spec.unschedulable) - {""}
        return NodeCounts(total=len(items), cordoned=len(cordoned), cordoned_nodes=cordoned)
