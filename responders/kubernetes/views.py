"""Typed views of the Kubernetes API objects Medic reads: only the fields Medic uses, every
other field ignored, absent or null fields at their API defaults. Reading through these
instead of ``.get()`` chains keeps the field names (camelCase on the wire) in one place."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from responders.kubernetes.const import CHANGE_CAUSE_ANNOTATION, REVISION_ANNOTATION


class View(BaseModel):
    """A read-only view of part of an API object (camelCase fields on the wire)."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        """The API server may send ``null`` for an empty field: the default applies."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class OwnerReference(View):
    """Who owns an object."""

    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(View):
    """``metadata``."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)

    def controller(self) -> tuple[str, str] | None:
        """(kind, name) of the controlling owner, if any."""
        for ref in self.owner_references:
            if ref.controller:
                return ref.kind, ref.name
        return None

    @property
    def revision(self) -> int | None:
        """``deployment.kubernetes.io/revision`` (None when absent or not a number)."""
        value = self.annotations.get(REVISION_ANNOTATION)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    @property
    def change_cause(self) -> str | None:
        """``kubernetes.io/change-cause``."""
        return self.annotations.get(CHANGE_CAUSE_ANNOTATION)


class Object(View):
    """Any object, by its metadata."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


class Condition(View):
    """One entry of ``status.conditions``."""

    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class LabelSelector(View):
    """``spec.selector``."""

    match_labels: dict[str, str] = Field(default_factory=dict)

    def query(self) -> str:
        """As a ``labelSelector`` query value (sorted)."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.match_labels.items()))


class EnvVar(View):
    """One ``env`` entry of a container."""

    name: str
    value: str = "<valueFrom>"


class Container(View):
    """A container of a pod template."""

    name: str = ""
    image: str = ""
    env: list[EnvVar] = Field(default_factory=list)


class PodSpec(View):
    """A pod template's ``spec``."""

    containers: list[Container] = Field(default_factory=list)


class PodTemplate(View):
    """``spec.template``."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)

    @property
    def images(self) -> list[str]:
        """The container images."""
        return [c.image for c in self.spec.containers]


class ScaleTargetRef(View):
    """An autoscaler's ``spec.scaleTargetRef``."""

    kind: str | None = None
    name: str | None = None


class StorageRequests(View):
    """A claim's ``spec.resources``."""

    requests: dict[str, str] = Field(default_factory=dict)


class WorkloadSpec(View):
    """The ``spec`` fields Medic reads of Deployments, ReplicaSets, StatefulSets, DaemonSets,
    Jobs, HorizontalPodAutoscalers and PersistentVolumeClaims (each kind has some)."""

    replicas: int = 1
    paused: bool = False
    selector: LabelSelector = Field(default_factory=LabelSelector)
    template: PodTemplate = Field(default_factory=PodTemplate)
    backoff_limit: int | None = None
    scale_target_ref: ScaleTargetRef = Field(default_factory=ScaleTargetRef)
    min_replicas: int = 1
    max_replicas: int | None = None
    target_cpu_percent: int | None = Field(None, alias="targetCPUUtilizationPercentage")
    resources: StorageRequests = Field(default_factory=StorageRequests)
    storage_class_name: str | None = None
    volume_name: str | None = None


class WorkloadStatus(View):
    """The ``status`` fields Medic reads of the same kinds."""

    observed_generation: int = 0
    conditions: list[Condition] = Field(default_factory=list)
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    current_revision: str | None = None
    update_revision: str | None = None
    desired_number_scheduled: int = 0
    number_ready: int = 0
    number_misscheduled: int = 0
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    current_replicas: int | None = None
    desired_replicas: int | None = None
    current_cpu_percent: int | None = Field(None, alias="currentCPUUtilizationPercentage")
    phase: str | None = None
    capacity: dict[str, str] = Field(default_factory=dict)


class Workload(View):
    """A workload-like object (see :class:`WorkloadSpec`)."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkloadSpec = Field(default_factory=WorkloadSpec)
    status: WorkloadStatus = Field(default_factory=WorkloadStatus)


class Taint(View):
    """One of a node's taints."""

    key: str | None = None
    value: str = ""
    effect: str | None = None

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}"


class NodeSpec(View):
    """A node's ``spec``."""

    unschedulable: bool = False
    taints: list[Taint] = Field(default_factory=list)


class NodeStatus(View):
    """A node's ``status``."""

    conditions: list[Condition] = Field(default_factory=list)


class Node(View):
    """A node."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    @property
    def ready(self) -> bool:
        """Condition ``Ready`` is ``True``."""
        return any(c.type == "Ready" and c.status == "True" for c in self.status.conditions)


class NodeList(View):
    """A list answer of nodes."""

    items: list[Node] = Field(default_factory=list)


class WorkloadList(View):
    """A list answer of workloads."""

    items: list[Workload] = Field(default_factory=list)


class Terminated(View):
    """A container's last termination."""

    reason: str | None = None
    exit_code: int | None = None
    finished_at: str | None = None


class Waiting(View):
    """A container waiting to run."""

    reason: str | None = None


class ContainerState(View):
    """``state`` / ``lastState`` of a container."""

    terminated: Terminated = Field(default_factory=Terminated)
    waiting: Waiting = Field(default_factory=Waiting)


class ContainerStatus(View):
    """One entry of a pod's ``status.containerStatuses``."""

    name: str | None = None
    ready: bool = False
    restart_count: int = 0
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)


class PodStatus(View):
    """A pod's ``status``."""

    phase: str | None = None
    reason: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    container_statuses: list[ContainerStatus] = Field(default_factory=list)


class Volume(View):
    """One of a pod's volumes."""

    empty_dir: dict[str, Any] | None = None


class PodRunSpec(View):
    """A pod's ``spec``."""

    node_name: str | None = None
    containers: list[Container] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)


class Pod(View):
    """A pod."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodRunSpec = Field(default_factory=PodRunSpec)
    status: PodStatus = Field(default_factory=PodStatus)


class InvolvedObject(View):
    """What an event is about."""

    kind: str | None = None
    name: str | None = None


class Event(View):
    """A core/v1 event."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    type: str | None = None
    reason: str | None = None
    message: str | None = None
    count: int | None = None
    involved_object: InvolvedObject = Field(default_factory=InvolvedObject)
    last_timestamp: str | None = None
    event_time: str | None = None

    @property
    def seen(self) -> str:
        """When it was last seen (the newest time the event carries)."""
        return self.last_timestamp or self.event_time or self.metadata.creation_timestamp or ""


class Status(View):
    """The API server's error answer (``kind: Status``)."""

    kind: str = ""
    reason: str = ""
    message: str = ""


class GroupVersion(View):
    """One version a discovery answer lists."""

    group_version: str = ""


class APIGroup(View):
    """A discovery answer for one API group."""

    versions: list[GroupVersion] = Field(default_factory=list)
