"""Read-only evidence against a real kube-apiserver: pods, events, logs (served by the
fake kubelet through the API server's pods/log proxy)."""

from __future__ import annotations

from responders.kubernetes.client import KubernetesClient

from harness.kube import KubeApi, eventually
from harness.kube_fixtures import Kube, Runner, unique
from harness.kubeobjects import create_deployment, deployment_body, rolled_out


async def _pod_names(kube: KubeApi, namespace: str, app: str) -> list[str]:
    found = await kube.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"app={app}")
    return sorted(p["metadata"]["name"] for p in found["items"])


async def test_pods_report_phase_restarts_and_last_termination(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """kubernetes.pods lists the deployment's pods with phase, readiness, restarts and the
    last termination reason (an OOMKilled container here)."""
    name = unique("mem")
    await create_deployment(
        kube, namespace, deployment_body(name, "registry.local/m:1", replicas=2)
    )
    await rolled_out(kube, namespace, name)
    victim = (await _pod_names(kube, namespace, name))[0]
    await kube.patch(
        f"/api/v1/namespaces/{namespace}/pods/{victim}/status",
        {
            "status": {
                "containerStatuses": [
                    {
                        "name": "app",
                        "image": "registry.local/m:1",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 3,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                        "lastState": {
                            "terminated": {
                                "reason": "OOMKilled",
                                "exitCode": 137,
                                "finishedAt": "2026-01-01T00:00:00Z",
                            }
                        },
                    }
                ]
            }
        },
    )
    result = await run_action(k8s, "kubernetes.pods", namespace=namespace, deployment=name)
    out = result.output
    assert out["count"] == 2
    assert out["restarts"] == 3
    by_name = {p["name"]: p for p in out["pods"]}
    assert by_name[victim]["phase"] == "Running"
    assert by_name[victim]["node"]  # bound by the scheduler
    assert by_name[victim]["containers"][0]["last_termination_reason"] == "OOMKilled"
    assert by_name[victim]["containers"][0]["last_exit_code"] == 137
    assert result.summary == "2 pods, 0 not ready, 3 restarts"


async def test_events_newest_first_narrowed_by_involved_object(
    kube: KubeApi, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """kubernetes.events returns the namespace's events newest first; ``involved_object``
    (``deployment/<name>``, kind in any case) narrows them to one object."""
    name = unique("ev")
    await create_deployment(kube, namespace, deployment_body(name, "registry.local/e:1"))
    await rolled_out(kube, namespace, name)

    async def scaling_event() -> object:
        result = await run_action(
            k8s, "kubernetes.events", namespace=namespace, involved_object=f"deployment/{name}"
        )
        return result if result.output["count"] else None

    result = await eventually(scaling_event, "the deployment controller's event")
    event = result.output["events"][0]
    assert event["reason"] == "ScalingReplicaSet"
    assert event["object"] == f"Deployment/{name}"
    everything = await run_action(k8s, "kubernetes.events", namespace=namespace)
    kinds = {e["object"].split("/")[0] for e in everything.output["events"]}
    assert {"Deployment", "ReplicaSet"} <= kinds
    stamps = [e["last_seen"] for e in everything.output["events"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_logs_tail_of_each_pod_of_a_deployment(
    kube: KubeApi, kube_stack: Kube, namespace: str, k8s: KubernetesClient, run_action: Runner
) -> None:
    """kubernetes.logs reads the last ``tail_lines`` lines of each pod through the API
    server (the fake kubelet serves them)."""
    name = unique("log")
    await create_deployment(
        kube, namespace, deployment_body(name, "registry.local/l:1", replicas=2)
    )
    await rolled_out(kube, namespace, name)
    pods = await _pod_names(kube, namespace, name)
    for pod in pods:
        lines = "".join(f"{pod} line {i}\n" for i in range(1, 8))
        kube_stack.kubelet.logs[(namespace, pod, "app")] = lines
    result = await run_action(
        k8s, "kubernetes.logs", namespace=namespace, deployment=name, tail_lines=3
    )
    out = result.output
    assert [e["pod"] for e in out["pods"]] == [f"{namespace}/{p}" for p in pods]
    assert out["pods"][0]["lines"] == [f"{pods[0]} line {i}" for i in (5, 6, 7)]
    assert out["truncated"] is False
    assert result.summary == "6 log lines from 2 pods"
