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
from responders.kubernetes.views import Condition, Node, Object, Workload

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
    return Object.model_validate(obj).metadata.controller()


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
    node = Node.model_validate(await client.request(calls.GET_NODE, name=name))
    conditions = [
        {**_condition(c), "since": c.last_transition_time} for c in node.status.conditions
    ]
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    pods = await list_pods(client, None, node=name)  # in the allowed namespaces
    return {
        "name": name,
        "ready": ready is not None and ready["status"] == "True",
        "ready_reason": None if ready is None else ready["reason"],
        "conditions": conditions,
        "unschedulable": node.spec.unschedulable,
        "taints": [str(t) for t in node.spec.taints],
        "pods": [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods],
    }


def _condition(condition: Condition) -> Json:
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
    }


def _workload_status(kind: str, obj: Workload) -> Json:
    """The status fields that say what is wrong with a workload of ``kind``."""
    spec, status = obj.spec, obj.status
    found: Json
    if kind == "Deployment":
        found = {
            "replicas": spec.replicas,
            "ready": status.ready_replicas,
            "updated": status.updated_replicas,
            "available": status.available_replicas,
            "revision": obj.metadata.revision,
        }
    elif kind == "StatefulSet":
        found = {
            "replicas": spec.replicas,
            "ready": status.ready_replicas,
            "current_revision": status.current_revision,
            "update_revision": status.update_revision,
        }
    elif kind == "DaemonSet":
        found = {
            "desired": status.desired_number_scheduled,
            "ready": status.number_ready,
            "misscheduled": status.number_misscheduled,
        }
    elif kind == "Job":
        found = {
            "active": status.active,
            "succeeded": status.succeeded,
            "failed": status.failed,
            "backoff_limit": spec.backoff_limit,
        }
    elif kind == "HorizontalPodAutoscaler":
        found = {
            "target": f"{spec.scale_target_ref.kind}/{spec.scale_target_ref.name}",
            "min_replicas": spec.min_replicas,
            "max_replicas": spec.max_replicas,
            "current_replicas": status.current_replicas,
            "desired_replicas": status.desired_replicas,
            "cpu_percent": status.current_cpu_percent,
            "cpu_target_percent": spec.target_cpu_percent,
        }
    else:  # PersistentVolumeClaim
        found = {
            "phase": status.phase,
            "capacity": status.capacity.get("storage"),
            "requested": spec.resources.requests.get("storage"),
            "storage_class": spec.storage_class_name,
            "volume": spec.volume_name,
        }
    return {**found, "conditions": [_condition(c) for c in status.conditions]}


async def workload_report(client: KubernetesClient, kind: str, namespace: str, name: str) -> Json:
    """The workload's status and, for those that run pods, its pods with their status."""
    obj = Workload.model_validate(
        await client.request(WORKLOAD_CALLS[kind], namespace=namespace, name=name)
    )
    selector = obj.spec.selector
    pods = []
    if selector.match_labels and kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        listed = await list_pods(client, namespace, selector=selector.query())
        pods = [pod_status(p) for p in listed]
    return {
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "status": _workload_status(kind, obj),
        "pods": pods,
        "not_ready": sum(1 for p in pods if not p["ready"]),
        "restarts": sum(p["restarts"] for p in pods),
    }
