"""Read-only inspection of one object for the evidence an alert asks for: a pod with its
owner and revision (did its crashes begin with the deployment's newest revision?), a node
with its conditions and taints, a workload (Deployment, StatefulSet, DaemonSet, Job,
HorizontalPodAutoscaler, PersistentVolumeClaim) with its status and pods."""

from __future__ import annotations

from typing import Any

from responders.kubernetes import calls
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.deployments import owned_replicasets, revision_of
from responders.kubernetes.evidence import list_pods, pod_status

Json = dict[str, Any]

CRASH_REASONS = frozenset({"CrashLoopBackOff", "Error", "OOMKilled"})
"""Waiting or last-termination reasons that mean a container keeps crashing."""

WORKLOAD_CALLS = {
    "Deployment": calls.GET_DEPLOYMENT,
    "StatefulSet": calls.GET_STATEFULSET,
    "DaemonSet": calls.GET_DAEMONSET,
    "Job": calls.GET_JOB,
    "HorizontalPodAutoscaler": calls.GET_HPA,
    "PersistentVolumeClaim": calls.GET_PVC,
}
"""The kinds ``kubernetes.workload`` reads."""


def crash_looping(status: Json) -> bool:
    """A pod (as ``pod_status`` shows it) whose containers restart or wait in a crash."""
    return any(
        c["waiting_reason"] == "CrashLoopBackOff"
        or (c["restarts"] > 0 and c["last_termination_reason"] in CRASH_REASONS)
        for c in status["containers"]
    )


def _controller(obj: Json) -> tuple[str, str] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


async def pod_report(client: KubernetesClient, namespace: str, name: str) -> Json:
    """The pod's status, its controller and, for a Deployment's pod, its revision against
    the deployment's newest one and whether its crashes began with that newest revision
    (the pod is of the newest revision, an older one exists, and no pod of an older
    revision that is still there crashes)."""
    pod = await client.request(calls.GET_POD, namespace=namespace, name=name)
    status = pod_status(pod)
    owner = _controller(pod)
    report: Json = {
        **status,
        "owner": None if owner is None else f"{owner[0]}/{owner[1]}",
        "crash_looping": crash_looping(status),
        "deployment": None,
        "revision": None,
        "newest_revision": None,
        "previous_revision": None,
        "crashes_began_with_newest_revision": False,
    }
    if owner is None or owner[0] != "ReplicaSet":
        return report
    replicaset = await client.request(calls.GET_REPLICASET, namespace=namespace, name=owner[1])
    parent = _controller(replicaset)
    if parent is None or parent[0] != "Deployment":
        return report
    deployment = await client.request(calls.GET_DEPLOYMENT, namespace=namespace, name=parent[1])
    revision, newest = revision_of(replicaset), revision_of(deployment)
    owned = await owned_replicasets(client, deployment)
    older = [r for rs in owned if (r := revision_of(rs)) is not None and r != newest]
    older_names = {rs["metadata"]["name"] for rs in owned if revision_of(rs) in older}
    older_crashing = [
        p["metadata"]["name"]
        for p in await list_pods(client, namespace, deployment=parent[1])
        if _controller(p) in {("ReplicaSet", n) for n in older_names}
        and crash_looping(pod_status(p))
    ]
    report.update(
        deployment=parent[1],
        revision=revision,
        newest_revision=newest,
        previous_revision=max(older) if older else None,
        older_revisions_crashing=older_crashing,
        crashes_began_with_newest_revision=bool(
            report["crash_looping"] and revision == newest and older and not older_crashing
        ),
    )
    return report


async def node_report(client: KubernetesClient, name: str) -> Json:
    """The node's conditions, readiness, cordon, taints and the pods bound to it (of the
    namespaces ``kubernetes.namespaces`` allows)."""
    node = await client.request(calls.GET_NODE, name=name)
    conditions = [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason"),
            "message": c.get("message"),
            "since": c.get("lastTransitionTime"),
        }
        for c in node.get("status", {}).get("conditions") or []
    ]
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    pods = await list_pods(client, None, node=name)  # in the allowed namespaces
    return {
        "name": name,
        "ready": ready is not None and ready["status"] == "True",
        "ready_reason": None if ready is None else ready["reason"],
        "conditions": conditions,
        "unschedulable": bool(node.get("spec", {}).get("unschedulable")),
        "taints": [
            f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}"
            for t in node.get("spec", {}).get("taints") or []
        ],
        "pods": [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods],
    }


def _workload_status(kind: str, obj: Json) -> Json:
    """The status fields that say what is wrong with a workload of ``kind``."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    conditions = [
        {"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason"),
         "message": c.get("message")}
        for c in status.get("conditions") or []
    ]  # fmt: skip
    found: Json
    if kind == "Deployment":
        found = {
            "replicas": spec.get("replicas", 1),
            "ready": status.get("readyReplicas", 0),
            "updated": status.get("updatedReplicas", 0),
            "available": status.get("availableReplicas", 0),
            "revision": revision_of(obj),
        }
    elif kind == "StatefulSet":
        found = {
            "replicas": spec.get("replicas", 1),
            "ready": status.get("readyReplicas", 0),
            "current_revision": status.get("currentRevision"),
            "update_revision": status.get("updateRevision"),
        }
    elif kind == "DaemonSet":
        found = {
            "desired": status.get("desiredNumberScheduled", 0),
            "ready": status.get("numberReady", 0),
            "misscheduled": status.get("numberMisscheduled", 0),
        }
    elif kind == "Job":
        found = {
            "active": status.get("active", 0),
            "succeeded": status.get("succeeded", 0),
            "failed": status.get("failed", 0),
            "backoff_limit": spec.get("backoffLimit"),
        }
    elif kind == "HorizontalPodAutoscaler":
        found = {
            "target": f"{spec.get('scaleTargetRef', {}).get('kind')}/"
            f"{spec.get('scaleTargetRef', {}).get('name')}",
            "min_replicas": spec.get("minReplicas", 1),
            "max_replicas": spec.get("maxReplicas"),
            "current_replicas": status.get("currentReplicas"),
            "desired_replicas": status.get("desiredReplicas"),
            "cpu_percent": status.get("currentCPUUtilizationPercentage"),
            "cpu_target_percent": spec.get("targetCPUUtilizationPercentage"),
        }
    else:  # PersistentVolumeClaim
        found = {
            "phase": status.get("phase"),
            "capacity": (status.get("capacity") or {}).get("storage"),
            "requested": spec.get("resources", {}).get("requests", {}).get("storage"),
            "storage_class": spec.get("storageClassName"),
            "volume": spec.get("volumeName"),
        }
    return {**found, "conditions": conditions}


async def workload_report(client: KubernetesClient, kind: str, namespace: str, name: str) -> Json:
    """The workload's status and, for those that run pods, its pods with their status."""
    obj = await client.request(WORKLOAD_CALLS[kind], namespace=namespace, name=name)
    labels = obj.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    pods = []
    if labels and kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = [pod_status(p) for p in await list_pods(client, namespace, selector=selector)]
    return {
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "status": _workload_status(kind, obj),
        "pods": pods,
        "not_ready": sum(1 for p in pods if not p["ready"]),
        "restarts": sum(p["restarts"] for p in pods),
    }
