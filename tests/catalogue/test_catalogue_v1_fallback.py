"""v1-fallback for real (PLAYBOOKS.md): all v3 replicas down moves traffic to dwcp-v1 at
once (10 replicas, ENABLE_V3=false) and pages; restarting v3 waits for consent and raising
its memory limit for two humans; with the pause switch on nothing changes until resume."""

from __future__ import annotations

from typing import Any

from cataloguekit import Catalogue
from slackkit import ADMINS, APPROVERS, command

NS = "dwcp-v3-production"


async def _cluster(catalogue: Catalogue) -> None:
    """dwcp-v1 idling at 2 replicas with ENABLE_V3=true; dwcp-v3 (container dwcp-v3)."""
    await catalogue.deployment(NS, "dwcp-v1", "dwcp-v1:3.2", replicas=2, env={"ENABLE_V3": "true"})
    await catalogue.deployment(NS, "dwcp-v3", "dwcp-v3:1.1", container="dwcp-v3")


def _env(deployment: Any) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", [])}


async def test_all_replicas_down_falls_back_to_v1_and_pages(catalogue: Catalogue) -> None:
    """No approval before the fallback: dwcp-v1 is scaled 2 → 10 with ENABLE_V3=false and
    PagerDuty gets a critical trigger; then one approver's click restarts v3 and two
    approvers' clicks (four eyes) give container dwcp-v3 a 4Gi memory limit."""
    await _cluster(catalogue)
    await catalogue.start()
    await catalogue.fire("all-replicas-down")
    (page,) = await catalogue.wait_pages(1)
    assert page["event_action"] == "trigger"
    assert page["payload"]["severity"] == "critical"
    assert "moved traffic to dwcp-v1" in page["payload"]["summary"]

    v1 = await catalogue.get_deployment(NS, "dwcp-v1")
    assert v1["spec"]["replicas"] == 10
    assert _env(v1) == {"ENABLE_V3": "false"}

    await catalogue.click("approve_restart")
    four_eyes = await catalogue.click("approve_memory", users=tuple(APPROVERS))
    assert four_eyes.required == 2
    await catalogue.run_end("succeeded")

    v3 = await catalogue.get_deployment(NS, "dwcp-v3")
    template = v3["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    assert template["spec"]["containers"][0]["resources"]["limits"] == {"memory": "4Gi"}
    steps = await catalogue.steps()
    assert steps["pods"][0] == steps["events"][0] == "succeeded"
    assert steps["pods"][1]["count"] == 1  # the runbook's app=dwcp-v3 selector: the v3 pod
    assert steps["scale_v1"][1]["before"]["replicas"] == 2
    run = await catalogue.run()
    assert [(a["step"], a["decided_by"]) for a in run["approvals"]] == [
        ("approve_restart", APPROVERS[0]),
        ("approve_memory", ",".join(APPROVERS)),
    ]


async def test_pause_switch_holds_the_fallback_until_resumed(catalogue: Catalogue) -> None:
    """An admin's ``/incident pause``: the immediate fallback waits (the run shows paused)
    and dwcp-v1 is untouched; ``/incident resume`` lets it scale to 10."""
    await _cluster(catalogue)
    await catalogue.start()
    reply = await command(catalogue.medic, "pause v3 incident drill", user=ADMINS[0])
    assert "paused" in reply["text"]
    await catalogue.fire("all-replicas-down")
    await catalogue.narrator.wait_for(
        "run_finished", lambda e: e.run_id == "RUN-1" and e.status == "paused"
    )
    assert (await catalogue.run())["status"] == "paused"
    v1 = await catalogue.get_deployment(NS, "dwcp-v1")
    assert v1["spec"]["replicas"] == 2
    assert _env(v1) == {"ENABLE_V3": "true"}
    assert catalogue.pages() == []

    reply = await command(catalogue.medic, "resume", user=ADMINS[0])
    assert "resumed" in reply["text"].lower()
    await catalogue.approval("approve_restart")
    v1 = await catalogue.get_deployment(NS, "dwcp-v1")
    assert v1["spec"]["replicas"] == 10
    assert _env(v1) == {"ENABLE_V3": "false"}
