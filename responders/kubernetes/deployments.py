"""What the deployment actions do, against the API server: history, rollback, rollout status,
scale, restart, env and resources. Each write returns before/after for the step output."""

from __future__ import annotations

import asyncio
import copy
import math
from datetime import datetime, timedelta
from typing import Any

from bot.config import format_duration
from bot.errors import PermanentError
from responders.kubernetes import calls
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.const import (
    LAST_APPLIED_ANNOTATION,
    PATCH_MERGE,
    POD_TEMPLATE_HASH,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
)
from responders.kubernetes.views import Container, Object, PodTemplate, Workload, WorkloadList

Json = dict[str, Any]

# Annotations a rollback keeps from the deployment itself (kubectl's annotationsToSkip).
_DEPLOYMENT_OWN = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


async def read(client: KubernetesClient, namespace: str, name: str) -> Json:
    """The deployment."""
    answer: Json = await client.request(calls.GET_DEPLOYMENT, namespace=namespace, name=name)
    return answer


def revision_of(obj: Json) -> int | None:
    """``deployment.kubernetes.io/revision`` of a deployment or ReplicaSet."""
    return Object.model_validate(obj).metadata.revision


def images(template: Json) -> list[str]:
    """The container images of a pod template."""
    return PodTemplate.model_validate(template).images


def _created(obj: Json) -> datetime | None:
    stamp = Object.model_validate(obj).metadata.creation_timestamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


async def owned_replicasets(client: KubernetesClient, deployment: Json) -> list[Json]:
    """The ReplicaSets ``deployment`` controls, by ascending revision."""
    view = Workload.model_validate(deployment)
    meta = view.metadata
    answer = await client.request(
        calls.LIST_REPLICASETS,
        namespace=meta.namespace,
        query={"labelSelector": view.spec.selector.query()},
    )
    listed = WorkloadList.model_validate(answer).items
    owned = [
        rs
        for rs, rs_view in zip(answer.get("items") or [], listed, strict=True)
        if any(ref.controller and ref.uid == meta.uid for ref in rs_view.metadata.owner_references)
    ]
    return sorted(owned, key=lambda rs: revision_of(rs) or 0)


async def history(client: KubernetesClient, namespace: str, name: str, now: datetime) -> Json:
    """Revisions with images and creation times, the current one, the age of the last change."""
    deployment = await read(client, namespace, name)
    current = revision_of(deployment)
    revisions = []
    current_created: datetime | None = None
    for rs in await owned_replicasets(client, deployment):
        revision = revision_of(rs)
        created = _created(rs)
        if revision == current:
            current_created = created
        revisions.append(
            {
                "revision": revision,
                "replicaset": rs["metadata"]["name"],
                "images": images(rs["spec"]["template"]),
                "created": created.isoformat() if created else None,
                "change_cause": Object.model_validate(rs).metadata.change_cause,
            }
        )
    age = (now - current_created).total_seconds() if current_created else None
    return {
        "namespace": namespace,
        "deployment": name,
        "current_revision": current,
        "images": images(deployment["spec"]["template"]),
        "revisions": revisions,
        "last_change_age_s": None if age is None else max(round(age), 0),
    }


