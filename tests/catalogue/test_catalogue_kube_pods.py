"""The kubernetes catalogue's pod alerts for real: kube-prometheus-stack's sample alert (its
labels and annotations) through ``POST /webhooks/alertmanager``, the objects in the state
the alert describes on the real kube-apiserver, evidence first, changes only after a
human's consent."""

from __future__ import annotations

from typing import Any

from cataloguekit import Catalogue
from harness.kubeworkloads import crash_looping_status, set_pod_status

NS = "shop"
CRASH_LOG = "starting checkout v2\npanic: assignment to entry in nil map\n"


async def only_pod(catalogue: Catalogue, app: str) -> Any:
    """The one pod of deployment ``app``'s current revision."""
    deployment = await catalogue.get_deployment(NS, app)
    revision = deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    pods = [
        p
        for p in await catalogue.pods(NS, f"app={app}")
        if p["metadata"]["name"].startswith(f"{app}-")
        and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 1, (revision, [p["metadata"]["name"] for p in pods])
    return pods[0]


async def crash_loop(catalogue: Catalogue, app: str) -> str:
    """Put the current pod of ``app`` in CrashLoopBackOff (the kubelet's report), with the
    crashed container's log; its name."""
    pod = await only_pod(catalogue, app)
    name: str = pod["metadata"]["name"]
    await set_pod_status(catalogue.kube, NS, name, crash_looping_status(pod))
    catalogue.kube_stack.kubelet.logs[(NS, name, "app")] = CRASH_LOG
    return name


async def test_crash_loop_of_the_newest_revision_is_rolled_back_with_consent(
    catalogue: Catalogue,
) -> None:
    """checkout:2 crash-loops right after its rollout (checkout:1 ran fine): the pod's status
    (7 restarts, last termination Error), the crashed container's log, the pod's events and
    the rollout history reach the incident; the pod is found to be of the newest revision
    (2 of 2, previous 1); after one approver's consent checkout is back on checkout:1 and
    its rollout completes."""
    await catalogue.deployment(NS, "checkout", "checkout:1")
    await catalogue.new_image(NS, "checkout", "checkout:2")
    pod = await crash_loop(catalogue, "checkout")
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-pod-crashlooping", pod=pod)
    event = await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    assert "revision 2 of deployment checkout" in event.prompt
    steps = await catalogue.steps()
    report = steps["pod"][1]
    assert (report["deployment"], report["revision"], report["previous_revision"]) == (
        "checkout",
        2,
        1,
    )
    assert report["crashes_began_with_newest_revision"] is True
    (container,) = report["containers"]
    assert (container["restarts"], container["last_termination_reason"]) == (7, "Error")
    assert container["waiting_reason"] == "CrashLoopBackOff"
    assert steps["logs"][1]["pods"][0]["lines"][-1] == "panic: assignment to entry in nil map"
    assert steps["events"][0] == "succeeded"
    assert [r["images"] for r in steps["history"][1]["revisions"]] == [
        ["checkout:1"],
        ["checkout:2"],
    ]
    assert steps["rollback"][1]["to_revision"] == 1
    found = await catalogue.rolled_out(NS, "checkout")
    assert found["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:1"
    run = await catalogue.run()
    assert (run["target"], run["approvals"][0]["mode"]) == ("workload/shop/checkout", "consent")


async def test_crash_loop_without_a_new_revision_changes_nothing(catalogue: Catalogue) -> None:
    """A deployment that has only ever had one revision crash-loops: the evidence is
    gathered, Medic notes that a rollback would not help and stops; no approval is asked,
    the deployment keeps its image."""
    await catalogue.deployment(NS, "checkout", "checkout:1")
    pod = await crash_loop(catalogue, "checkout")
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-pod-crashlooping", pod=pod)
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["pod"][1]["crashes_began_with_newest_revision"] is False
    assert steps["pod"][1]["previous_revision"] is None
    assert steps["not_the_new_revision"][0] == "succeeded"
    assert "approve" not in steps
    assert catalogue.narrator.of("approval_requested") == []
    found = await catalogue.get_deployment(NS, "checkout")
    assert found["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:1"


async def test_pod_not_ready_restarts_its_deployment_with_consent(catalogue: Catalogue) -> None:
    """A pod of cart has been not ready: its status (not ready), events and logs reach the
    incident, and after consent cart is rollout-restarted (restartedAt annotation, a new
    pod) and its rollout completes."""
    await catalogue.deployment(NS, "cart", "cart:3")
    pod = await only_pod(catalogue, "cart")
    name = pod["metadata"]["name"]
    await set_pod_status(
        catalogue.kube,
        NS,
        name,
        {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
    )
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-pod-not-ready", pod=name)
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert (steps["pod"][1]["ready"], steps["pod"][1]["deployment"]) == (False, "cart")
    assert steps["logs"][1]["pods"][0]["pod"] == f"{NS}/{name}"
    found = await catalogue.rolled_out(NS, "cart")
    assert (
        "kubectl.kubernetes.io/restartedAt" in found["spec"]["template"]["metadata"]["annotations"]
    )
    assert (await only_pod(catalogue, "cart"))["metadata"]["name"] != name


async def test_container_waiting_is_evidence_only(catalogue: Catalogue) -> None:
    """A container waiting on ImagePullBackOff: the pod's status names the reason, its
    events are read, a note says Medic changes nothing; no approval, no write."""
    await catalogue.deployment(NS, "search", "search:9")
    pod = await only_pod(catalogue, "search")
    name = pod["metadata"]["name"]
    waiting = crash_looping_status(pod, restarts=0)
    waiting["containerStatuses"][0]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    del waiting["containerStatuses"][0]["lastState"]
    await set_pod_status(catalogue.kube, NS, name, waiting)
    await catalogue.start()
    await catalogue.fire("kubernetes/kube-container-waiting", pod=name)
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["pod"][1]["containers"][0]["waiting_reason"] == "ImagePullBackOff"
    assert steps["pod"][1]["crash_looping"] is False
    assert "ImagePullBackOff" in steps["summary"][1]["text"]
    assert catalogue.narrator.of("approval_requested") == []


async def test_cpu_throttling_reads_the_pod_and_the_throttled_share(catalogue: Catalogue) -> None:
    """CPUThrottlingHigh: the pod's status and the throttled share of its container, every
    label value quoted; evidence only."""
    await catalogue.deployment(NS, "checkout", "checkout:1")
    name = (await only_pod(catalogue, "checkout"))["metadata"]["name"]
    catalogue.prometheus.script("container_cpu_cfs_throttled_periods_total", 0.42)
    await catalogue.start()
    await catalogue.fire("kubernetes/cpu-throttling-high", pod=name)
    await catalogue.run_end("succeeded")

    steps = await catalogue.steps()
    assert steps["pod"][1]["name"] == name
    assert steps["throttled"][1]["value"] == 0.42
    assert catalogue.prometheus.asked(f'pod="{name}", container="app"')
    assert catalogue.narrator.of("approval_requested") == []
