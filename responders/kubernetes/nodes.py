"""What the node actions do, against the API server: cordon, uncordon, drain, delete."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.errors import GuardRefused, PermanentError
from responders.kubernetes import calls
from responders.kubernetes.client import KubeRefused, KubernetesClient, KubeUnavailable
from responders.kubernetes.const import MIRROR_ANNOTATION
from responders.kubernetes.guards import check_quorum, namespace_allowed
from responders.kubernetes.views import Node, Object, Pod

Json = dict[str, Any]
OUTSIDE_ALLOWLIST = "namespace outside kubernetes.namespaces"


async def read_node(client: KubernetesClient, node: str) -> Json:
    """The Node object."""
    answer: Json = await client.request(calls.GET_NODE, name=node)
    return answer


def unschedulable(node: Json) -> bool:
    """``spec.unschedulable``."""
    return Node.model_validate(node).spec.unschedulable


async def set_unschedulable(
    client: KubernetesClient,
    node: str,
    value: bool,
    dry_run: bool,
    quorum_selector: str | None = None,
) -> Json:
    """Cordon (``value``) or uncordon ``node``; cordoning checks the quorum guard first."""
    before = await read_node(client, node)
    quorum = None
    if value and not unschedulable(before):
        quorum = await check_quorum(client, node, quorum_selector)
    after = await client.request(
        calls.PATCH_NODE, name=node, body={"spec": {"unschedulable": value}}, dry_run=dry_run
    )
    result: Json = {
        "node": node,
        "changed": unschedulable(before) != unschedulable(after),
        "before": {"unschedulable": unschedulable(before)},
        "after": {"unschedulable": unschedulable(after)},
    }
    if quorum is not None:
        result["quorum"] = quorum.as_output()
    return result


async def delete_node(
    client: KubernetesClient, node: str, dry_run: bool, quorum_selector: str | None
) -> Json:
    """Delete the Node object (quorum guard first)."""
    before = await read_node(client, node)
    quorum = await check_quorum(client, node, quorum_selector)
    await client.request(calls.DELETE_NODE, name=node, dry_run=dry_run)
    result: Json = {
        "node": node,
        "changed": True,
        "before": {"exists": True, "unschedulable": unschedulable(before)},
        "after": {"exists": dry_run},
    }
    if quorum is not None:
        result["quorum"] = quorum.as_output()
    return result


def _name(pod: Json) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


@dataclass(slots=True)
class DrainPlan:
    """The pods of a node sorted by what a drain does with them."""

    evict: list[Json] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def plan_drain(
    pods: list[Json], namespaces: list[str], allow_emptydir: bool, allow_unmanaged: bool
) -> DrainPlan:
    """Skip DaemonSet and mirror pods; refuse emptyDir, unmanaged and disallowed-namespace
    pods (unless allowed)."""
    plan = DrainPlan()
    for pod in pods:
        name = _name(pod)
        view = Pod.model_validate(pod)
        meta = view.metadata
        if meta.deletion_timestamp:
            plan.skipped[name] = "already terminating"
            continue
        if MIRROR_ANNOTATION in meta.annotations:
            plan.skipped[name] = "mirror pod"
            continue
        controller = meta.controller()
        if controller is not None and controller[0] == "DaemonSet":
            plan.skipped[name] = "DaemonSet pod"
            continue
        if not namespace_allowed(namespaces, meta.namespace):
            plan.refused[name] = OUTSIDE_ALLOWLIST
        elif controller is None and not allow_unmanaged:
            plan.refused[name] = "not managed by a controller (allow_unmanaged)"
        elif not allow_emptydir and any(v.empty_dir is not None for v in view.spec.volumes):
            plan.refused[name] = "uses emptyDir (allow_emptydir)"
        else:
            plan.evict.append(pod)
    return plan


async def drain(
    client: KubernetesClient,
    node: str,
    *,
    timeout_s: float,
    allow_emptydir: bool,
    allow_unmanaged: bool,
    dry_run: bool,
    quorum_selector: str | None,
) -> Json:
    """Cordon ``node``, evict its pods (PodDisruptionBudget-aware), wait until they are gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    before = await read_node(client, node)
    answer = await client.request(calls.LIST_PODS, query={"fieldSelector": f"spec.nodeName={node}"})
    plan = plan_drain(answer.get("items", []), client.namespaces, allow_emptydir, allow_unmanaged)
    if plan.refused:
        listed = "; ".join(f"{pod}: {why}" for pod, why in sorted(plan.refused.items()))
        guarded = OUTSIDE_ALLOWLIST in plan.refused.values()
        refusal = GuardRefused if guarded else PermanentError
        raise refusal(f"drain of {node} refused before any change: {listed}")
    quorum = None
    if not unschedulable(before):
        quorum = await check_quorum(client, node, quorum_selector)
    cordoned = await client.request(
        calls.PATCH_NODE, name=node, body={"spec": {"unschedulable": True}}, dry_run=dry_run
    )
    eviction = Evictor(client, deadline, dry_run)
    outcomes = await asyncio.gather(
        *(eviction.evict(pod) for pod in plan.evict), return_exceptions=True
    )
    for outcome in outcomes:  # every eviction ran to its end; the first failure fails the step
        if isinstance(outcome, BaseException):
            raise outcome
    if not dry_run:
        await eviction.wait_gone(plan.evict)
    remaining = {**eviction.blocked, **eviction.pending}
    if remaining and not dry_run:
        listed = "; ".join(f"{pod}: {why}" for pod, why in sorted(remaining.items()))
        raise PermanentError(
            f"drain of {node} gave up after {timeout_s:g}s; pods remaining: {listed}"
        )
    result: Json = {
        "node": node,
        "changed": True,
        "before": {"unschedulable": unschedulable(before)},
        "after": {"unschedulable": unschedulable(cordoned)},
        "evicted": sorted(eviction.evicted),
        "skipped": dict(sorted(plan.skipped.items())),
        "pdb_retries": dict(sorted(eviction.retries.items())),
    }
    if dry_run:
        result["blocked"] = dict(sorted(eviction.blocked.items()))
    if quorum is not None:
        result["quorum"] = quorum.as_output()
    return result


