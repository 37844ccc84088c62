"""``kubernetes.*`` actions: the ``describe_*`` sentences (dry runs while the integration is
disabled) and the ``@action`` functions that talk to the API server through the shared
``KubernetesClient``. Namespaced steps check ``kubernetes.namespaces`` before any call; every
write records before/after in its output and its summary (the audit log), and with
``ctx.dry_run`` sends ``dryRun=All`` so the server validates it and changes nothing."""

from __future__ import annotations

from typing import Any

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.config import format_duration
from bot.errors import PermanentError
from responders.common import pairs
from responders.kubernetes import deployments, evidence, nodes
from responders.kubernetes.calls import GET_POD
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.const import SYSTEM
from responders.kubernetes.guards import check_namespace
from responders.kubernetes.models import (
    ChangeOutput,
    ContainerChangeOutput,
    CordonParams,
    DeleteNodeParams,
    DeploymentParams,
    DrainOutput,
    DrainParams,
    EventsOutput,
    EventsParams,
    LogsOutput,
    LogsParams,
    NodeChangeOutput,
    NodeParams,
    PodsOutput,
    PodsParams,
    RestartParams,
    RollbackOutput,
    RollbackParams,
    RolloutHistoryOutput,
    RolloutHistoryParams,
    ScaleOutput,
    ScaleParams,
    SetEnvParams,
    SetResourcesParams,
    UncordonParams,
    WaitRolloutOutput,
    WaitRolloutParams,
)

READ = ActionKind.READ
WRITE = ActionKind.WRITE


def _deployment(params: DeploymentParams) -> str:
    return f"deployment {params.namespace}/{params.deployment}"


def _container(container: str | None, params: DeploymentParams) -> str:
    where = f"container {container}" if container else "the only container"
    return f"{where} of {_deployment(params)}"


def _guard(params: NodeParams) -> str:
    if params.consensus_selector is None:
        return ""
    return f" (quorum guard on {params.consensus_selector} nodes)"


def describe_rollout_history(params: RolloutHistoryParams) -> str:
    """Dry-run sentence."""
    return f"would read the rollout history of {_deployment(params)}"


def describe_rollback(params: RollbackParams) -> str:
    """Dry-run sentence."""
    to = "its previous revision" if params.revision is None else f"revision {params.revision}"
    return f"would roll back {_deployment(params)} to {to}"


def describe_scale(params: ScaleParams) -> str:
    """Dry-run sentence."""
    if params.replicas is not None:
        return f"would scale {_deployment(params)} to {params.replicas} replicas"
    cap = f", at most {params.max_replicas}" if params.max_replicas is not None else ""
    return f"would scale {_deployment(params)} by a factor of {params.factor:g} (rounded up{cap})"


def describe_restart(params: RestartParams) -> str:
    """Dry-run sentence."""
    return f"would restart the pods of {_deployment(params)} (rollout restart)"


def describe_set_env(params: SetEnvParams) -> str:
    """Dry-run sentence."""
    changes = [pairs(params.env)] if params.env else []
    if params.remove:
        changes.append("remove " + ", ".join(sorted(params.remove)))
    return f"would set {'; '.join(changes)} on {_container(params.container, params)}"


def describe_set_resources(params: SetResourcesParams) -> str:
    """Dry-run sentence."""
    parts = [
        f"{kind} {pairs(values)}"
        for kind, values in (("limits", params.limits), ("requests", params.requests))
        if values
    ]
    return f"would set {' and '.join(parts)} on {_container(params.container, params)}"


def describe_wait_rollout(params: WaitRolloutParams) -> str:
    """Dry-run sentence."""
    return (
        f"would wait up to {format_duration(params.timeout)} for {_deployment(params)} "
        "to finish rolling out"
    )


def describe_cordon(params: CordonParams) -> str:
    """Dry-run sentence."""
    return f"would cordon node {params.node}{_guard(params)}"


def describe_uncordon(params: UncordonParams) -> str:
    """Dry-run sentence."""
    return f"would uncordon node {params.node}"


