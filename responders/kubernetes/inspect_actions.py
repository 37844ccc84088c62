"""``kubernetes.pod``, ``kubernetes.node`` and ``kubernetes.workload``: read-only evidence
about the one object an alert names (kube-prometheus-stack's labels: ``pod``, ``node``,
``deployment``, ``statefulset``, ``job_name``, ``horizontalpodautoscaler``,
``persistentvolumeclaim``)."""

from __future__ import annotations

from bot.actions.contract import ActionKind, StepContext, StepResult
from bot.actions.registry import action
from responders.kubernetes.actions import kube_client
from responders.kubernetes.const import SYSTEM
from responders.kubernetes.inspect import node_report, pod_report, workload_report
from responders.kubernetes.models import (
    NodeOutput,
    NodeStatusParams,
    PodOutput,
    PodParams,
    WorkloadOutput,
    WorkloadParams,
)

READ = ActionKind.READ


def describe_pod(params: PodParams) -> str:
    """Dry-run sentence."""
    return (
        f"would read pod {params.namespace}/{params.pod}: status, restarts, last termination "
        "reasons, its owner and whether its crashes began with its deployment's newest revision"
    )


def describe_node(params: NodeStatusParams) -> str:
    """Dry-run sentence."""
    return f"would read node {params.node}: conditions, cordon, taints and its pods"


def describe_workload(params: WorkloadParams) -> str:
    """Dry-run sentence."""
    return f"would read {params.kind} {params.namespace}/{params.name}: its status and pods"


@action("kubernetes.pod", kind=READ, integration=SYSTEM, describe=describe_pod, output=PodOutput)
async def pod(ctx: StepContext, params: PodParams) -> StepResult:
    """One pod, its owner and its revision."""
    report = await pod_report(kube_client(ctx, params.namespace), params.namespace, params.pod)
    where = f"pod {params.namespace}/{params.pod}"
    origin = ""
    if report["deployment"] is not None:
        began = report["crashes_began_with_newest_revision"]
        origin = (
            f"; deployment {report['deployment']} revision {report['revision']} of "
            f"{report['newest_revision']}"
            + ("; its crashes began with the newest revision" if began else "")
        )
    return StepResult(
        output=report,
        summary=f"{where} {report['phase']}, {report['restarts']} restarts"
        + (", crash-looping" if report["crash_looping"] else "")
        + origin,
    )


@action("kubernetes.node", kind=READ, integration=SYSTEM, describe=describe_node, output=NodeOutput)
async def node(ctx: StepContext, params: NodeStatusParams) -> StepResult:
    """One node's conditions and pods."""
    report = await node_report(kube_client(ctx), params.node)
    state = "Ready" if report["ready"] else f"NotReady ({report['ready_reason']})"
    cordon = ", cordoned" if report["unschedulable"] else ""
    return StepResult(
        output=report,
        summary=f"node {params.node} {state}{cordon}, {len(report['pods'])} pods",
    )


@action(
    "kubernetes.workload",
    kind=READ,
    integration=SYSTEM,
    describe=describe_workload,
    output=WorkloadOutput,
)
async def workload(ctx: StepContext, params: WorkloadParams) -> StepResult:
    """One workload's status and pods."""
    client = kube_client(ctx, params.namespace)
    report = await workload_report(client, params.kind, params.namespace, params.name)
    fields = ", ".join(
        f"{k} {v}" for k, v in report["status"].items() if k != "conditions" and v is not None
    )
    return StepResult(
        output=report,
        summary=f"{params.kind} {params.namespace}/{params.name}: {fields}; "
        f"{len(report['pods'])} pods, {report['not_ready']} not ready",
    )
