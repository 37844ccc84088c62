"""``kubernetes.*`` actions. Their ``run`` arrives with the Kubernetes responder's own issue;
until then the engine records dry runs from the ``describe_*`` sentences."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from bot.config import format_duration
from responders.common import not_built, pairs
from responders.kubernetes.const import SYSTEM
from responders.kubernetes.models import (
    CordonParams,
    DeleteNodeParams,
    DeploymentParams,
    DrainParams,
    EventsParams,
    LogsParams,
    NodeParams,
    PodsParams,
    RestartParams,
    RollbackParams,
    RolloutHistoryParams,
    ScaleParams,
    SetEnvParams,
    SetResourcesParams,
    UncordonParams,
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
    return f"would set {pairs(params.env)} on {_container(params.container, params)}"


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


@action(
    "kubernetes.rollout_history", kind=READ, integration=SYSTEM, describe=describe_rollout_history
)
async def rollout_history(ctx: StepContext, params: RolloutHistoryParams) -> StepResult:
    """Revisions of the deployment, its current revision and the age of its last change."""
    raise not_built("kubernetes.rollout_history", SYSTEM)


@action("kubernetes.rollback", kind=WRITE, integration=SYSTEM, describe=describe_rollback)
async def rollback(ctx: StepContext, params: RollbackParams) -> StepResult:
    """``kubectl rollout undo`` with before/after revisions in the output."""
    raise not_built("kubernetes.rollback", SYSTEM)


@action("kubernetes.scale", kind=WRITE, integration=SYSTEM, describe=describe_scale)
async def scale(ctx: StepContext, params: ScaleParams) -> StepResult:
    """Patch the scale subresource."""
    raise not_built("kubernetes.scale", SYSTEM)


@action("kubernetes.restart", kind=WRITE, integration=SYSTEM, describe=describe_restart)
async def restart(ctx: StepContext, params: RestartParams) -> StepResult:
    """Rollout restart (``kubectl.kubernetes.io/restartedAt``)."""
    raise not_built("kubernetes.restart", SYSTEM)


@action("kubernetes.set_env", kind=WRITE, integration=SYSTEM, describe=describe_set_env)
async def set_env(ctx: StepContext, params: SetEnvParams) -> StepResult:
    """Set environment variables on a container of the pod template."""
    raise not_built("kubernetes.set_env", SYSTEM)


@action("kubernetes.set_resources", kind=WRITE, integration=SYSTEM, describe=describe_set_resources)
async def set_resources(ctx: StepContext, params: SetResourcesParams) -> StepResult:
    """Set resource limits/requests on a container of the pod template."""
    raise not_built("kubernetes.set_resources", SYSTEM)


@action("kubernetes.wait_rollout", kind=READ, integration=SYSTEM, describe=describe_wait_rollout)
async def wait_rollout(ctx: StepContext, params: WaitRolloutParams) -> StepResult:
    """Wait until the deployment's rollout completes."""
    raise not_built("kubernetes.wait_rollout", SYSTEM)


@action("kubernetes.cordon", kind=WRITE, integration=SYSTEM, describe=describe_cordon)
async def cordon(ctx: StepContext, params: CordonParams) -> StepResult:
    """Mark the node unschedulable (quorum guard first)."""
    raise not_built("kubernetes.cordon", SYSTEM)


@action("kubernetes.uncordon", kind=WRITE, integration=SYSTEM, describe=describe_uncordon)
async def uncordon(ctx: StepContext, params: UncordonParams) -> StepResult:
    """Mark the node schedulable."""
    raise not_built("kubernetes.uncordon", SYSTEM)


@action("kubernetes.drain", kind=WRITE, integration=SYSTEM, describe=describe_drain)
async def drain(ctx: StepContext, params: DrainParams) -> StepResult:
    """Cordon and evict every pod of the node (PDB-aware)."""
    raise not_built("kubernetes.drain", SYSTEM)


@action("kubernetes.delete_node", kind=WRITE, integration=SYSTEM, describe=describe_delete_node)
async def delete_node(ctx: StepContext, params: DeleteNodeParams) -> StepResult:
    """Delete the Node object."""
    raise not_built("kubernetes.delete_node", SYSTEM)


@action("kubernetes.logs", kind=READ, integration=SYSTEM, describe=describe_logs)
async def logs(ctx: StepContext, params: LogsParams) -> StepResult:
    """The last log lines of the selected pods."""
    raise not_built("kubernetes.logs", SYSTEM)


@action("kubernetes.events", kind=READ, integration=SYSTEM, describe=describe_events)
async def events(ctx: StepContext, params: EventsParams) -> StepResult:
    """Recent events, newest first."""
    raise not_built("kubernetes.events", SYSTEM)


@action("kubernetes.pods", kind=READ, integration=SYSTEM, describe=describe_pods)
async def pods(ctx: StepContext, params: PodsParams) -> StepResult:
    """Pods with phase, readiness, restarts and last termination reasons."""
    raise not_built("kubernetes.pods", SYSTEM)