def describe_drain(params: DrainParams) -> str:
    """Dry-run sentence."""
    emptydir = "including" if params.allow_emptydir else "refusing"
    return (
        f"would drain node {params.node}: cordon it and evict its pods within "
        f"{format_duration(params.timeout)} ({emptydir} pods with emptyDir volumes, "
        f"respecting PodDisruptionBudgets){_guard(params)}"
    )


def describe_delete_node(params: DeleteNodeParams) -> str:
    """Dry-run sentence."""
    return f"would delete the Node object {params.node}{_guard(params)}"


def describe_logs(params: LogsParams) -> str:
    """Dry-run sentence."""
    if params.pod is not None:
        source = f"pod {params.namespace}/{params.pod}"
    elif params.deployment is not None:
        source = f"the pods of deployment {params.namespace}/{params.deployment}"
    else:
        source = f"the pods matching {params.selector} in {params.namespace}"
    if params.node is not None:
        source += f" on node {params.node}"
    container = f", container {params.container}" if params.container else ""
    since = f" from the last {format_duration(params.since)}" if params.since else ""
    previous = " of the previous (crashed) container" if params.previous else ""
    return (
        f"would read the last {params.tail_lines} log lines{since}{previous} of {source}{container}"
    )


def describe_events(params: EventsParams) -> str:
    """Dry-run sentence."""
    where = f"namespace {params.namespace}" if params.namespace else "every allowed namespace"
    if params.involved_object is not None:
        what = f"events of {params.involved_object}"
    elif params.field_selector is not None:
        what = f"events matching {params.field_selector}"
    else:
        what = "events"
    return f"would read the latest {params.limit} {what} in {where}"


def describe_pods(params: PodsParams) -> str:
    """Dry-run sentence."""
    if params.deployment is not None:
        what = f"the pods of deployment {params.namespace}/{params.deployment}"
    else:
        selected = f" matching {params.selector}" if params.selector else ""
        where = f" in {params.namespace}" if params.namespace else ""
        what = f"the pods{selected}{where}"
    on = f" on node {params.node}" if params.node else ""
    return f"would list {what}{on} with status, restarts and last termination reasons"


def kube_client(ctx: StepContext, namespace: str | None = None) -> KubernetesClient:
    """The shared client; checks ``namespace`` against ``kubernetes.namespaces`` first."""
    client = ctx.clients.get(SYSTEM)
    if not isinstance(client, KubernetesClient):
        raise PermanentError("kubernetes: no client (kubernetes.mode is disabled)")
    if namespace is not None:
        check_namespace(client, namespace)
    return client


def _write(ctx: StepContext, output: dict[str, Any], summary: str) -> StepResult:
    prefix = "dry run: " if ctx.dry_run else ""
    return StepResult(
        output={**output, "dry_run": ctx.dry_run}, summary=prefix + summary, dry_run=ctx.dry_run
    )


def _arrow(before: object, after: object) -> str:
    return f"{before} → {after}" if before != after else f"{after} (unchanged)"


@action(
    "kubernetes.rollout_history",
    kind=READ,
    integration=SYSTEM,
    describe=describe_rollout_history,
    output=RolloutHistoryOutput,
)
async def rollout_history(ctx: StepContext, params: RolloutHistoryParams) -> StepResult:
    """Revisions of the deployment, its current revision and the age of its last change."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.history(client, params.namespace, params.deployment, ctx.now())
    return StepResult(
        output=output,
        summary=f"{_deployment(params)} is at revision {output['current_revision']} "
        f"({len(output['revisions'])} revisions kept)",
    )


@action(
    "kubernetes.rollback",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_rollback,
    output=RollbackOutput,
)
async def rollback(ctx: StepContext, params: RollbackParams) -> StepResult:
    """``kubectl rollout undo`` with before/after revisions in the output."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.rollback(
        client, params.namespace, params.deployment, params.revision, ctx.dry_run
    )
    before, after = output["before"], output["after"]
    if not output["changed"]:
        return _write(ctx, output, f"{_deployment(params)} not rolled back: {output['skipped']}")
    return _write(
        ctx,
        output,
        f"rolled back {_deployment(params)} from revision {before['revision']} "
        f"({', '.join(before['images'])}) to revision {output['to_revision']} "
        f"({', '.join(after['images'])})",
    )


