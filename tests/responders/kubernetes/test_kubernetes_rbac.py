"""deploy/rbac.yaml and the Helm chart's ClusterRole grant exactly the API calls the
responders make (no wildcard), both generated from them, and the role is enough to run every
kubernetes.* action as a user bound to it on a real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from responders.kubernetes import rbac
from responders.kubernetes.calls import ALL_CALLS, rbac_rules

from harness.chart import one, render
from harness.kube import RBAC_TOKEN, RBAC_USER, KubeApi, eventually
from harness.kube_fixtures import Kube, Runner, connect, unique
from harness.kubeobjects import (
    create_deployment,
    create_node,
    create_replicaset,
    deployment_body,
    deployment_path,
    pods_on,
    rolled_out,
    set_image,
)
from harness.kubeworkloads import PATHS, create_workload

RBAC = Path(__file__).parents[3] / "deploy" / "rbac.yaml"


def _documents() -> dict[str, Any]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RBAC.read_text())}


def _role_rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def test_generated_rbac_files_are_current() -> None:
    """deploy/rbac.yaml and the chart's files/rbac-rules.yaml are what
    ``python -m responders.kubernetes.rbac`` generates from the calls (one source)."""
    for path, text in rbac.generated().items():
        assert (rbac.ROOT / path).read_text() == text, f"{path}: run python -m {rbac.__name__}"


def test_chart_role_grants_exactly_the_calls_the_responders_make() -> None:
    """The chart's ClusterRole has the same rules, bound to the chart's ServiceAccount."""
    rendered = render(name="medic", namespace="ops")
    assert _role_rules(one(rendered, "ClusterRole")) == rbac_rules(ALL_CALLS)
    (subject,) = one(rendered, "ClusterRoleBinding")["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": "medic", "namespace": "ops"}


def test_role_grants_exactly_the_calls_the_responders_make() -> None:
    """The ClusterRole's (group, resource, verb) triples equal those of every ApiCall the
    client can send: each call is covered and nothing more is granted; no wildcard."""
    docs = _documents()
    role = docs["ClusterRole"]
    assert "*" not in RBAC.read_text()
    assert _role_rules(role) == rbac_rules(ALL_CALLS)
    binding = docs["ClusterRoleBinding"]
    account = docs["ServiceAccount"]["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


async def _bind_role_to_test_user(kube: KubeApi) -> None:
    role = _documents()["ClusterRole"]
    name = role["metadata"]["name"]
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    if not await kube.exists(f"{path}/{name}"):
        await kube.create(path, role)
        await kube.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "metadata": {"name": f"{name}-test-user"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RBAC_USER}
                ],
            },
        )


async def test_every_action_runs_as_a_user_bound_to_the_role(
    kube: KubeApi, kube_stack: Kube, namespace: str, run_action: Runner
) -> None:
    """A static-token user bound only to deploy/rbac.yaml's ClusterRole runs every
    kubernetes.* action; together they send every declared call; the user still cannot do
    what the role does not grant (delete a deployment)."""
    await _bind_role_to_test_user(kube)
    name = unique("web")
    await create_deployment(kube, namespace, deployment_body(name, "registry.local/app:1"))
    await rolled_out(kube, namespace, name)
    await set_image(kube, namespace, name, "registry.local/app:2")
    await rolled_out(kube, namespace, name)
    node = unique("rbac")
    await create_node(kube, node, kube_stack.kubelet.port)
    await create_replicaset(
        kube,
        namespace,
        "pinned",
        {
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [{"name": "app", "image": "registry.local/p:1"}],
        },
    )

    async def pinned_bound() -> bool:
        return any("/pinned-" in pod for pod in await pods_on(kube, node))

    await eventually(pinned_bound, f"the pinned pod bound to {node}")
    kinds = [kind for kind in PATHS if kind != "HorizontalPodAutoscaler"]
    for kind in kinds:
        await create_workload(kube, kind, namespace, f"{kind.lower()}-x")
    await create_workload(kube, "HorizontalPodAutoscaler", namespace, name)
    pinned = next(p for p in await pods_on(kube, node) if "/pinned-" in p).split("/")[1]
    client = await connect(
        kube_stack.stack, [namespace], kubeconfig=str(kube_stack.stack.rbac_kubeconfig)
    )
    where = {"namespace": namespace, "deployment": name}
    try:
        await run_action(client, "kubernetes.rollout_history", **where)
        await run_action(client, "kubernetes.rollback", **where)
        await run_action(client, "kubernetes.wait_rollout", timeout="60s", **where)
        await run_action(client, "kubernetes.scale", replicas=2, **where)
        await run_action(client, "kubernetes.restart", **where)
        await run_action(client, "kubernetes.set_env", env={"A": "1"}, **where)
        await run_action(client, "kubernetes.set_resources", limits={"memory": "1Gi"}, **where)
        await run_action(client, "kubernetes.pods", **where)
        await run_action(client, "kubernetes.logs", **where)
        await run_action(client, "kubernetes.events", namespace=namespace)
        await run_action(client, "kubernetes.pod", namespace=namespace, pod=pinned)
        await run_action(client, "kubernetes.node", node=node)
        for kind in kinds:
            await run_action(
                client,
                "kubernetes.workload",
                kind=kind,
                namespace=namespace,
                name=f"{kind.lower()}-x",
            )
        await run_action(
            client,
            "kubernetes.workload",
            kind="HorizontalPodAutoscaler",
            namespace=namespace,
            name=name,
        )
        selector = f"dwcp.io/consensus={node}"  # no node matches: the guard reads, allows
        drained = await run_action(client, "kubernetes.drain", node=node, quorum_selector=selector)
        assert any("/pinned-" in pod for pod in drained.output["evicted"])
        await run_action(client, "kubernetes.uncordon", node=node)
        await run_action(client, "kubernetes.cordon", node=node)
        await run_action(client, "kubernetes.delete_node", node=node)
        assert client.calls_made == set(ALL_CALLS)
    finally:
        await client.close()

    assert not await kube.exists(f"/api/v1/nodes/{node}")
    async with KubeApi(kube_stack.stack, RBAC_TOKEN) as limited:
        denied = await limited.call("DELETE", deployment_path(namespace, name), ok=(403,))
    assert denied["reason"] == "Forbidden"
