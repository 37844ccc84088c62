"""Node actions against a real kube-apiserver 1.20: cordon/uncordon, the consensus-quorum
guard, drain (DaemonSet and mirror pods skipped, PodDisruptionBudgets respected), delete."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import GuardRefused, PermanentError
from responders.kubernetes.client import KubernetesClient

from harness.kube import KubeApi, eventually, node_status
from harness.kube_fixtures import Kube, Runner, unique
from harness.kubeobjects import ZERO_GRACE, container, create_node, pod_body, pods_on, running
from harness.kubeobjects import unschedulable as is_cordoned

CONSENSUS = "dwcp.io/consensus"


async def test_cordon_and_uncordon(
    kube: KubeApi, kube_stack: Kube, k8s: KubernetesClient, run_action: Runner
) -> None:
    """cordon marks the node unschedulable and says before/after; uncordon undoes it."""
    node = unique("n")
    await create_node(kube, node, kube_stack.kubelet.port)
    cordoned = await run_action(k8s, "kubernetes.cordon", node=node)
    assert cordoned.output["before"] == {"unschedulable": False}
    assert cordoned.output["after"] == {"unschedulable": True}
    assert cordoned.summary == f"cordoned node {node} (unschedulable False → True)"
    assert await is_cordoned(kube, node)

    uncordoned = await run_action(k8s, "kubernetes.uncordon", node=node)
    assert uncordoned.output["after"] == {"unschedulable": False}
    assert not await is_cordoned(kube, node)


async def test_quorum_guard_never_isolates_more_than_a_third(
    kube: KubeApi, kube_stack: Kube, k8s: KubernetesClient, run_action: Runner
) -> None:
    """With 4 consensus nodes floor((4-1)/3) = 1 may be isolated: the first cordon passes, the
    second (by either selector name), a drain and a delete are refused before any change;
    a node that is not Ready counts as isolated; nodes outside the selector are free."""
    group = unique("g")
    labels = {CONSENSUS: group}
    names = [unique("c") for _ in range(5)]
    for name in names[:4]:
        await create_node(kube, name, kube_stack.kubelet.port, labels)
    await create_node(kube, names[4], kube_stack.kubelet.port)
    selector = f"{CONSENSUS}={group}"

    first = await run_action(k8s, "kubernetes.cordon", node=names[0], consensus_selector=selector)
    assert first.output["quorum"] == {
        "selector": selector,
        "nodes": 4,
        "isolated": 0,
        "tolerated": 1,
    }
    with pytest.raises(GuardRefused, match=r"leave 2 of 4 .* at most 1"):
        await run_action(k8s, "kubernetes.cordon", node=names[1], quorum_selector=selector)
    with pytest.raises(GuardRefused, match="consensus quorum guard"):
        await run_action(k8s, "kubernetes.drain", node=names[1], quorum_selector=selector)
    with pytest.raises(GuardRefused, match="consensus quorum guard"):
        await run_action(k8s, "kubernetes.delete_node", node=names[2], quorum_selector=selector)
    assert [await is_cordoned(kube, n) for n in names[1:4]] == [False, False, False]
    assert await kube.exists(f"/api/v1/nodes/{names[2]}")

    # Outside the selector: not a consensus node, the guard lets it go.
    other = await run_action(k8s, "kubernetes.cordon", node=names[4], quorum_selector=selector)
    assert other.output["quorum"]["isolated"] == 1

    # Uncordoned again, but one consensus node not Ready: still one isolated.
    await run_action(k8s, "kubernetes.uncordon", node=names[0])
    await kube.patch(
        f"/api/v1/nodes/{names[3]}/status",
        {"status": node_status(kube_stack.kubelet.port, ready=False)},
    )
    with pytest.raises(GuardRefused, match="leave 2 of 4"):
        await run_action(k8s, "kubernetes.cordon", node=names[0], quorum_selector=selector)


async def test_delete_node(
    kube: KubeApi, kube_stack: Kube, k8s: KubernetesClient, run_action: Runner
) -> None:
    """delete_node removes the Node object."""
    node = unique("d")
    await create_node(kube, node, kube_stack.kubelet.port)
    result = await run_action(k8s, "kubernetes.delete_node", node=node)
    assert result.output["after"] == {"exists": False}
    assert not await kube.exists(f"/api/v1/nodes/{node}")


def _replicaset(name: str, node: str, replicas: int = 1) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    **ZERO_GRACE,
                    "nodeSelector": {"kubernetes.io/hostname": node},
                    "containers": [container("registry.local/w:1")],
                },
            },
        },
    }


def _daemonset(name: str) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {**ZERO_GRACE, "containers": [container("registry.local/agent:1")]},
            },
        },
    }


async def _pod_of(kube: KubeApi, namespace: str, app: str, node: str) -> str:
    async def probe() -> str:
        found = await kube.get(
            f"/api/v1/namespaces/{namespace}/pods",
            labelSelector=f"app={app}",
            fieldSelector=f"spec.nodeName={node}",
        )
        running_pods = [p for p in found["items"] if p["status"].get("phase") == "Running"]
        return running_pods[0]["metadata"]["name"] if running_pods else ""

    return await eventually(probe, f"a running {app} pod on {node}")


async def test_drain_skips_daemonset_and_mirror_pods_and_waits_for_a_pdb(
    kube: KubeApi, kube_stack: Kube, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """drain cordons, skips the DaemonSet pod and the mirror pod, evicts the managed pods;
    a PodDisruptionBudget answering 429 is retried until it allows the eviction; the step
    ends once the evicted pods are gone."""
    node = unique("drain")
    await create_node(kube, node, kube_stack.kubelet.port)
    apps = f"/apis/apps/v1/namespaces/{namespace}"
    await kube.create(f"{apps}/replicasets", _replicaset("free", node))
    await kube.create(f"{apps}/replicasets", _replicaset("guarded", node))
    await kube.create(f"{apps}/daemonsets", _daemonset("agent"))
    mirror = pod_body(
        "static-web", node, metadata={"annotations": {"kubernetes.io/config.mirror": "abc"}}
    )
    await kube.create(f"/api/v1/namespaces/{namespace}/pods", mirror)
    pdb = {
        "apiVersion": "policy/v1beta1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guarded"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    pdb_path = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets"
    await kube.create(pdb_path, pdb)
    free = await _pod_of(kube, namespace, "free", node)
    guarded = await _pod_of(kube, namespace, "guarded", node)
    agent = await _pod_of(kube, namespace, "agent", node)
    await running(kube, namespace, "static-web")

    async def pdb_observed() -> bool:
        found = await kube.get(f"{pdb_path}/guarded")
        status = found.get("status", {})
        return status.get("observedGeneration") == found["metadata"]["generation"] and (
            status.get("currentHealthy") == 1
        )

    await eventually(pdb_observed, "the disruption controller to observe the PDB")

    drain = asyncio.create_task(run_action(k8s, "kubernetes.drain", node=node, timeout="60s"))
    pods_path = f"/api/v1/namespaces/{namespace}/pods"

    async def free_gone_guarded_kept() -> bool:
        return not await kube.exists(f"{pods_path}/{free}") and await kube.exists(
            f"{pods_path}/{guarded}"
        )

    await eventually(free_gone_guarded_kept, "the free pod evicted, the guarded one kept")
    assert await is_cordoned(kube, node)
    assert not drain.done()
    await kube.patch(f"{pdb_path}/guarded", {"spec": {"minAvailable": 0}}, "merge-patch")
    result = await asyncio.wait_for(drain, 60)

    out = result.output
    assert out["before"] == {"unschedulable": False}
    assert out["after"] == {"unschedulable": True}
    assert out["evicted"] == sorted([f"{namespace}/{free}", f"{namespace}/{guarded}"])
    assert out["skipped"] == {
        f"{namespace}/{agent}": "DaemonSet pod",
        f"{namespace}/static-web": "mirror pod",
    }
    assert out["pdb_retries"][f"{namespace}/{guarded}"] >= 1
    assert await pods_on(kube, node) == sorted([f"{namespace}/{agent}", f"{namespace}/static-web"])


async def test_drain_refuses_unmanaged_and_emptydir_pods_before_any_change(
    kube: KubeApi, kube_stack: Kube, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A bare pod or an emptyDir pod stops the drain before the node is even cordoned,
    naming each pod and the parameter that would allow it; with them, the drain goes on."""
    node = unique("bare")
    await create_node(kube, node, kube_stack.kubelet.port)
    pods = f"/api/v1/namespaces/{namespace}/pods"
    await kube.create(pods, pod_body("bare", node))
    scratch = pod_body("scratch", node, volumes=[{"name": "tmp", "emptyDir": {}}])
    await kube.create(pods, scratch)
    with pytest.raises(PermanentError, match="refused before any change") as refused:
        await run_action(k8s, "kubernetes.drain", node=node)
    assert "bare: not managed by a controller (allow_unmanaged)" in str(refused.value)
    assert not await is_cordoned(kube, node)

    result = await run_action(
        k8s, "kubernetes.drain", node=node, allow_unmanaged=True, allow_emptydir=True
    )
    assert result.output["evicted"] == [f"{namespace}/bare", f"{namespace}/scratch"]
    assert await pods_on(kube, node) == []


async def test_drain_gives_up_at_its_timeout_naming_the_pods_left(
    kube: KubeApi, kube_stack: Kube, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """A PodDisruptionBudget that never allows the eviction: the drain fails at its timeout
    and names the pod that remains (the node stays cordoned)."""
    node = unique("stuck")
    await create_node(kube, node, kube_stack.kubelet.port)
    await kube.create(f"/apis/apps/v1/namespaces/{namespace}/replicasets", _replicaset("db", node))
    pdb_path = f"/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets"
    await kube.create(
        pdb_path,
        {
            "metadata": {"name": "db"},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "db"}}},
        },
    )
    pod = await _pod_of(kube, namespace, "db", node)

    async def observed() -> bool:
        found = await kube.get(f"{pdb_path}/db")
        return found.get("status", {}).get("observedGeneration") == 1

    await eventually(observed, "the PDB observed")
    with pytest.raises(
        PermanentError, match=rf"gave up after 2s; pods remaining: {namespace}/{pod}"
    ):
        await run_action(k8s, "kubernetes.drain", node=node, timeout="2s")
    assert await is_cordoned(kube, node)
    assert await pods_on(kube, node) == [f"{namespace}/{pod}"]
