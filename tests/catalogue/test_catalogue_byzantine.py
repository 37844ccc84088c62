"""byzantine-isolation for real (PLAYBOOKS.md): security is paged on its own routing key and
told in the security channel, the node is cordoned at once under the consensus quorum
guard, forensics land in the run, and drain and deletion each take two approvers; a cordon
that would break the quorum is refused and escalated."""

from __future__ import annotations

from cataloguekit import Catalogue
from harness.kubeobjects import pods_on
from pagerdutykit import ROUTING_KEY, SECURITY_KEY
from slackkit import APPROVERS

NS, NODE = "dwcp-v3-production", "worker-17"
PEERS = ("consensus-a", "consensus-b", "consensus-c")
NODE_LIMIT = {"max_cordoned_fraction": 1.0}
"""max_cordoned_fraction is tested in tests/engine/test_safety.py; here the session's shared
cluster decides how many nodes there are, so it must not get in the way."""


async def _consensus(catalogue: Catalogue, *, peer_cordoned: bool = False) -> None:
    """worker-17 and three peers carry dwcp.io/consensus=true (4 nodes: 1 may be isolated);
    an ACP pod (component=acp) runs on worker-17."""
    await catalogue.node(NODE, consensus=True)
    for index, peer in enumerate(PEERS):
        await catalogue.node(peer, consensus=True, cordoned=peer_cordoned and index == 0)
    await catalogue.deployment(NS, "acp", "dwcp-acp:3.0", labels={"component": "acp"}, node=NODE)


async def test_byzantine_node_is_isolated_drained_and_deleted(catalogue: Catalogue) -> None:
    """Security paged (routing key ``security``) and told in slack.security_channel; worker-17
    cordoned (quorum 4 nodes, 0 isolated, 1 tolerated); its ACP pod listed; after two
    approvers each, the pod is evicted and the Node object deleted."""
    await _consensus(catalogue)
    await catalogue.start(safety=NODE_LIMIT)
    await catalogue.fire("byzantine-node-detected")
    (page,) = await catalogue.wait_pages(1)
    assert page["routing_key"] == SECURITY_KEY
    assert NODE in page["payload"]["summary"]
    await catalogue.slack.wait_for(
        lambda: any(
            NODE in m.text for m in catalogue.slack.channels[catalogue.security_channel].messages
        ),
        "the security channel post",
        30,
    )

    await catalogue.approval("approve_drain")
    assert await catalogue.unschedulable(NODE)
    steps = await catalogue.steps()
    assert steps["cordon"][1]["quorum"] == {
        "selector": "dwcp.io/consensus=true",
        "nodes": 4,
        "isolated": 0,
        "tolerated": 1,
    }
    assert [p["name"].startswith("acp-") for p in steps["acp_pods"][1]["pods"]] == [True]
    assert steps["acp_logs"][0] == steps["pod_events"][0] == "succeeded"

    await catalogue.click("approve_drain", users=tuple(APPROVERS))
    await catalogue.click("approve_delete", users=tuple(APPROVERS))
    await catalogue.run_end("succeeded")
    assert not await catalogue.kube.exists(f"/api/v1/nodes/{NODE}")
    assert [p for p in await pods_on(catalogue.kube, NODE) if p.startswith(f"{NS}/acp-")] == []
    steps = await catalogue.steps()
    assert len(steps["drain"][1]["evicted"]) == 1
    assert steps["follow_up"][0] == "succeeded"


async def test_one_approver_is_not_enough_to_drain(catalogue: Catalogue) -> None:
    """Four eyes: after one approver's click the drain still waits and the pod still runs."""
    await _consensus(catalogue)
    await catalogue.start(safety=NODE_LIMIT)
    await catalogue.fire("byzantine-node-detected")
    event = await catalogue.click("approve_drain", users=(APPROVERS[0],))
    assert event.required == 2
    run = await catalogue.run()
    assert [(a["step"], a["status"]) for a in run["approvals"]] == [("approve_drain", "pending")]
    assert "drain" not in {s["id"] for s in run["steps"]}


async def test_quorum_guard_refuses_a_second_isolated_consensus_node(
    catalogue: Catalogue,
) -> None:
    """One of the four consensus nodes is already cordoned: cordoning worker-17 would isolate
    2 > 1, so the guard refuses, worker-17 stays schedulable and the incident escalates
    (PagerDuty paged on the default key besides the security page)."""
    await _consensus(catalogue, peer_cordoned=True)
    await catalogue.start(safety=NODE_LIMIT)
    await catalogue.fire("byzantine-node-detected")
    await catalogue.run_end("failed")

    assert not await catalogue.unschedulable(NODE)
    run = await catalogue.run()
    cordon = next(s for s in run["steps"] if s["id"] == "cordon")
    assert cordon["status"] == "failed"
    assert "consensus quorum guard" in cordon["error"]
    pages = await catalogue.wait_pages(2)
    assert [p["routing_key"] for p in pages] == [SECURITY_KEY, ROUTING_KEY]
    timeline = (await catalogue.detail())["timeline"]
    assert any(t["kind"] == "pagerduty.paged" for t in timeline)
