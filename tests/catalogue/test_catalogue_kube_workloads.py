"""The kubernetes catalogue's workload and node alerts for real: each sample alert against
objects on the real kube-apiserver in the state the alert describes."""

from __future__ import annotations

import pytest

from cataloguekit import Catalogue
from harness.kube import node_status
from harness.kubeobjects import deployment_path
from harness.kubeworkloads import set_pod_status
from slackkit import APPROVERS

NS = "shop"
HOLD = {"medic.test/kubelet": "hold"}


async def test_replicas_mismatch_shows_the_pods_and_restarts_with_consent(
    catalogue: Catalogue,
) -> None:
    """payments wants 2 replicas and one pod is not ready: the workload step shows 2 wanted
    and the not-ready pod, events and history are read; after consent the deployment is
    restarted and rolls out."""
    await catalogue.deployment(NS, "payments", "payments:5", replicas=2)
    pods = await catalogue.pods(NS, "app=payments")
    sick = pods[0]["metadata"]["name"]
    await set_pod_status(
        catalogue.kube,
        NS,
        sick,
        {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
    )
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-deployment-replicas-mismatch")
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    report = steps["deployment"][1]
    assert (report["kind"], report["status"]["replicas"]) == ("Deployment", 2)
    assert [p["name"] for p in report["pods"] if not p["ready"]] == [sick]
    assert steps["history"][0] == "succeeded"
    found = await catalogue.rolled_out(NS, "payments")
    assert (
        "kubectl.kubernetes.io/restartedAt" in found["spec"]["template"]["metadata"]["annotations"]
    )


async def test_stuck_rollout_is_rolled_back_with_consent(catalogue: Catalogue) -> None:
    """frontend:2's pods never become ready (its rollout is stuck): the workload step shows
    them not ready, the history has both revisions; after consent frontend is back on
    frontend:1 and its rollout completes."""
    await catalogue.deployment(NS, "frontend", "frontend:1")
    await catalogue.kube.patch(
        deployment_path(NS, "frontend"),
        {
            "spec": {
                "template": {
                    "metadata": {"labels": HOLD},
                    "spec": {"containers": [{"name": "app", "image": "frontend:2"}]},
                }
            }
        },
    )
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-deployment-rollout-stuck")
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["deployment"][1]["not_ready"] >= 1
    assert [r["images"] for r in steps["history"][1]["revisions"]] == [
        ["frontend:1"],
        ["frontend:2"],
    ]
    found = await catalogue.rolled_out(NS, "frontend")
    assert found["spec"]["template"]["spec"]["containers"][0]["image"] == "frontend:1"


async def test_statefulset_mismatch_is_evidence_only(catalogue: Catalogue) -> None:
    """orders-db's pod never becomes ready: the StatefulSet's status and its not-ready pod
    reach the incident; nothing is changed, no approval asked."""
    await catalogue.workload("StatefulSet", NS, "orders-db", hold=True)

    async def scheduled() -> bool:
        return bool(await catalogue.pods(NS, "app=orders-db"))

    from harness.kube import eventually  # noqa: PLC0415 -- this test alone waits for pods

    await eventually(scheduled, "the StatefulSet's pod")
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-statefulset-replicas-mismatch")
    await catalogue.run_end("succeeded")

    report = (await catalogue.steps())["statefulset"][1]
    assert (report["kind"], report["status"]["replicas"]) == ("StatefulSet", 1)
    assert [(p["name"], p["ready"]) for p in report["pods"]] == [("orders-db-0", False)]
    assert catalogue.narrator.of("approval_requested") == []


async def test_failed_job_shows_its_status_and_logs(catalogue: Catalogue) -> None:
    """nightly-report's pod is read by its ``job-name`` label and its log reaches the
    incident with the Job's status; evidence only."""
    name = "nightly-report-29145600"
    await catalogue.workload("Job", NS, name)

    async def pod_name() -> str | None:
        pods = await catalogue.pods(NS, f"job-name={name}")
        return pods[0]["metadata"]["name"] if pods else None

    from harness.kube import eventually  # noqa: PLC0415 -- this test alone waits for pods

    pod = await eventually(pod_name, "the Job's pod")
    catalogue.kube_stack.kubelet.logs[(NS, pod, "app")] = "report: database timeout\n"
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-job-failed")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["job"][1]["kind"] == "Job"
    assert steps["logs"][1]["pods"][0]["lines"] == ["report: database timeout"]
    assert catalogue.narrator.of("approval_requested") == []


async def test_pvc_filling_up_reads_the_claim_and_its_free_share(catalogue: Catalogue) -> None:
    """A critical KubePersistentVolumeFillingUp raises the incident to sev2 and reads the
    claim (requested 1Gi) and its free share (quoted labels); evidence only."""
    await catalogue.workload("PersistentVolumeClaim", NS, "data-orders-db-0")
    catalogue.prometheus.script("kubelet_volume_stats_available_bytes", 0.021)
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-persistent-volume-filling-up")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["claim"][1]["status"]["requested"] == "1Gi"
    assert steps["free"][1]["value"] == 0.021
    assert catalogue.prometheus.asked('persistentvolumeclaim="data-orders-db-0"')
    assert (await catalogue.detail())["incident"]["severity"] == "sev2"


async def test_hpa_maxed_out_reads_the_autoscaler(catalogue: Catalogue) -> None:
    """KubeHpaMaxedOut: the autoscaler's target and bounds reach the incident."""
    await catalogue.deployment(NS, "frontend", "frontend:1")
    await catalogue.workload("HorizontalPodAutoscaler", NS, "frontend", replicas=3)
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-hpa-maxed-out")
    await catalogue.run_end("succeeded")

    status = (await catalogue.steps())["hpa"][1]["status"]
    assert (status["target"], status["max_replicas"]) == ("Deployment/frontend", 3)


async def test_target_down_lists_the_targets_that_are_down(catalogue: Catalogue) -> None:
    """TargetDown: the down targets of the job in its namespace (quoted); evidence only."""
    catalogue.prometheus.script('up{job="checkout"', 0)
    await catalogue.start()
    await catalogue.fire("kubernetes/target-down")
    await catalogue.run_end("succeeded")

    assert catalogue.prometheus.asked('up{job="checkout", namespace="shop"} == 0')
    assert catalogue.narrator.of("approval_requested") == []


async def test_watchdog_opens_no_incident(catalogue: Catalogue) -> None:
    """Watchdog is accepted and ignored: no incident; the next alert is INC-1."""
    await catalogue.start()
    await catalogue.fire("kubernetes/watchdog")
    await catalogue.fire("kubernetes/target-down")
    await catalogue.run_end("succeeded")

    listing = await (await catalogue.medic.get("/api/incidents")).json()
    assert [i["title"] for i in listing["incidents"]] == ["One or more targets are unreachable."]


@pytest.mark.parametrize(
    ("sample", "node", "taint"),
    [
        ("kube-node-not-ready", "worker-3", None),
        ("kube-node-unreachable", "worker-4", "node.kubernetes.io/unreachable"),
    ],
)
async def test_not_ready_node_is_cordoned_with_consent(
    catalogue: Catalogue, sample: str, node: str, taint: str | None
) -> None:
    """The node reports NotReady (and, unreachable, carries the unreachable taint): its
    conditions and taints reach the incident; after consent it is cordoned (quorum guard on
    the control-plane nodes, none here)."""
    await catalogue.node(node)
    port = catalogue.kube_stack.kubelet.port
    await catalogue.kube.patch(
        f"/api/v1/nodes/{node}/status", {"status": node_status(port, ready=False)}
    )
    taints = [] if taint is None else [{"key": taint, "effect": "NoSchedule"}]
    await catalogue.kube.patch(f"/api/v1/nodes/{node}", {"spec": {"taints": taints}}, "merge-patch")
    await catalogue.start(safety={"max_cordoned_fraction": 1.0})
    await catalogue.fire(f"kubernetes/{sample}")
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    report = steps["node"][1]
    assert (report["ready"], report["ready_reason"]) == (False, "KubeletNotReady")
    assert report["taints"] == [f"{t['key']}=:NoSchedule" for t in taints]
    assert steps["cordon"][1]["quorum"]["selector"] == "node-role.kubernetes.io/control-plane"
    assert await catalogue.unschedulable(node)


async def test_cordon_over_the_cordoned_fraction_needs_two_humans(catalogue: Catalogue) -> None:
    """``max_cordoned_fraction: 0``: after the consent the cordon trips the fraction guard and
    turns into a four-eyes consent naming it; a Reject keeps the node schedulable."""
    await catalogue.node("worker-3")
    port = catalogue.kube_stack.kubelet.port
    await catalogue.kube.patch(
        "/api/v1/nodes/worker-3/status", {"status": node_status(port, ready=False)}
    )
    await catalogue.start(safety={"max_cordoned_fraction": 0.0})
    await catalogue.fire("kubernetes/kube-node-not-ready")
    await catalogue.click("approve", users=(APPROVERS[0],))
    event = await catalogue.click("cordon", approve=False)
    await catalogue.run_end("aborted")

    assert event.required == 2
    assert "max_cordoned_fraction" in (event.reason or "")
    assert not await catalogue.unschedulable("worker-3")
