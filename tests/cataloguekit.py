"""The shipped playbook catalogue end to end, for real (tests/catalogue/): a real Medic with
``safety.dry_run: false`` against the real kube-apiserver (kubeconfig mode), the fake Slack,
the fake PagerDuty over TLS and a fake Prometheus query API; the sample alert enters through
``POST /webhooks/alertmanager`` and the test plays the human with signed Slack clicks.

The fixture ``catalogue`` (a pytest plugin of the root conftest) starts it all; the sample's
namespaces are shared by the session (created once), the deployments and nodes a test
creates are removed again after it, so the next test finds the cluster as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from bot.clock import ManualClock
from bot.events import ApprovalEvent

from enginekit import RecordingNarrator
from fakes.pagerduty import FakePagerDuty
from fakes.prometheus import FakePrometheus
from fakes.slack import FakeMessage, FakeSlack
from harness.kube import KubeApi, eventually
from harness.kube_fixtures import Kube
from harness.kubeobjects import create_deployment, create_node, deployment_body, deployment_path
from harness.kubeobjects import rolled_out as kube_rolled_out
from harness.kubeworkloads import PATHS, create_workload, delete_workload
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from pagerdutykit import PD_TOKEN, ROUTING_KEY, SECURITY_KEY
from payloads import sample
from slackkit import APPROVERS, FAST, click, slack_section

CATALOGUES = Path(__file__).resolve().parents[1] / "playbooks"
"""The shipped catalogues (one folder each)."""
NAMESPACES = ("dwcp-v3-production", "production", "shop")
"""Every namespace the sample alerts name (``kubernetes.namespaces`` of these tests)."""
CONSENSUS = {"dwcp.io/consensus": "true"}
WAIT_S = 30.0


@dataclass
class Catalogue:
    """Everything one catalogue test talks to; ``start()`` starts Medic."""

    kube: KubeApi
    kube_stack: Kube
    slack: FakeSlack
    prometheus: FakePrometheus
    pagerduty: FakePagerDuty
    clock: ManualClock
    narrator: RecordingNarrator
    _start_medic: StartMedic
    _store_url: str
    _tmp: Path
    client: TestClient[Any, Any] | None = None
    security_channel: str = ""
    _deployments: list[tuple[str, str]] = field(default_factory=list)
    _nodes: list[str] = field(default_factory=list)
    _workloads: list[tuple[str, str, str]] = field(default_factory=list)

    # --- Medic ----------------------------------------------------------------------------

    async def start(
        self,
        *,
        steps: dict[str, dict[str, dict[str, Any]]] | None = None,
        safety: dict[str, Any] | None = None,
        kafka: str | None = None,
    ) -> TestClient[Any, Any]:
        """Start Medic on the shipped catalogues (``steps``: per playbook, per step id, params
        to override in a copy, for timeouts that would make a test slow)."""
        playbooks = (
            {"catalogues": ["dwcp", "kubernetes"], "dirs": []}
            if not steps
            else {"catalogues": [], "dirs": [str(self._copy_catalogue(steps))]}
        )
        self.security_channel = self.slack.add_channel("security").id
        sections: dict[str, Any] = {
            "playbooks": playbooks,
            "server": {"api_token": API_TOKEN},
            "safety": {"dry_run": False, **(safety or {})},
            "prometheus": {"url": self.prometheus.url, "timeout": "5s"},
            "kubernetes": {
                "mode": "kubeconfig",
                "kubeconfig": str(self.kube_stack.stack.kubeconfig),
                "namespaces": list(NAMESPACES),
            },
            "slack": slack_section(self.slack, security_channel=self.security_channel),
            "pagerduty": {
                "enabled": True,
                "api_url": self.pagerduty.url,
                "events_url": self.pagerduty.url,
                "api_token": PD_TOKEN,
                "from_email": "medic@example.com",
                "routing_key": ROUTING_KEY,
                "routing_keys": {"security": SECURITY_KEY},
            },
        }
        if kafka is not None:
            sections["kafka"] = {"bootstrap_servers": kafka}
        settings = make_settings(self._store_url, **sections)
        self.client = await self._start_medic(
            settings,
            clock=self.clock,
            narrators=[self.narrator],
            tls=self.pagerduty.client_tls(),
            slack_timing=FAST,
        )
        return self.client

    def _copy_catalogue(self, steps: dict[str, dict[str, dict[str, Any]]]) -> Path:
        target = self._tmp / "playbooks"
        target.mkdir(exist_ok=True)
        for source in CATALOGUES.glob("*/*.yaml"):
            text = source.read_text()
            overrides = steps.get(source.stem)
            if overrides:
                data = yaml.safe_load(text)
                for step in data["steps"]:
                    step.setdefault("with", {}).update(overrides.get(step["id"], {}))
                text = yaml.safe_dump(data, sort_keys=False)
            (target / source.name).write_text(text)
        return target

    @property
    def medic(self) -> TestClient[Any, Any]:
        """The running Medic."""
        assert self.client is not None, "start() first"
        return self.client

    async def fire(self, name: str, **labels: str) -> dict[str, Any]:
        """POST the sample ``name`` (``labels`` changed on each of its alerts); the payload."""
        payload = copy.deepcopy(sample(name))
        for alert in payload["alerts"]:
            alert["labels"].update(labels)
        response = await self.medic.post("/webhooks/alertmanager", json=payload, headers=bearer())
        assert response.status == 200, await response.text()
        return payload

    async def resolve(self, payload: dict[str, Any]) -> None:
        """POST ``payload`` again with every alert resolved."""
        resolved = copy.deepcopy(payload)
        resolved["status"] = "resolved"
        for alert in resolved["alerts"]:
            alert["status"] = "resolved"
            alert["endsAt"] = self.clock.now().isoformat().replace("+00:00", "Z")
        response = await self.medic.post("/webhooks/alertmanager", json=resolved, headers=bearer())
        assert response.status == 200, await response.text()

    async def detail(self, incident: str = "INC-1") -> Any:
        """GET /api/incidents/{id}."""
        response = await self.medic.get(f"/api/incidents/{incident}")
        assert response.status == 200, await response.text()
        return await response.json()

    async def run(self, run_id: str = "RUN-1", incident: str = "INC-1") -> Any:
        """The run as GET /api/incidents/{id} shows it."""
        body = await self.detail(incident)
        return next(r for r in body["runs"] if r["id"] == run_id)

    async def steps(self, run_id: str = "RUN-1") -> dict[str, tuple[str, Any]]:
        """Step id → (status, output) of the run."""
        run = await self.run(run_id)
        return {s["id"]: (s["status"], s["output"]) for s in run["steps"]}

    # --- The human's side -----------------------------------------------------------------

    async def approval(self, step: str) -> ApprovalEvent:
        """The approval requested for ``step`` (waiting for it)."""
        event: ApprovalEvent = await self.narrator.wait_for(
            "approval_requested", lambda e: e.step_id == step
        )
        return event

    async def message(self, approval_id: str) -> FakeMessage:
        """The Slack message asking for ``approval_id`` (with its buttons)."""

        def find() -> FakeMessage | None:
            for channel in self.slack.channels.values():
                for message in channel.messages:
                    if message.thread_ts is None and f'"value": "{approval_id}"' in json.dumps(
                        message.blocks
                    ):
                        return message
            return None

        return await self.slack.wait_for(find, f"the message asking for {approval_id}", WAIT_S)

    async def click(
        self, step: str, *, users: tuple[str, ...] = (APPROVERS[0],), approve: bool = True
    ) -> ApprovalEvent:
        """Wait for the approval of ``step``, find its Slack message and click Approve (or
        Reject) on it as each of ``users``."""
        event = await self.approval(step)
        message = await self.message(event.approval_id)
        for user in users:
            status = await click(
                self.medic,
                event.approval_id,
                user=user,
                channel=message.channel,
                fake=self.slack,
                approve=approve,
            )
            assert status == 200
        return event

    async def let_veto_pass(self, step: str, window: timedelta) -> ApprovalEvent:
        """Wait for the veto of ``step`` to be announced in Slack, then let its window pass."""
        event = await self.approval(step)
        message = await self.message(event.approval_id)
        assert [e["action_id"] for b in message.blocks if b["type"] == "actions"
                for e in b["elements"]] == ["medic_reject"]  # fmt: skip
        self.clock.advance(window + timedelta(seconds=1))
        return event

    async def run_end(self, status: str, run_id: str = "RUN-1") -> None:
        """Wait for the run to end with ``status``."""
        await self.narrator.run_end(run_id, status)

    def channel_text(self) -> str:
        """Everything posted or edited into any Slack channel, one message per line."""
        return "\n".join(
            m.text + " " + json.dumps(m.blocks)
            for c in self.slack.channels.values()
            for m in c.messages
        )

    async def wait_channel(self, fragment: str) -> None:
        """Wait until some Slack message contains ``fragment``."""
        await self.slack.wait_for(
            lambda: fragment in self.channel_text(), f"a Slack message with {fragment!r}", WAIT_S
        )

    def pages(self) -> list[Any]:
        """The Events API bodies that reached the fake PagerDuty."""
        return [r.json for r in self.pagerduty.requests if r.path == "/v2/enqueue"]

    async def wait_pages(self, count: int) -> list[Any]:
        """Wait until ``count`` events reached the fake PagerDuty."""

        async def enough() -> list[Any] | None:
            found = self.pages()
            return found if len(found) >= count else None

        return await eventually(enough, f"{count} PagerDuty events", WAIT_S)

    # --- The cluster ----------------------------------------------------------------------

    async def deployment(
        self,
        namespace: str,
        name: str,
        image: str,
        *,
        replicas: int = 1,
        env: dict[str, str] | None = None,
        container: str = "app",
        labels: dict[str, str] | None = None,
        node: str | None = None,
    ) -> None:
        """A fresh deployment (any leftover of that name deleted first), rolled out; its
        pods carry ``labels`` too and run on ``node`` when given."""
        await self._delete_deployment(namespace, name)
        body = deployment_body(name, image, replicas=replicas, env=env)
        template = body["spec"]["template"]
        template["spec"]["containers"][0]["name"] = container
        template["metadata"]["labels"].update(labels or {})
        if node is not None:
            template["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
        await create_deployment(self.kube, namespace, body)
        self._deployments.append((namespace, name))
        await self.rolled_out(namespace, name)

    async def new_image(
        self, namespace: str, name: str, image: str, container: str = "app"
    ) -> None:
        """Deploy ``image`` (a new revision) and wait for it to roll out."""
        await self.kube.patch(
            deployment_path(namespace, name),
            {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}},
        )
        await self.rolled_out(namespace, name)

    async def rolled_out(self, namespace: str, name: str) -> Any:
        """The deployment once its rollout completed."""
        return await kube_rolled_out(self.kube, namespace, name)

    async def get_deployment(self, namespace: str, name: str) -> Any:
        """The deployment as the API server has it."""
        return await self.kube.get(deployment_path(namespace, name))

    async def node(self, name: str, *, consensus: bool = False, cordoned: bool = False) -> None:
        """A fresh Ready node (a leftover of that name deleted first)."""
        await self._delete_node(name)
        port = self.kube_stack.kubelet.port
        await create_node(self.kube, name, port, CONSENSUS if consensus else None)
        self._nodes.append(name)
        if cordoned:
            await self.kube.patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": True}})

    async def unschedulable(self, name: str) -> bool:
        """``spec.unschedulable`` of the node."""
        found = await self.kube.get(f"/api/v1/nodes/{name}")
        return bool(found["spec"].get("unschedulable"))

    async def workload(self, kind: str, namespace: str, name: str, **options: Any) -> Any:
        """A fresh StatefulSet, DaemonSet, Job, HorizontalPodAutoscaler or
        PersistentVolumeClaim (see ``harness.kubeworkloads``), removed after the test."""
        await delete_workload(self.kube, kind, namespace, name)
        await eventually(
            lambda: self._absent(kind, namespace, name), f"old {kind} {name} gone", WAIT_S
        )
        self._workloads.append((kind, namespace, name))
        return await create_workload(self.kube, kind, namespace, name, **options)

    async def _absent(self, kind: str, namespace: str, name: str) -> bool:
        path = PATHS[kind].format(ns=namespace) + f"/{name}"
        return not await self.kube.exists(path)

    async def pods(self, namespace: str, selector: str) -> list[Any]:
        """The pods matching the label ``selector``, by name."""
        found = await self.kube.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector)
        return sorted(found["items"], key=lambda p: p["metadata"]["name"])

    async def cleanup(self) -> None:
        """Remove what this test created (deployments, workloads, nodes) and wait until they
        are gone."""
        for kind, namespace, name in self._workloads:
            await delete_workload(self.kube, kind, namespace, name)
        for namespace, name in self._deployments:
            await self._delete_deployment(namespace, name)
        for name in self._nodes:
            await self._delete_node(name)

    async def _delete_deployment(self, namespace: str, name: str) -> None:
        path = deployment_path(namespace, name)
        if not await self.kube.exists(path):
            return
        await self.kube.call("DELETE", path, ok=(200, 202, 404), propagationPolicy="Foreground")

        async def gone() -> bool:
            return not await self.kube.exists(path)

        await eventually(gone, f"{namespace}/{name} to be deleted", WAIT_S)

    async def _delete_node(self, name: str) -> None:
        path = f"/api/v1/nodes/{name}"
        await self.kube.delete(path)

        async def gone() -> bool:
            return not await self.kube.exists(path)

        await eventually(gone, f"node {name} to be deleted", WAIT_S)


async def ensure_namespaces(kube: KubeApi) -> None:
    """The sample alerts' namespaces exist (created once per session, kept)."""
    for name in NAMESPACES:
        if not await kube.exists(f"/api/v1/namespaces/{name}"):
            await kube.call(
                "POST", "/api/v1/namespaces", {"metadata": {"name": name}}, ok=(201, 409)
            )


@pytest.fixture
async def fake_prometheus() -> AsyncIterator[FakePrometheus]:
    """A fake Prometheus query API, listening."""
    fake = FakePrometheus()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def catalogue(
    kube: KubeApi,
    kube_stack: Kube,
    fake_slack: FakeSlack,
    fake_prometheus: FakePrometheus,
    fake_pagerduty: FakePagerDuty,
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
) -> AsyncIterator[Catalogue]:
    """Everything a catalogue test needs; ``await catalogue.start()`` starts Medic."""
    await ensure_namespaces(kube)
    await fake_pagerduty.start()
    world = Catalogue(
        kube=kube,
        kube_stack=kube_stack,
        slack=fake_slack,
        prometheus=fake_prometheus,
        pagerduty=fake_pagerduty,
        clock=ManualClock(datetime.now(UTC)),
        narrator=RecordingNarrator(),
        _start_medic=start_medic,
        _store_url=sqlite_url,
        _tmp=tmp_path,
    )
    try:
        yield world
    finally:
        if world.client is not None:
            await world.client.close()
        await world.cleanup()
        await fake_pagerduty.close()