class Evictor:
    """Evicts pods through the Eviction subresource until a shared deadline."""

    def __init__(self, client: KubernetesClient, deadline: float, dry_run: bool) -> None:
        self._client = client
        self._deadline = deadline
        self._dry_run = dry_run
        self.evicted: list[str] = []
        self.retries: dict[str, int] = {}
        self.blocked: dict[str, str] = {}
        self.pending: dict[str, str] = {}

    async def _body(self, pod: Json) -> Json:
        version = (
            "policy/v1" if await self._client.has_group_version("policy/v1") else ("policy/v1beta1")
        )
        body: Json = {
            "apiVersion": version,
            "kind": "Eviction",
            "metadata": {
                "name": pod["metadata"]["name"],
                "namespace": pod["metadata"]["namespace"],
            },
        }
        if self._dry_run:
            body["deleteOptions"] = {"dryRun": ["All"]}
        return body

    async def evict(self, pod: Json) -> None:
        """Evict ``pod``; while a PodDisruptionBudget answers 429, try again every
        ``pacing.eviction_retry_s`` until the deadline. 404: already gone."""
        loop = asyncio.get_running_loop()
        name = _name(pod)
        body = await self._body(pod)
        while True:
            try:
                await self._client.request(
                    calls.CREATE_EVICTION,
                    namespace=pod["metadata"]["namespace"],
                    name=pod["metadata"]["name"],
                    body=body,
                    dry_run=self._dry_run,
                )
            except KubeRefused as err:
                if err.status == 404:
                    self.evicted.append(name)
                    return
                raise
            except KubeUnavailable as err:
                if err.status != 429:
                    raise
                self.retries[name] = self.retries.get(name, 0) + 1
                wait = min(self._client.pacing.eviction_retry_s, self._deadline - loop.time())
                if wait <= 0 or self._dry_run:
                    self.blocked[name] = f"a PodDisruptionBudget blocks its eviction: {err.message}"
                    return
                await asyncio.sleep(wait)
                continue
            self.evicted.append(name)
            return

    async def wait_gone(self, pods: list[Json]) -> None:
        """Poll until each evicted pod is gone (404, or a new pod with the same name)."""
        loop = asyncio.get_running_loop()
        waiting = {_name(pod): pod for pod in pods if _name(pod) in self.evicted}
        while waiting:
            for name, pod in list(waiting.items()):
                meta = pod["metadata"]
                try:
                    now = await self._client.request(
                        calls.GET_POD, namespace=meta["namespace"], name=meta["name"]
                    )
                except KubeRefused as err:
                    if err.status != 404:
                        raise
                    del waiting[name]
                    continue
                if (
                    Object.model_validate(now).metadata.uid
                    != Object.model_validate(pod).metadata.uid
                ):
                    del waiting[name]
            if not waiting:
                return
            if loop.time() >= self._deadline:
                self.pending.update(dict.fromkeys(waiting, "evicted but not gone yet"))
                return
            await asyncio.sleep(
                min(self._client.pacing.gone_poll_s, max(self._deadline - loop.time(), 0))
            )
