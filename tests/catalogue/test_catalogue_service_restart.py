"""service-restart for real (PLAYBOOKS.md): evidence from kube-state-metrics and the pods'
logs, a rollout restart after consent, ``up{job=…} == 1`` verifies it."""

from __future__ import annotations

from cataloguekit import Catalogue

NS, DEPLOY = "production", "dwcp-api"


async def test_service_down_restarts_the_deployment_with_consent(catalogue: Catalogue) -> None:
    """The pod-status and restart queries select the deployment's pods with quoted values; the
    logs of its pod are read; after one approver's click the pod template gets a
    restartedAt annotation and a new pod; ``up{job="dwcp-api"}`` is 1, the run succeeds."""
    await catalogue.deployment(NS, DEPLOY, "dwcp-api:2.4")
    catalogue.prometheus.script('up{job="dwcp-api"}', 1)
    await catalogue.start()
    await catalogue.fire("service-down")
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    found = await catalogue.rolled_out(NS, DEPLOY)
    annotations = found["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    steps = await catalogue.steps()
    assert steps["logs"][0] == "succeeded"
    assert len(steps["logs"][1]["pods"]) == 1
    assert steps["verify"][1]["satisfied"] is True
    assert catalogue.prometheus.asked(
        'kube_pod_status_phase{namespace="production", pod=~"dwcp-api-.+"} == 1'
    )
    assert catalogue.prometheus.asked('up{job="dwcp-api"}')
