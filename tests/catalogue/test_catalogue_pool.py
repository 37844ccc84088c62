"""pool-exhaustion and pool-revert for real (PLAYBOOKS.md): with consent the pool goes to
150/200, the rollout and the pool-use verification follow, the channel offers the revert,
and ``/incident run pool-revert`` puts 100/150 back after the incident resolved; a Reject
changes nothing."""

from __future__ import annotations

from typing import Any

from cataloguekit import Catalogue
from slackkit import APPROVERS, click, command

NS, DEPLOY = "production", "dwcp-api"
USUAL = {"DB_POOL_SIZE": "100", "DB_POOL_MAX": "150"}
WHERE = f'namespace="{NS}", deployment="{DEPLOY}"'


async def _env(catalogue: Catalogue) -> dict[str, str]:
    found: Any = await catalogue.get_deployment(NS, DEPLOY)
    container = found["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env", [])}


async def test_pool_raised_verified_and_reverted_after_resolution(catalogue: Catalogue) -> None:
    """Consent → DB_POOL_SIZE=150, DB_POOL_MAX=200 in the API server, verify sees 0.55 < 0.8;
    the channel carries the revert offer; once resolved, ``/incident run pool-revert`` in the
    incident channel, approved, sets 100/150 again."""
    await catalogue.deployment(NS, DEPLOY, "dwcp-api:2.4", env=USUAL)
    catalogue.prometheus.script("dwcp_db_connections_active", 0.55)
    await catalogue.start()
    payload = await catalogue.fire("db-pool-exhausted")
    await catalogue.click("approve")
    await catalogue.run_end("succeeded")

    assert await _env(catalogue) == {"DB_POOL_SIZE": "150", "DB_POOL_MAX": "200"}
    steps = await catalogue.steps()
    assert steps["raise_pool"][1]["before"]["env"] == USUAL
    assert steps["verify"][0] == "succeeded"
    assert catalogue.prometheus.asked(
        f"dwcp_db_connections_active{{{WHERE}}} / dwcp_db_connections_max{{{WHERE}}}"
    )
    await catalogue.wait_channel("/incident run pool-revert")

    await catalogue.resolve(payload)
    channel = (await catalogue.detail())["incident"]["slack_channel"]
    assert (await catalogue.detail())["incident"]["status"] == "resolved"
    reply = await command(catalogue.medic, "run pool-revert", user=APPROVERS[1], channel=channel)
    assert "RUN-2" in reply["text"], reply
    event = await catalogue.narrator.wait_for("approval_requested", lambda e: e.run_id == "RUN-2")
    message = await catalogue.message(event.approval_id)
    assert (
        await click(
            catalogue.medic,
            event.approval_id,
            user=APPROVERS[0],
            channel=message.channel,
            fake=catalogue.slack,
        )
        == 200
    )
    await catalogue.run_end("succeeded", "RUN-2")
    assert await _env(catalogue) == USUAL


async def test_rejected_consent_changes_nothing(catalogue: Catalogue) -> None:
    """An approver rejects the raise: the run is aborted and the env stays 100/150."""
    await catalogue.deployment(NS, DEPLOY, "dwcp-api:2.4", env=USUAL)
    await catalogue.start()
    await catalogue.fire("db-pool-exhausted")
    await catalogue.click("approve", approve=False)
    await catalogue.run_end("aborted")
    assert await _env(catalogue) == USUAL
    assert "raise_pool" not in await catalogue.steps()
