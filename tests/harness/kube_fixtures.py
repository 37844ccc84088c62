"""Pytest fixtures for the real Kubernetes control plane (a plugin of tests/conftest.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.actions import StepContext, StepResult
from bot.config import Settings
from bot.integrations import action_registry
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.config import KubernetesConfig
from responders.kubernetes.pacing import Pacing

from .kube import FakeKubelet, KubeApi, KubeStack, running_stack
from .kubeobjects import create_node

FAST = Pacing(eviction_retry_s=0.2, rollout_poll_s=0.1, gone_poll_s=0.1)
"""The waiting actions' intervals in tests (the defaults are 5 s and 1 s)."""
WORKER = "worker-0"
_names = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Kube:
    """The running stack and its fake kubelet."""

    stack: KubeStack
    kubelet: FakeKubelet


@pytest.fixture(scope="session")
def kube_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """etcd + kube-apiserver/controller-manager/scheduler 1.20 and a fake kubelet, once per
    session (binaries from ``scripts/kube-testenv.sh build``)."""
    with running_stack(tmp_path_factory.mktemp("kube")) as (stack, kubelet):
        yield Kube(stack, kubelet)


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{next(_names)}"


@pytest.fixture
async def kube(kube_stack: Kube) -> AsyncIterator[KubeApi]:
    """Admin JSON access to the API server; a schedulable worker node exists."""
    async with KubeApi(kube_stack.stack) as api:
        if not await api.exists(f"/api/v1/nodes/{WORKER}"):
            await create_node(api, WORKER, kube_stack.kubelet.port)
        yield api


@pytest.fixture
async def namespace(kube: KubeApi) -> AsyncIterator[str]:
    """A fresh namespace, deleted after the test."""
    name = unique("t")
    await kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    await kube.delete(f"/api/v1/namespaces/{name}")


async def connect(
    stack: KubeStack, namespaces: list[str], *, kubeconfig: str | None = None
) -> KubernetesClient:
    """Medic's client for the stack (admin unless ``kubeconfig``), with fast pacing."""
    config = KubernetesConfig(
        mode="kubeconfig", kubeconfig=kubeconfig or str(stack.kubeconfig), namespaces=namespaces
    )
    client = await KubernetesClient.connect(config)
    client.pacing = FAST
    return client


@pytest.fixture
async def k8s(kube_stack: Kube) -> AsyncIterator[KubernetesClient]:
    """Medic's Kubernetes client, every namespace allowed."""
    client = await connect(kube_stack.stack, ["*"])
    yield client
    await client.close()


class Runner:
    """Runs ``kubernetes.*`` actions as the engine does: params validated by the action's
    model, a StepContext holding the shared client."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._registry = action_registry()

    async def __call__(
        self, client: KubernetesClient, name: str, /, dry_run: bool = False, **params: Any
    ) -> StepResult:
        spec = self._registry.get(name)
        assert spec is not None, name
        ctx = StepContext(
            settings=Settings(),
            http=self._http,
            incident_id="INC-1",
            run_id="RUN-1",
            step_id="step",
            target=None,
            dry_run=dry_run,
            now=lambda: datetime.now(UTC),
            clients={"kubernetes": client},
        )
        return await spec.run(ctx, spec.params.model_validate(params))


@pytest.fixture
async def run_action() -> AsyncIterator[Runner]:
    """``await run_action(client, "kubernetes.scale", namespace=..., ...)``."""
    async with aiohttp.ClientSession() as http:
        yield Runner(http)
