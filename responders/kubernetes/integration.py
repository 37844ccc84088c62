"""Kubernetes as an integration: rollouts, scaling, nodes and evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.actions.cluster import ClusterView
from bot.actions.integration import ClientSetup, Integration
from responders.kubernetes import actions, inspect_actions
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.cluster import KubernetesCluster
from responders.kubernetes.config import KubernetesConfig
from responders.kubernetes.const import SYSTEM


@asynccontextmanager
async def open_client(setup: ClientSetup) -> AsyncIterator[KubernetesClient]:
    """A client for the configured cluster, closed at shutdown."""
    client = await KubernetesClient.connect(setup.config_as(KubernetesConfig))
    try:
        yield client
    finally:
        await client.close()


def cluster_view(client: object) -> ClusterView | None:
    """The node counts of the cluster the open client talks to."""
    return KubernetesCluster(client) if isinstance(client, KubernetesClient) else None


def _enabled(config: KubernetesConfig) -> bool:
    return config.mode != "disabled"


integration = Integration(
    name=SYSTEM,
    config=KubernetesConfig,
    actions=[
        actions.rollout_history,
        actions.rollback,
        actions.scale,
        actions.restart,
        actions.set_env,
        actions.set_resources,
        actions.wait_rollout,
        actions.cordon,
        actions.uncordon,
        actions.drain,
        actions.delete_node,
        actions.logs,
        actions.events,
        actions.pods,
        inspect_actions.pod,
        inspect_actions.node,
        inspect_actions.workload,
    ],
    client=open_client,
    enabled=_enabled,
    cluster_view=cluster_view,
)