def _without_hash(template: Json) -> Json:
    cleaned = copy.deepcopy(template)
    labels = cleaned.get("metadata", {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH, None)
    return cleaned


async def rollback(
    client: KubernetesClient, namespace: str, name: str, revision: int | None, dry_run: bool
) -> Json:
    """``kubectl rollout undo`` (to ``revision``, or the previous one)."""
    deployment = await read(client, namespace, name)
    if Workload.model_validate(deployment).spec.paused:
        raise PermanentError(
            f"deployment {namespace}/{name} is paused: resume it before rolling back"
        )
    current = revision_of(deployment)
    replicasets = await owned_replicasets(client, deployment)
    target = _rollback_target(replicasets, current, revision, f"{namespace}/{name}")
    template = _without_hash(target["spec"]["template"])
    before = {"revision": current, "images": images(deployment["spec"]["template"])}
    to_revision = revision_of(target)
    if template == deployment["spec"]["template"]:
        return {
            "changed": False,
            "skipped": f"revision {to_revision} has the current template",
            "before": before,
            "after": before,
            "to_revision": to_revision,
        }
    own = Object.model_validate(deployment).metadata.annotations
    annotations = {k: v for k, v in own.items() if k in _DEPLOYMENT_OWN}
    target_annotations = Object.model_validate(target).metadata.annotations
    annotations.update({k: v for k, v in target_annotations.items() if k not in _DEPLOYMENT_OWN})
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    result = await client.request(
        calls.PATCH_DEPLOYMENT, namespace=namespace, name=name, body=patch, dry_run=dry_run
    )
    return {
        "changed": True,
        "before": before,
        "after": {"revision": to_revision, "images": images(result["spec"]["template"])},
        "to_revision": to_revision,
    }


def _rollback_target(
    replicasets: list[Json], current: int | None, revision: int | None, what: str
) -> Json:
    by_revision = {revision_of(rs): rs for rs in replicasets if revision_of(rs) is not None}
    if revision is not None:
        if revision not in by_revision:
            known = ", ".join(str(r) for r in sorted(r for r in by_revision if r is not None))
            raise PermanentError(f"{what} has no revision {revision} (known: {known or 'none'})")
        return by_revision[revision]
    previous = sorted(r for r in by_revision if r is not None and r != current)
    if not previous:
        raise PermanentError(f"{what} has no previous revision to roll back to")
    return by_revision[previous[-1]]


def rollout_state(deployment: Json) -> tuple[bool, str]:
    """kubectl's rollout-status rules: (done, what it waits for).

    PermanentError when the Progressing condition says ProgressDeadlineExceeded.
    """
    view = Workload.model_validate(deployment)
    meta, status = view.metadata, view.status
    name = f"{meta.namespace}/{meta.name}"
    if meta.generation > status.observed_generation:
        return False, "waiting for the deployment spec update to be observed"
    for condition in status.conditions:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            raise PermanentError(
                f"deployment {name} exceeded its progress deadline: {condition.message or ''}"
            )
    wanted = view.spec.replicas
    updated = status.updated_replicas
    replicas = status.replicas
    available = status.available_replicas
    if updated < wanted:
        return False, f"{updated} of {wanted} new replicas have been updated"
    if replicas > updated:
        return False, f"{replicas - updated} old replicas are pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas are available"
    return True, f"deployment {name} successfully rolled out"


async def wait_rollout(
    client: KubernetesClient, namespace: str, name: str, timeout_s: float
) -> Json:
    """Poll until the rollout is done; PermanentError at ``timeout_s`` saying what it waits for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        deployment = await read(client, namespace, name)
        done, message = rollout_state(deployment)
        if done:
            return {
                "namespace": namespace,
                "deployment": name,
                "revision": revision_of(deployment),
                "images": images(deployment["spec"]["template"]),
                "replicas": Workload.model_validate(deployment).status.replicas,
                "message": message,
            }
        if loop.time() >= deadline:
            raise PermanentError(
                f"rollout of {namespace}/{name} not finished after "
                f"{format_duration_s(timeout_s)}: {message}"
            )
        await asyncio.sleep(min(client.pacing.rollout_poll_s, max(deadline - loop.time(), 0)))


def _scaled_to(scale: Json, default: int) -> int:
    """The replicas a Scale answer says (``default`` when it says none)."""
    spec = Workload.model_validate(scale).spec
    return spec.replicas if "replicas" in spec.model_fields_set else default


def format_duration_s(seconds: float) -> str:
    """``90`` → ``1m30s``."""
    return format_duration(timedelta(seconds=seconds))


async def scale(
    client: KubernetesClient,
    namespace: str,
    name: str,
    *,
    replicas: int | None,
    factor: float | None,
    min_replicas: int | None,
    max_replicas: int | None,
    dry_run: bool,
) -> Json:
    """Set replicas (absolute, or current times factor rounded up), within the caps."""
    deployment = await read(client, namespace, name)
    current = Workload.model_validate(deployment).spec.replicas
    wanted = replicas if replicas is not None else math.ceil(current * (factor or 1.0))
    capped = wanted
    if max_replicas is not None:
        capped = min(capped, max_replicas)
    if min_replicas is not None:
        capped = max(capped, min_replicas)
    result = await client.request(
        calls.PATCH_DEPLOYMENT_SCALE,
        namespace=namespace,
        name=name,
        body={"spec": {"replicas": capped}},
        content_type=PATCH_MERGE,
        dry_run=dry_run,
    )
    return {
        "changed": capped != current,
        "before": {"replicas": current},
        "after": {"replicas": _scaled_to(result, capped)},
        "requested": wanted,
        "capped": capped != wanted,
    }


async def restart(
    client: KubernetesClient, namespace: str, name: str, now: datetime, dry_run: bool
) -> Json:
    """``kubectl rollout restart``: a new restartedAt annotation on the pod template."""
    deployment = await read(client, namespace, name)
    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
    result = await client.request(
        calls.PATCH_DEPLOYMENT, namespace=namespace, name=name, body=body, dry_run=dry_run
    )

    def state(obj: Json) -> Json:
        view = Workload.model_validate(obj)
        return {
            "generation": view.metadata.generation,
            "restarted_at": view.spec.template.metadata.annotations.get(RESTARTED_AT_ANNOTATION),
        }

    return {"changed": True, "before": state(deployment), "after": state(result)}


def _container(deployment: Json, container: str | None) -> Json:
    containers: list[Json] = deployment["spec"]["template"]["spec"]["containers"]
    meta = deployment["metadata"]
    what = f"deployment {meta['namespace']}/{meta['name']}"
    if container is None:
        if len(containers) != 1:
            names = ", ".join(c["name"] for c in containers)
            raise PermanentError(f"{what} has several containers ({names}): name one")
        return containers[0]
    for candidate in containers:
        if candidate["name"] == container:
            return candidate
    raise PermanentError(f"{what} has no container {container}")


def _env(container: Json) -> dict[str, str]:
    return {item.name: item.value for item in Container.model_validate(container).env}


async def set_env(
    client: KubernetesClient,
    namespace: str,
    name: str,
    container: str | None,
    env: dict[str, str],
    remove: list[str],
    dry_run: bool,
) -> Json:
    """Strategic merge on the container's env by name; ``remove`` with ``$patch: delete``."""
    deployment = await read(client, namespace, name)
    target = _container(deployment, container)
    entries: list[Json] = [{"name": k, "value": v} for k, v in env.items()]
    entries += [{"name": k, "$patch": "delete"} for k in remove]
    body = {
        "spec": {"template": {"spec": {"containers": [{"name": target["name"], "env": entries}]}}}
    }
    result = await client.request(
        calls.PATCH_DEPLOYMENT, namespace=namespace, name=name, body=body, dry_run=dry_run
    )
    before, after = _env(target), _env(_container(result, target["name"]))
    return {
        "changed": before != after,
        "container": target["name"],
        "before": {"env": before},
        "after": {"env": after},
    }


async def set_resources(
    client: KubernetesClient,
    namespace: str,
    name: str,
    container: str | None,
    limits: dict[str, str],
    requests: dict[str, str],
    dry_run: bool,
) -> Json:
    """Strategic merge of the container's resource limits and requests."""
    deployment = await read(client, namespace, name)
    target = _container(deployment, container)
    resources: Json = {}
    if limits:
        resources["limits"] = limits
    if requests:
        resources["requests"] = requests
    body = {
        "spec": {
            "template": {"spec": {"containers": [{"name": target["name"], "resources": resources}]}}
        }
    }
    result = await client.request(
        calls.PATCH_DEPLOYMENT, namespace=namespace, name=name, body=body, dry_run=dry_run
    )
    before = target.get("resources") or {}
    after = _container(result, target["name"]).get("resources") or {}
    return {
        "changed": before != after,
        "container": target["name"],
        "before": {"resources": before},
        "after": {"resources": after},
    }
