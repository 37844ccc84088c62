"""Server-side dry runs and the namespace allowlist, against a real kube-apiserver."""

from __future__ import annotations

import pytest

from bot.errors import GuardRefused
from responders.kubernetes.client import KubeRefused, KubernetesClient

from harness.kube import KubeApi, eventually
from harness.kube_fixtures import Kube, Runner, connect, unique
from harness.kubeobjects import (
    create_deployment,
    create_node,
    create_replicaset,
    deployment_body,
    deployment_path,
    image_of,
    pod_body,
    pods_on,
    revision,
    rolled_out,
    set_image,
)
from harness.kubeobjects import unschedulable as is_cordoned


async def test_dry_run_writes_are_validated_by_the_server_and_change_nothing(
    kube: KubeApi,
    kube_stack: Kube,
    namespace: str,
    k8s: KubernetesClient,
    run_action: Runner,
) -> None:
    """With ctx.dry_run every write goes out with dryRun=All: the output shows what the
    server computed, the step says it was a dry run, and the cluster is unchanged; an invalid
    change is still rejected by the server."""
    name = unique("web")
    body = deployment_body(name, "registry.local/app:1", env={"SIZE": "50"})
    await create_deployment(kube, namespace, body)
    await rolled_out(kube, namespace, name)
    await set_image(kube, namespace, name, "registry.local/app:2")
    await rolled_out(kube, namespace, name)
    before = await kube.get(deployment_path(namespace, name))
    where = {"namespace": namespace, "deployment": name}

    scaled = await run_action(k8s, "kubernetes.scale", dry_run=True, replicas=4, **where)
    assert scaled.dry_run
    assert scaled.output["after"] == {"replicas": 4}
    assert scaled.summary.startswith("dry run: ")
    env = await run_action(k8s, "kubernetes.set_env", dry_run=True, env={"SIZE": "9"}, **where)
    assert env.output["after"]["env"] == {"SIZE": "9"}
    back = await run_action(k8s, "kubernetes.rollback", dry_run=True, **where)
    assert back.output["after"]["images"] == ["registry.local/app:1"]
    restarted = await run_action(k8s, "kubernetes.restart", dry_run=True, **where)
    assert restarted.output["after"]["restarted_at"] is not None
    with pytest.raises(KubeRefused, match="422"):
        await run_action(
            k8s,
            "kubernetes.set_resources",
            dry_run=True,
            limits={"cpu": "100m"},
            requests={"cpu": "2"},
            **where,
        )

    after = await kube.get(deployment_path(namespace, name))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert image_of(after) == "registry.local/app:2"
    assert await revision(kube, namespace, name) == 2

    node = unique("dry")
    await create_node(kube, node, kube_stack.kubelet.port)
    await create_replicaset(kube, namespace, "w", pod_body("x", node)["spec"])
    bound = await eventually(lambda: pods_on(kube, node), f"the replicaset's pod on {node}")
    drained = await run_action(k8s, "kubernetes.drain", dry_run=True, node=node)
    assert drained.output["after"] == {"unschedulable": True}
    assert len(drained.output["evicted"]) == 1
    cordoned = await run_action(k8s, "kubernetes.cordon", dry_run=True, node=node)
    assert cordoned.output["after"] == {"unschedulable": True}
    deleted = await run_action(k8s, "kubernetes.delete_node", dry_run=True, node=node)
    assert deleted.dry_run
    assert not await is_cordoned(kube, node)
    assert await pods_on(kube, node) == bound


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("kubernetes.scale", {"deployment": "web", "replicas": 3}),
        ("kubernetes.rollback", {"deployment": "web"}),
        ("kubernetes.set_env", {"deployment": "web", "env": {"A": "1"}}),
        ("kubernetes.rollout_history", {"deployment": "web"}),
        ("kubernetes.pods", {}),
        ("kubernetes.logs", {"deployment": "web"}),
        ("kubernetes.events", {}),
    ],
)
async def test_namespaces_outside_the_allowlist_fail_before_any_call(
    kube: KubeApi,
    kube_stack: Kube,
    namespace: str,
    run_action: Runner,
    action: str,
    params: dict[str, object],
) -> None:
    """A step naming a namespace outside kubernetes.namespaces fails with the reason, and
    the client sent nothing; the deployment there is untouched."""
    await create_deployment(kube, namespace, deployment_body("web", "registry.local/app:1"))
    client = await connect(kube_stack.stack, ["payments", "checkout"])
    try:
        with pytest.raises(GuardRefused, match=rf"namespace {namespace} is outside"):
            await run_action(client, action, namespace=namespace, **params)
        assert client.calls_made == set()
    finally:
        await client.close()
    found = await kube.get(deployment_path(namespace, "web"))
    assert found["metadata"]["generation"] == 1


async def test_allowlist_star_allows_all_and_empty_allows_none(
    kube: KubeApi, kube_stack: Kube, namespace: str, run_action: Runner
) -> None:
    """["*"] lets a step touch any namespace; [] refuses every namespaced step, and a
    cluster-wide read (pods of a node) too; a listed namespace is allowed."""
    await create_deployment(kube, namespace, deployment_body("web", "registry.local/app:1"))
    none = await connect(kube_stack.stack, [])
    listed = await connect(kube_stack.stack, [namespace])
    try:
        with pytest.raises(GuardRefused, match=r"\(allowed: none\)"):
            await run_action(
                none, "kubernetes.scale", namespace=namespace, deployment="web", replicas=2
            )
        with pytest.raises(GuardRefused, match="no namespace may be read"):
            await run_action(none, "kubernetes.pods", node="worker-0")
        result = await run_action(
            listed, "kubernetes.scale", namespace=namespace, deployment="web", replicas=2
        )
        assert result.output["after"] == {"replicas": 2}
    finally:
        await none.close()
        await listed.close()
    assert (await kube.get(deployment_path(namespace, "web")))["spec"]["replicas"] == 2


async def test_drain_refuses_pods_in_namespaces_outside_the_allowlist(
    kube: KubeApi, kube_stack: Kube, namespace: str, run_action: Runner
) -> None:
    """Draining would evict a pod of a namespace Medic may not touch: refused before the
    node is cordoned."""
    node = unique("ns")
    await create_node(kube, node, kube_stack.kubelet.port)
    await kube.create(f"/api/v1/namespaces/{namespace}/pods", pod_body("p", node))
    client = await connect(kube_stack.stack, ["elsewhere"])
    try:
        with pytest.raises(GuardRefused, match=r"namespace outside kubernetes\.namespaces"):
            await run_action(client, "kubernetes.drain", node=node, allow_unmanaged=True)
    finally:
        await client.close()
    assert not await is_cordoned(kube, node)
