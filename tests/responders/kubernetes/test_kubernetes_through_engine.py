"""kubernetes.* steps through the whole engine: a real Medic (kubernetes.mode kubeconfig)
answers an alert with a playbook that changes a deployment on a real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enginekit import RecordingNarrator, detail, write_playbooks
from harness.kube import KubeApi
from harness.kube_fixtures import Kube, unique
from harness.kubeobjects import create_deployment, create_node, deployment_body, deployment_path
from harness.kubeobjects import unschedulable as is_cordoned
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

SCALE = """
name: backlog
match: ['alertname="Backlog"']
group_by: [deployment]
target: "deployment/{{ labels.namespace }}/{{ labels.deployment }}"
steps:
  - id: scale
    uses: kubernetes.scale
    with:
      namespace: "{{ labels.namespace }}"
      deployment: "{{ labels.deployment }}"
      factor: 2
      max_replicas: 3
  - id: rollout
    uses: kubernetes.wait_rollout
    with: {namespace: "{{ labels.namespace }}", deployment: "{{ labels.deployment }}", timeout: 60s}
"""

CORDON = """
name: pressure
match: ['alertname="NodePressure"']
group_by: [node]
target: "node/{{ labels.node }}"
steps:
  - id: cordon
    uses: kubernetes.cordon
    with: {node: "{{ labels.node }}"}
"""


def _settings(tmp_path: Path, kube_stack: Kube, namespaces: list[str], **safety: Any) -> Any:
    return make_settings(
        f"sqlite:///{tmp_path / 'medic.db'}",
        playbooks={
            "dirs": [str(write_playbooks(tmp_path / "playbooks", backlog=SCALE, pressure=CORDON))]
        },
        server={"api_token": API_TOKEN},
        slack={"approvers": ["U1", "U2"]},
        kubernetes={
            "mode": "kubeconfig",
            "kubeconfig": str(kube_stack.stack.kubeconfig),
            "namespaces": namespaces,
        },
        safety={"dry_run": False, **safety},
    )


async def test_a_playbook_scales_a_deployment_and_records_before_and_after(
    start_medic: StartMedic, kube: KubeApi, kube_stack: Kube, namespace: str, tmp_path: Path
) -> None:
    """The alert's run scales the deployment on the API server (2 → 3, capped) and waits
    for the rollout; the incident's step output and timeline say before and after."""
    name = unique("consumer")
    await create_deployment(
        kube, namespace, deployment_body(name, "registry.local/c:1", replicas=2)
    )
    narrator = RecordingNarrator()
    client = await start_medic(_settings(tmp_path, kube_stack, [namespace]), narrators=[narrator])
    alert = am_alert("fp1", alertname="Backlog", namespace=namespace, deployment=name)
    assert (
        await client.post("/webhooks/alertmanager", json=am_payload(alert), headers=bearer())
    ).status == 200
    await narrator.run_end("RUN-1", "succeeded")

    found = await kube.get(deployment_path(namespace, name))
    assert found["spec"]["replicas"] == 3
    assert found["status"]["availableReplicas"] == 3
    body = await detail(client)
    steps = {s["id"]: s for s in body["runs"][0]["steps"]}
    assert steps["scale"]["dry_run"] is False
    assert steps["scale"]["output"]["before"] == {"replicas": 2}
    assert steps["scale"]["output"]["after"] == {"replicas": 3}
    assert steps["rollout"]["output"]["replicas"] == 3
    texts = [t["text"] for t in body["timeline"]]
    assert any("replicas 2 → 3 (capped from 4)" in text for text in texts)
    assert body["incident"]["status"] == "mitigating"


async def _pressure_without_cordon_budget(
    start_medic: StartMedic, kube_stack: Kube, tmp_path: Path, node: str
) -> RecordingNarrator:
    """A Medic with ``max_cordoned_fraction: 0`` told that ``node`` is under pressure (its
    playbook cordons the node); the narrator it tells."""
    narrator = RecordingNarrator()
    settings = _settings(tmp_path, kube_stack, ["*"], max_cordoned_fraction=0)
    client = await start_medic(settings, narrators=[narrator])
    alert = am_alert("fp-pressure", alertname="NodePressure", node=node)
    assert (
        await client.post("/webhooks/alertmanager", json=am_payload(alert), headers=bearer())
    ).status == 200
    return narrator


async def test_max_cordoned_fraction_counts_the_real_nodes(
    start_medic: StartMedic, kube: KubeApi, kube_stack: Kube, tmp_path: Path
) -> None:
    """The engine's cluster view reads the API server's nodes: with max_cordoned_fraction 0
    a cordon trips the limit and waits for a four-eyes approval instead of running."""
    node = unique("limit")
    await create_node(kube, node, kube_stack.kubelet.port)
    narrator = await _pressure_without_cordon_budget(start_medic, kube_stack, tmp_path, node)
    requested = await narrator.wait_for("approval_requested")
    assert "max_cordoned_fraction 0" in requested.reason
    assert "nodes would be cordoned" in requested.reason
    assert not await is_cordoned(kube, node)


async def test_an_already_cordoned_node_adds_nothing_to_the_cordoned_fraction(
    start_medic: StartMedic, kube: KubeApi, kube_stack: Kube, tmp_path: Path
) -> None:
    """The cluster view names the cordoned nodes: cordoning a node the API server already
    shows unschedulable (a drain after its cordon) leaves no more nodes out, so even with
    max_cordoned_fraction 0 the step runs without asking anyone."""
    node = unique("again")
    await create_node(kube, node, kube_stack.kubelet.port)
    await kube.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}}, "merge-patch")
    narrator = await _pressure_without_cordon_budget(start_medic, kube_stack, tmp_path, node)
    finished = await narrator.wait_for("run_finished")
    assert finished.status == "succeeded"
    assert narrator.of("approval_requested") == []
    cordon = narrator.of("step_finished")[-1]
    assert (cordon.step_id, cordon.status) == ("cordon", "succeeded")
    assert cordon.summary == f"cordoned node {node} (unschedulable True (unchanged))"
    assert await is_cordoned(kube, node)
