"""Params models of the ``kubernetes.*`` actions."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AliasChoices, Field, model_validator

from bot.actions.contract import ActionOutput, ActionParams
from bot.config import Duration
from responders.common import K8sLabelName, K8sName, NonEmptyStr, ScalarStr, is_template
from responders.kubernetes.const import (
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_EVENT_LIMIT,
    DEFAULT_ROLLOUT_TIMEOUT,
    DEFAULT_TAIL_LINES,
    INVOLVED_OBJECT,
    MAX_EVENT_LIMIT,
    MAX_REPLICAS,
    MAX_TAIL_LINES,
    QUANTITY,
    RESOURCE_NAME,
)

_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def _literal_matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if not is_template(value) and not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


EnvName = Annotated[str, _literal_matching(_ENV_NAME, "an environment variable name")]
ResourceName = Annotated[str, _literal_matching(RESOURCE_NAME, "a resource name such as memory")]
Quantity = Annotated[ScalarStr, _literal_matching(QUANTITY, "a quantity such as 500m, 2 or 512Mi")]
InvolvedObject = Annotated[
    str, _literal_matching(INVOLVED_OBJECT, "Kind/name, e.g. Node/worker-17")
]


def _set(*values: object) -> int:
    return sum(value is not None for value in values)


class DeploymentParams(ActionParams):
    """A deployment in a namespace."""

    namespace: K8sLabelName
    deployment: K8sName


class RolloutHistoryParams(DeploymentParams):
    """``kubernetes.rollout_history``: revisions, current revision, age of the last change."""


class RollbackParams(DeploymentParams):
    """``kubernetes.rollback``: to ``revision``, or the previous revision when None."""

    revision: int | None = Field(default=None, ge=1)


class ScaleParams(DeploymentParams):
    """``kubernetes.scale``: exactly one of ``replicas`` (absolute) or ``factor`` (relative).

    The result is kept within ``min_replicas`` and ``max_replicas`` when given; a factor
    rounds up.
    """

    replicas: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    factor: float | None = Field(default=None, gt=0, le=100)
    min_replicas: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    max_replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if _set(self.replicas, self.factor) != 1:
            raise ValueError("give exactly one of replicas or factor")
        if (
            self.replicas is not None
            and self.max_replicas is not None
            and self.replicas > self.max_replicas
        ):
            raise ValueError(f"replicas {self.replicas} is above max_replicas {self.max_replicas}")
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise ValueError("min_replicas is above max_replicas")
        return self


class RestartParams(DeploymentParams):
    """``kubernetes.restart``: rollout restart (new pods, same spec)."""


class SetEnvParams(DeploymentParams):
    """``kubernetes.set_env``: set variables on ``container`` (None: the only container);
    ``remove`` deletes variables by name."""

    container: K8sLabelName | None = None
    env: dict[EnvName, ScalarStr] = Field(default_factory=dict)
    remove: list[EnvName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.env and not self.remove:
            raise ValueError("give env, remove or both")
        if set(self.env) & set(self.remove):
            raise ValueError("a variable cannot be both set and removed")
        return self


class SetResourcesParams(DeploymentParams):
    """``kubernetes.set_resources``: set limits/requests on ``container`` (None: the only one)."""

    container: K8sLabelName | None = None
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict)
    requests: dict[ResourceName, Quantity] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something_to_set(self) -> Self:
        if not self.limits and not self.requests:
            raise ValueError("give limits, requests or both")
        return self


class WaitRolloutParams(DeploymentParams):
    """``kubernetes.wait_rollout``: wait until the rollout completes, fail after ``timeout``."""

    timeout: Duration = DEFAULT_ROLLOUT_TIMEOUT


class NodeParams(ActionParams):
    """A node, and the label selector of the consensus nodes the quorum guard protects
    (``consensus_selector``, or its alias ``quorum_selector``)."""

    node: K8sName
    consensus_selector: NonEmptyStr | None = Field(
        default=None, validation_alias=AliasChoices("consensus_selector", "quorum_selector")
    )


class CordonParams(NodeParams):
    """``kubernetes.cordon``: mark the node unschedulable."""


class UncordonParams(NodeParams):
    """``kubernetes.uncordon``: make the node schedulable again."""


class DeleteNodeParams(NodeParams):
    """``kubernetes.delete_node``: delete the Node object."""


class DrainParams(NodeParams):
    """``kubernetes.drain``: cordon, then evict every pod (PDB-aware) within ``timeout``."""

    timeout: Duration = DEFAULT_DRAIN_TIMEOUT
    allow_emptydir: bool = False
    allow_unmanaged: bool = False


class LogsParams(ActionParams):
    """``kubernetes.logs``: the last lines of one ``pod``, or of the pods of a ``deployment``
    or ``selector`` (optionally only those on ``node``)."""

    namespace: K8sLabelName
    pod: K8sName | None = None
    deployment: K8sName | None = None
    selector: NonEmptyStr | None = None
    node: K8sName | None = None
    container: K8sLabelName | None = None
    tail_lines: int = Field(default=DEFAULT_TAIL_LINES, ge=1, le=MAX_TAIL_LINES)
    since: Duration | None = None
    previous: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if _set(self.pod, self.deployment, self.selector) != 1:
            raise ValueError("give exactly one of pod, deployment or selector")
        if self.pod is not None and self.node is not None:
            raise ValueError("node narrows a deployment or selector, not a single pod")
        return self


class EventsParams(ActionParams):
    """``kubernetes.events``: recent events in ``namespace`` (None: every allowed namespace),
    narrowed by a ``field_selector`` or an ``involved_object`` (``Kind/name``)."""

    namespace: K8sLabelName | None = None
    field_selector: NonEmptyStr | None = None
    involved_object: InvolvedObject | None = None
    limit: int = Field(default=DEFAULT_EVENT_LIMIT, ge=1, le=MAX_EVENT_LIMIT)

    @model_validator(mode="after")
    def _narrowed(self) -> Self:
        if self.field_selector is not None and self.involved_object is not None:
            raise ValueError("give field_selector or involved_object, not both")
        if _set(self.namespace, self.field_selector, self.involved_object) == 0:
            raise ValueError("give a namespace, a field_selector or an involved_object")
        return self


class PodsParams(ActionParams):
    """``kubernetes.pods``: status, restarts and last termination reasons of pods."""

    namespace: K8sLabelName | None = None
    deployment: K8sName | None = None
    selector: NonEmptyStr | None = None
    node: K8sName | None = None

    @model_validator(mode="after")
    def _narrowed(self) -> Self:
        if self.deployment is not None and self.selector is not None:
            raise ValueError("give deployment or selector, not both")
        if self.deployment is not None and self.namespace is None:
            raise ValueError("deployment needs its namespace")
        if _set(self.namespace, self.selector, self.node) == 0:
            raise ValueError("give a namespace, a selector or a node")
        return self


class RolloutHistoryOutput(ActionOutput):
    """``kubernetes.rollout_history``: the current revision, its images, the kept revisions
    and how long ago the Deployment last changed (None when unknown)."""

    namespace: str = ""
    deployment: str = ""
    current_revision: int | None = None
    images: dict[str, str] = Field(default_factory=dict)
    revisions: list[dict[str, Any]] = Field(default_factory=list)
    last_change_age_s: int | None = None


class ChangeOutput(ActionOutput):
    """A Kubernetes write: whether it changed anything, before and after, and whether it was
    a server-side dry run (``dryRun=All``)."""

    changed: bool = False
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = False


class RollbackOutput(ChangeOutput):
    """``kubernetes.rollback``: ``skipped`` says why nothing changed, when it did not."""

    to_revision: int | None = None
    skipped: str | None = None


class ScaleOutput(ChangeOutput):
    """``kubernetes.scale``: the replicas requested, and whether ``max_replicas`` capped it."""

    requested: int | None = None
    capped: bool = False


class ContainerChangeOutput(ChangeOutput):
    """``kubernetes.set_env`` / ``set_resources``: the container changed."""

    container: str | None = None


class NodeChangeOutput(ChangeOutput):
    """``kubernetes.cordon`` / ``uncordon`` / ``delete_node``: the node."""

    node: str = ""


class DrainOutput(NodeChangeOutput):
    """``kubernetes.drain``: pods evicted, pods left (and why), PDB retries per pod."""

    evicted: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    pdb_retries: dict[str, int] = Field(default_factory=dict)


class WaitRolloutOutput(ActionOutput):
    """``kubernetes.wait_rollout``: the finished rollout."""

    namespace: str = ""
    deployment: str = ""
    revision: int | None = None
    images: dict[str, str] = Field(default_factory=dict)
    replicas: int = 0
    message: str = ""


class LogsOutput(ActionOutput):
    """``kubernetes.logs``: log lines per pod, and whether any were cut."""

    pods: list[dict[str, Any]] = Field(default_factory=list)
    truncated: bool = False


class EventsOutput(ActionOutput):
    """``kubernetes.events``: recent events, newest first."""

    events: list[dict[str, Any]] = Field(default_factory=list)
    count: int = 0
    warnings: int = 0


class PodsOutput(ActionOutput):
    """``kubernetes.pods``: pods with phase, readiness, restarts and termination reasons."""

    pods: list[dict[str, Any]] = Field(default_factory=list)
    count: int = 0
    not_ready: int = 0
    restarts: int = 0


class PodParams(ActionParams):
    """``kubernetes.pod``: one pod's status, its controller, its revision against its
    deployment's newest one."""

    namespace: K8sLabelName
    pod: K8sName


