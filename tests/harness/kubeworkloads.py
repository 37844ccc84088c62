"""The workloads beside Deployments that kube-prometheus-stack alerts name (StatefulSet,
DaemonSet, Job, HorizontalPodAutoscaler, PersistentVolumeClaim), created on the real API
server, and pod states the fake kubelet does not produce (crash loops, waiting)."""

from __future__ import annotations

from typing import Any

from .kube import HOLD_LABEL, KubeApi
from .kubeobjects import ZERO_GRACE, container

PATHS = {
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
}


def _pods(name: str, *, hold: bool = False, restart: str = "Always") -> dict[str, Any]:
    labels = {"app": name, **({HOLD_LABEL: "hold"} if hold else {})}
    return {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {**ZERO_GRACE, "restartPolicy": restart, "containers": [container("app:1")]},
        },
    }


def workload_body(kind: str, name: str, *, replicas: int = 1, hold: bool = False) -> Any:
    """A ``kind`` called ``name``; ``hold``: its pods never become Ready."""
    spec: dict[str, Any]
    if kind == "StatefulSet":
        spec = {"serviceName": name, "replicas": replicas, **_pods(name, hold=hold)}
    elif kind == "DaemonSet":
        spec = _pods(name, hold=hold)
    elif kind == "Job":
        pods = _pods(name, hold=hold, restart="Never")
        spec = {"backoffLimit": 0, "template": pods["template"]}
        spec["template"]["metadata"]["labels"].pop("app")
    elif kind == "HorizontalPodAutoscaler":
        spec = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": replicas,
            "targetCPUUtilizationPercentage": 80,
        }
    else:
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {"metadata": {"name": name}, "spec": spec}


async def create_workload(
    api: KubeApi, kind: str, namespace: str, name: str, **options: Any
) -> Any:
    """Create a ``kind`` (see ``workload_body``) and return it."""
    return await api.create(PATHS[kind].format(ns=namespace), workload_body(kind, name, **options))


async def delete_workload(api: KubeApi, kind: str, namespace: str, name: str) -> None:
    """Delete it (and, for those that own pods, its pods with it); absent is fine."""
    path = PATHS[kind].format(ns=namespace) + f"/{name}"
    await api.call("DELETE", path, ok=(200, 202, 404), propagationPolicy="Background")


async def set_status(api: KubeApi, kind: str, namespace: str, name: str, status: Any) -> Any:
    """Patch the ``status`` subresource (what the controllers or the kubelet would report)."""
    path = PATHS[kind].format(ns=namespace) + f"/{name}/status"
    return await api.call(
        "PATCH",
        path,
        {"status": status},
        content_type="application/merge-patch+json",
    )


def crash_looping_status(pod: Any, *, restarts: int = 7, reason: str = "Error") -> Any:
    """Every container of ``pod`` waiting in CrashLoopBackOff after ``restarts`` restarts,
    its last run terminated with ``reason`` (exit code 1)."""
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": False,
                "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {
                    "terminated": {
                        "reason": reason,
                        "exitCode": 1,
                        "finishedAt": "2026-11-24T02:58:00Z",
                    }
                },
            }
            for c in pod["spec"]["containers"]
        ],
    }


async def set_pod_status(api: KubeApi, namespace: str, name: str, status: Any) -> Any:
    """Replace a pod's conditions and container statuses (a merge patch replaces lists
    whole); the fake kubelet leaves a Running pod alone."""
    return await api.call(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        {"status": status},
        content_type="application/merge-patch+json",
    )
