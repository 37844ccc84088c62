"""node-pressure for real (PLAYBOOKS.md): a node out of memory is cordoned when the 60 s veto
passes and drained with two approvers; a tripped ``safety.limits`` entry turns the cordon
into a four-eyes consent, which a Reject stops."""

from __future__ import annotations

from datetime import timedelta

from cataloguekit import Catalogue
from slackkit import APPROVERS

NODE = "worker-09"
NODE_LIMIT = {"max_cordoned_fraction": 1.0}
"""max_cordoned_fraction is tested in tests/engine/test_safety.py; the session's shared
cluster decides how many nodes there are here."""
VETO = timedelta(seconds=60)


async def test_memory_pressure_cordons_after_the_veto_and_drains_with_four_eyes(
    catalogue: Catalogue,
) -> None:
    """Memory and top-pods queries name worker-09 (quoted); the veto passes, worker-09 is
    unschedulable, and after two approvers the drain ends the run."""
    await catalogue.node(NODE)
    catalogue.prometheus.script("node_memory_MemAvailable_bytes", 0.93)
    await catalogue.start(safety=NODE_LIMIT)
    await catalogue.fire("node-high-memory")
    await catalogue.let_veto_pass("approve_cordon", VETO)
    await catalogue.approval("approve_drain")
    assert await catalogue.unschedulable(NODE)

    await catalogue.click("approve_drain", users=tuple(APPROVERS))
    await catalogue.run_end("succeeded")
    steps = await catalogue.steps()
    assert steps["memory"][1]["value"] == 0.93
    assert steps["drain"][0] == "succeeded"
    assert catalogue.prometheus.asked('node_memory_MemTotal_bytes{instance="worker-09"}')
    assert catalogue.prometheus.asked('container_memory_working_set_bytes{node="worker-09"')


async def test_rate_limit_asks_two_humans_and_a_reject_keeps_the_node(
    catalogue: Catalogue,
) -> None:
    """The cordon limit is used up: after the veto Medic asks a four-eyes consent naming the
    limit instead of cordoning; a Reject aborts the run and worker-09 stays schedulable."""
    await catalogue.node(NODE)
    limits = {"kubernetes.cordon": {"max": 0, "per": "1h"}}
    await catalogue.start(safety={**NODE_LIMIT, "limits": limits})
    await catalogue.fire("node-high-memory")
    await catalogue.let_veto_pass("approve_cordon", VETO)
    event = await catalogue.click("cordon", approve=False)
    assert event.required == 2
    assert "limit kubernetes.cordon" in (event.reason or "")
    await catalogue.run_end("aborted")
    assert not await catalogue.unschedulable(NODE)


async def test_rate_limit_consent_of_two_humans_lets_the_cordon_run(
    catalogue: Catalogue,
) -> None:
    """The same tripped limit, approved by two approvers: worker-09 is cordoned."""
    await catalogue.node(NODE)
    limits = {"kubernetes.cordon": {"max": 0, "per": "1h"}}
    await catalogue.start(safety={**NODE_LIMIT, "limits": limits})
    await catalogue.fire("node-high-memory")
    await catalogue.let_veto_pass("approve_cordon", VETO)
    await catalogue.click("cordon", users=tuple(APPROVERS))
    await catalogue.approval("approve_drain")
    assert await catalogue.unschedulable(NODE)
