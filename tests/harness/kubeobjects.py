"""Kubernetes objects the tests create (as plain JSON), and small reads of their state."""

from __future__ import annotations

from typing import Any

from .kube import HOLD_LABEL, KubeApi, eventually, node_body

ZERO_GRACE = {"terminationGracePeriodSeconds": 0}


def container(image: str, name: str = "app", env: dict[str, str] | None = None) -> Any:
    """One container."""
    spec: dict[str, Any] = {"name": name, "image": image}
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return spec


def deployment_body(
    name: str,
    image: str,
    *,
    replicas: int = 1,
    env: dict[str, str] | None = None,
    hold: bool = False,
    progress_deadline_s: int | None = None,
) -> Any:
    """A Deployment of ``replicas`` pods; ``hold``: the fake kubelet never makes them Ready."""
    labels = {"app": name}
    pod_labels = {**labels, HOLD_LABEL: "hold"} if hold else labels
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {**ZERO_GRACE, "containers": [container(image, env=env)]},
        },
    }
    if progress_deadline_s is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_s
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def deployment_path(namespace: str, name: str = "") -> str:
    """``/apis/apps/v1/namespaces/<ns>/deployments[/<name>]``."""
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


async def create_deployment(api: KubeApi, namespace: str, body: Any) -> Any:
    """Create and return it."""
    return await api.create(deployment_path(namespace), body)


async def rolled_out(api: KubeApi, namespace: str, name: str) -> Any:
    """The deployment once its rollout is complete (kubectl's rules), polling."""

    async def done() -> Any:
        found = await api.get(deployment_path(namespace, name))
        status, spec = found.get("status", {}), found["spec"]
        complete = (
            found["metadata"]["generation"] <= status.get("observedGeneration", 0)
            and status.get("updatedReplicas", 0) == spec["replicas"]
            and status.get("replicas", 0) == spec["replicas"]
            and status.get("availableReplicas", 0) == spec["replicas"]
        )
        return found if complete else None

    return await eventually(done, f"deployment {namespace}/{name} to roll out")


async def revision(api: KubeApi, namespace: str, name: str) -> int:
    """The deployment's revision annotation (once the controller set it)."""

    async def read() -> int:
        found = await api.get(deployment_path(namespace, name))
        value = (found["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision"
        )
        return int(value) if value else 0

    return await eventually(read, f"a revision on {namespace}/{name}")


def image_of(deployment: Any) -> str:
    """The first container's image."""
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def set_image(api: KubeApi, namespace: str, name: str, image: str) -> None:
    """Change the first container's image (a new revision)."""
    await api.patch(
        deployment_path(namespace, name),
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}},
    )


async def create_node(
    api: KubeApi, name: str, kubelet_port: int, labels: dict[str, str] | None = None
) -> Any:
    """A Ready node without the not-ready taint admission adds on create."""
    await api.create("/api/v1/nodes", node_body(name, labels, kubelet_port))
    await api.patch(
        f"/api/v1/nodes/{name}/status", {"status": node_body(name, None, kubelet_port)["status"]}
    )
    return await api.patch(f"/api/v1/nodes/{name}", {"spec": {"taints": None}}, "merge-patch")


async def unschedulable(api: KubeApi, node: str) -> bool:
    """``spec.unschedulable`` of the node."""
    found = await api.get(f"/api/v1/nodes/{node}")
    return bool(found["spec"].get("unschedulable"))


def pod_body(name: str, node: str, *, labels: dict[str, str] | None = None, **extra: Any) -> Any:
    """A pod bound to ``node`` (no scheduler), zero grace period."""
    metadata: dict[str, Any] = {"name": name, "labels": labels or {"app": name}}
    metadata.update(extra.pop("metadata", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {**ZERO_GRACE, "nodeName": node, "containers": [container("busybox:1")], **extra},
    }


async def create_replicaset(api: KubeApi, namespace: str, name: str, pod_spec: Any) -> Any:
    """A bare one-replica ReplicaSet (label ``app=<name>``) whose pods use ``pod_spec``."""
    labels = {"app": name}
    return await api.create(
        f"/apis/apps/v1/namespaces/{namespace}/replicasets",
        {
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
    )


async def pods_on(api: KubeApi, node: str) -> list[str]:
    """``namespace/name`` of the pods bound to ``node``."""
    found = await api.get("/api/v1/pods", fieldSelector=f"spec.nodeName={node}")
    return sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in found["items"])


async def running(api: KubeApi, namespace: str, name: str) -> Any:
    """The pod once the fake kubelet has made it Running."""

    async def probe() -> Any:
        pod = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        return pod if pod.get("status", {}).get("phase") == "Running" else None

    return await eventually(probe, f"pod {namespace}/{name} to run")
