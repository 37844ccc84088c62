"""Read-only evidence: pods with their status, recent events, the last log lines."""

from __future__ import annotations

from typing import Any

from bot.errors import GuardRefused
from responders.kubernetes import calls
from responders.kubernetes.client import KubeRefused, KubernetesClient, KubeUnavailable
from responders.kubernetes.const import LOG_LINE_LIMIT, LOG_TEXT_LIMIT, MAX_LOG_PODS
from responders.kubernetes.deployments import read as read_deployment
from responders.kubernetes.guards import check_namespace, every_namespace
from responders.kubernetes.views import Event, Pod, Workload

Json = dict[str, Any]

_KINDS = {
    kind.lower(): kind
    for kind in (
        "Pod",
        "Node",
        "Deployment",
        "ReplicaSet",
        "DaemonSet",
        "StatefulSet",
        "Job",
        "CronJob",
        "Service",
        "PersistentVolumeClaim",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    )
}


def namespaces_to_read(client: KubernetesClient, namespace: str | None) -> list[str | None]:
    """``[namespace]`` (allowlist checked); without one, every allowed namespace (``[None]``
    meaning all of them when the allowlist is ``["*"]``)."""
    if namespace is not None:
        check_namespace(client, namespace)
        return [namespace]
    if every_namespace(client):
        return [None]
    if not client.namespaces:
        raise GuardRefused("kubernetes.namespaces is empty: no namespace may be read")
    return list(client.namespaces)


async def selector_of(client: KubernetesClient, namespace: str, deployment: str) -> str:
    """The label selector of a deployment's pods."""
    found = await read_deployment(client, namespace, deployment)
    return Workload.model_validate(found).spec.selector.query()


async def list_pods(
    client: KubernetesClient,
    namespace: str | None,
    *,
    selector: str | None = None,
    deployment: str | None = None,
    node: str | None = None,
) -> list[Json]:
    """Pods by namespace (or every allowed one), label selector or deployment, and node."""
    where = namespaces_to_read(client, namespace)
    if deployment is not None and namespace is not None:
        selector = await selector_of(client, namespace, deployment)
    query: dict[str, str | int] = {}
    if selector:
        query["labelSelector"] = selector
    if node:
        query["fieldSelector"] = f"spec.nodeName={node}"
    pods: list[Json] = []
    for ns in where:
        answer = await client.request(calls.LIST_PODS, namespace=ns, query=query)
        pods.extend(answer.get("items", []))
    return sorted(pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))


def pod_status(pod: Json) -> Json:
    """Phase, readiness, restarts and the last termination reason of each container."""
    view = Pod.model_validate(pod)
    status = view.status
    containers: list[Json] = [
        {
            "name": item.name,
            "ready": item.ready,
            "restarts": item.restart_count,
            "waiting_reason": item.state.waiting.reason,
            "last_termination_reason": item.last_state.terminated.reason,
            "last_exit_code": item.last_state.terminated.exit_code,
            "last_finished_at": item.last_state.terminated.finished_at,
        }
        for item in status.container_statuses
    ]
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions)
    return {
        "namespace": view.metadata.namespace,
        "name": view.metadata.name,
        "node": view.spec.node_name,
        "phase": status.phase,
        "ready": ready,
        "restarts": sum(c.restart_count for c in status.container_statuses),
        "reason": status.reason,
        "containers": containers,
    }


def _involved(selector: str) -> str:
    kind, _, name = selector.partition("/")
    kind = _KINDS.get(kind.lower(), kind[:1].upper() + kind[1:])
    return f"involvedObject.kind={kind},involvedObject.name={name}"


async def list_events(
    client: KubernetesClient,
    namespace: str | None,
    field_selector: str | None,
    involved_object: str | None,
    limit: int,
) -> list[Json]:
    """The newest ``limit`` events, newest first."""
    where = namespaces_to_read(client, namespace)
    selector = _involved(involved_object) if involved_object is not None else field_selector
    query: dict[str, str | int] = {"fieldSelector": selector} if selector else {}
    events: list[Event] = []
    for ns in where:
        answer = await client.request(calls.LIST_EVENTS, namespace=ns, query=query)
        events.extend(Event.model_validate(item) for item in answer.get("items") or [])
    events.sort(key=lambda e: e.seen, reverse=True)
    return [
        {
            "namespace": e.metadata.namespace or None,
            "type": e.type,
            "reason": e.reason,
            "object": f"{e.involved_object.kind}/{e.involved_object.name}",
            "message": e.message,
            "count": e.count,
            "last_seen": e.seen,
        }
        for e in events[:limit]
    ]


async def pod_logs(
    client: KubernetesClient,
    pods: list[Json],
    *,
    container: str | None,
    tail_lines: int,
    since_s: int | None,
    previous: bool,
) -> Json:
    """The last ``tail_lines`` lines of each pod (at most MAX_LOG_PODS), lines and the whole
    text truncated; a pod whose logs cannot be read says why."""
    budget = LOG_TEXT_LIMIT
    entries = []
    truncated = len(pods) > MAX_LOG_PODS
    for pod in pods[:MAX_LOG_PODS]:
        view = Pod.model_validate(pod)
        meta = view.metadata
        names = [c.name for c in view.spec.containers]
        chosen = container or (names[0] if names else "")
        query: dict[str, str | int] = {"tailLines": tail_lines, "container": chosen}
        if since_s is not None:
            query["sinceSeconds"] = since_s
        if previous:
            query["previous"] = "true"
        entry: Json = {"pod": f"{meta.namespace}/{meta.name}", "container": chosen}
        try:
            text = await client.request(
                calls.GET_POD_LOG, namespace=meta.namespace, name=meta.name, query=query
            )
        except (KubeRefused, KubeUnavailable) as err:
            entry["error"] = str(err)
            entries.append(entry)
            continue
        lines = []
        for line in str(text).splitlines()[-tail_lines:]:
            cut = line[:LOG_LINE_LIMIT]
            truncated = truncated or cut != line
            lines.append(cut)
        kept: list[str] = []
        for line in reversed(lines):  # the newest lines matter most
            if budget - len(line) - 1 < 0:
                truncated = True
                break
            budget -= len(line) + 1
            kept.append(line)
        entry["lines"] = list(reversed(kept))
        entries.append(entry)
    return {"pods": entries, "truncated": truncated}