@action(
    "kubernetes.scale", kind=WRITE, integration=SYSTEM, describe=describe_scale, output=ScaleOutput
)
async def scale(ctx: StepContext, params: ScaleParams) -> StepResult:
    """Patch the scale subresource."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.scale(
        client,
        params.namespace,
        params.deployment,
        replicas=params.replicas,
        factor=params.factor,
        min_replicas=params.min_replicas,
        max_replicas=params.max_replicas,
        dry_run=ctx.dry_run,
    )
    capped = f" (capped from {output['requested']})" if output["capped"] else ""
    return _write(
        ctx,
        output,
        f"scaled {_deployment(params)}: replicas "
        f"{_arrow(output['before']['replicas'], output['after']['replicas'])}{capped}",
    )


@action(
    "kubernetes.restart",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_restart,
    output=ChangeOutput,
)
async def restart(ctx: StepContext, params: RestartParams) -> StepResult:
    """Rollout restart (``kubectl.kubernetes.io/restartedAt``)."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.restart(
        client, params.namespace, params.deployment, ctx.now(), ctx.dry_run
    )
    return _write(
        ctx,
        output,
        f"restarted {_deployment(params)} (restartedAt "
        f"{_arrow(output['before']['restarted_at'], output['after']['restarted_at'])})",
    )


@action(
    "kubernetes.set_env",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_set_env,
    output=ContainerChangeOutput,
)
async def set_env(ctx: StepContext, params: SetEnvParams) -> StepResult:
    """Set (or remove) environment variables on a container of the pod template."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.set_env(
        client,
        params.namespace,
        params.deployment,
        params.container,
        dict(params.env),
        list(params.remove),
        ctx.dry_run,
    )
    before, after = output["before"]["env"], output["after"]["env"]
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    detail = ", ".join(
        f"{k}: {before.get(k, '<unset>')} → {after.get(k, '<unset>')}" for k in changed
    )
    return _write(
        ctx,
        output,
        f"env of container {output['container']} of {_deployment(params)}: {detail or 'unchanged'}",
    )


@action(
    "kubernetes.set_resources",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_set_resources,
    output=ContainerChangeOutput,
)
async def set_resources(ctx: StepContext, params: SetResourcesParams) -> StepResult:
    """Set resource limits/requests on a container of the pod template."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.set_resources(
        client,
        params.namespace,
        params.deployment,
        params.container,
        dict(params.limits),
        dict(params.requests),
        ctx.dry_run,
    )
    return _write(
        ctx,
        output,
        f"resources of container {output['container']} of {_deployment(params)}: "
        f"{_arrow(output['before']['resources'], output['after']['resources'])}",
    )


@action(
    "kubernetes.wait_rollout",
    kind=READ,
    integration=SYSTEM,
    describe=describe_wait_rollout,
    output=WaitRolloutOutput,
)
async def wait_rollout(ctx: StepContext, params: WaitRolloutParams) -> StepResult:
    """Wait until the deployment's rollout completes (kubectl's rollout-status rules)."""
    client = kube_client(ctx, params.namespace)
    output = await deployments.wait_rollout(
        client, params.namespace, params.deployment, params.timeout.total_seconds()
    )
    return StepResult(output=output, summary=output["message"])


@action(
    "kubernetes.cordon",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_cordon,
    output=NodeChangeOutput,
)
async def cordon(ctx: StepContext, params: CordonParams) -> StepResult:
    """Mark the node unschedulable (quorum guard first)."""
    output = await nodes.set_unschedulable(
        kube_client(ctx), params.node, True, ctx.dry_run, params.consensus_selector
    )
    return _write(ctx, output, _node_summary("cordoned", output))


@action(
    "kubernetes.uncordon",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_uncordon,
    output=NodeChangeOutput,
)
async def uncordon(ctx: StepContext, params: UncordonParams) -> StepResult:
    """Mark the node schedulable."""
    output = await nodes.set_unschedulable(kube_client(ctx), params.node, False, ctx.dry_run)
    return _write(ctx, output, _node_summary("uncordoned", output))