class NodeStatusParams(ActionParams):
    """``kubernetes.node``: a node's conditions, cordon, taints and pods."""

    node: K8sName


WorkloadKind = Literal[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "HorizontalPodAutoscaler",
    "PersistentVolumeClaim",
]


class WorkloadParams(ActionParams):
    """``kubernetes.workload``: the status of a workload (and its pods) of ``kind``."""

    kind: WorkloadKind
    namespace: K8sLabelName
    name: K8sName


class PodOutput(ActionOutput):
    """``kubernetes.pod``: the pod's status, its controller and, for a Deployment's pod, its
    revision against the deployment's newest one."""

    namespace: str = ""
    name: str = ""
    node: str | None = None
    phase: str | None = None
    ready: bool = False
    restarts: int = 0
    reason: str | None = None
    containers: list[dict[str, Any]] = Field(default_factory=list)
    owner: str | None = None
    """``Kind/name`` of the pod's controller."""
    crash_looping: bool = False
    deployment: str | None = None
    revision: int | None = None
    newest_revision: int | None = None
    previous_revision: int | None = None
    older_revisions_crashing: list[str] = Field(default_factory=list)
    crashes_began_with_newest_revision: bool = False
    """The pod crash-loops, is of the newest revision, an older revision exists and no pod
    of an older revision that is still there crashes."""


class NodeOutput(ActionOutput):
    """``kubernetes.node``: conditions, readiness, cordon, taints and pods of the node."""

    name: str = ""
    ready: bool = False
    ready_reason: str | None = None
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    unschedulable: bool = False
    taints: list[str] = Field(default_factory=list)
    pods: list[str] = Field(default_factory=list)


class WorkloadOutput(ActionOutput):
    """``kubernetes.workload``: the workload's status (fields by kind) and its pods."""

    kind: str = ""
    namespace: str = ""
    name: str = ""
    status: dict[str, Any] = Field(default_factory=dict)
    pods: list[dict[str, Any]] = Field(default_factory=list)
    not_ready: int = 0
    restarts: int = 0