def _node_summary(verb: str, output: dict[str, Any]) -> str:
    before, after = output["before"]["unschedulable"], output["after"]["unschedulable"]
    return f"{verb} node {output['node']} (unschedulable {_arrow(before, after)})"


@action(
    "kubernetes.drain", kind=WRITE, integration=SYSTEM, describe=describe_drain, output=DrainOutput
)
async def drain(ctx: StepContext, params: DrainParams) -> StepResult:
    """Cordon and evict every pod of the node (PDB-aware)."""
    output = await nodes.drain(
        kube_client(ctx),
        params.node,
        timeout_s=params.timeout.total_seconds(),
        allow_emptydir=params.allow_emptydir,
        allow_unmanaged=params.allow_unmanaged,
        dry_run=ctx.dry_run,
        quorum_selector=params.consensus_selector,
    )
    blocked = (
        f", {len(output['blocked'])} blocked by PodDisruptionBudgets"
        if output.get("blocked")
        else ""
    )
    return _write(
        ctx,
        output,
        _node_summary("drained", output)
        + f": {len(output['evicted'])} pods evicted, {len(output['skipped'])} skipped{blocked}",
    )


@action(
    "kubernetes.delete_node",
    kind=WRITE,
    integration=SYSTEM,
    describe=describe_delete_node,
    output=NodeChangeOutput,
)
async def delete_node(ctx: StepContext, params: DeleteNodeParams) -> StepResult:
    """Delete the Node object (quorum guard first)."""
    output = await nodes.delete_node(
        kube_client(ctx), params.node, ctx.dry_run, params.consensus_selector
    )
    return _write(ctx, output, f"deleted the Node object {params.node}")


@action(
    "kubernetes.logs",
    kind=READ,
    integration=SYSTEM,
    describe=describe_logs,
    output=LogsOutput,
)
async def logs(ctx: StepContext, params: LogsParams) -> StepResult:
    """The last log lines of the selected pods."""
    client = kube_client(ctx, params.namespace)
    if params.pod is not None:
        found = await client.request(GET_POD, namespace=params.namespace, name=params.pod)
        pods = [found]
    else:
        pods = await evidence.list_pods(
            client,
            params.namespace,
            selector=params.selector,
            deployment=params.deployment,
            node=params.node,
        )
    output = await evidence.pod_logs(
        client,
        pods,
        container=params.container,
        tail_lines=params.tail_lines,
        since_s=None if params.since is None else int(params.since.total_seconds()),
        previous=params.previous,
    )
    lines = sum(len(entry.get("lines", [])) for entry in output["pods"])
    return StepResult(output=output, summary=f"{lines} log lines from {len(output['pods'])} pods")


@action(
    "kubernetes.events",
    kind=READ,
    integration=SYSTEM,
    describe=describe_events,
    output=EventsOutput,
)
async def events(ctx: StepContext, params: EventsParams) -> StepResult:
    """Recent events, newest first."""
    client = kube_client(ctx, params.namespace)
    found = await evidence.list_events(
        client, params.namespace, params.field_selector, params.involved_object, params.limit
    )
    warnings = sum(1 for e in found if e["type"] == "Warning")
    return StepResult(
        output={"events": found, "count": len(found), "warnings": warnings},
        summary=f"{len(found)} events ({warnings} warnings)",
    )


@action(
    "kubernetes.pods",
    kind=READ,
    integration=SYSTEM,
    describe=describe_pods,
    output=PodsOutput,
)
async def pods(ctx: StepContext, params: PodsParams) -> StepResult:
    """Pods with phase, readiness, restarts and last termination reasons."""
    client = kube_client(ctx, params.namespace)
    found = [
        evidence.pod_status(pod)
        for pod in await evidence.list_pods(
            client,
            params.namespace,
            selector=params.selector,
            deployment=params.deployment,
            node=params.node,
        )
    ]
    not_ready = sum(1 for p in found if not p["ready"])
    restarts = sum(p["restarts"] for p in found)
    return StepResult(
        output={"pods": found, "count": len(found), "not_ready": not_ready, "restarts": restarts},
        summary=f"{len(found)} pods, {not_ready} not ready, {restarts} restarts",
    )
