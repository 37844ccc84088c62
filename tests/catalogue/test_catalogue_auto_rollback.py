"""auto-rollback for real (PLAYBOOKS.md): an SLA breach after a deploy rolls the deployment
back to its previous image once the 30 s veto window passes; a human's Reject, a deployment
unchanged for 6 h, the alert resolving during the window and a verification that never
recovers each stop it as the row says."""

from __future__ import annotations

from datetime import timedelta

from cataloguekit import Catalogue
from slackkit import APPROVERS

NS, DEPLOY = "dwcp-v3-production", "dwcp-v3"
WHERE = f'namespace="{NS}", deployment="{DEPLOY}"'
VETO = timedelta(seconds=30)


async def _deployed(catalogue: Catalogue) -> None:
    """dwcp-v3 at revision 2 (image 1.1), its revision 1 had image 1.0."""
    await catalogue.deployment(NS, DEPLOY, "dwcp-v3:1.0")
    await catalogue.new_image(NS, DEPLOY, "dwcp-v3:1.1")


def _breached(catalogue: Catalogue, *, recovers: bool = True) -> None:
    """The SLA recording rules in breach; the verify query recovered (or empty: not yet)."""
    prom = catalogue.prometheus
    prom.script("sla:availability:5m{", 0.95)
    prom.script("sla:latency_p99:5m{", 0.4)
    prom.script("sla:error_rate:5m{", 0.07)
    prom.script("and on (namespace, deployment)", [({"namespace": NS}, 0.9995)] if recovers else [])


async def _image(catalogue: Catalogue) -> str:
    found = await catalogue.get_deployment(NS, DEPLOY)
    image: str = found["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def test_breach_after_deploy_rolls_back_after_the_veto_window(catalogue: Catalogue) -> None:
    """The veto is announced in Slack with only a Reject button; when its 30 s pass the
    deployment is rolled back from 1.1 to 1.0 in the API server, the rollout completes, the
    evidence and verify queries went to Prometheus with quoted labels, nobody was paged."""
    await _deployed(catalogue)
    _breached(catalogue)
    await catalogue.start()
    await catalogue.fire("sla-availability-violation")
    await catalogue.let_veto_pass("approve", VETO)
    await catalogue.run_end("succeeded")

    assert await _image(catalogue) == "dwcp-v3:1.0"
    steps = await catalogue.steps()
    assert steps["unchanged"][0] == "skipped"
    assert steps["history"][1]["current_revision"] == 2
    assert steps["history"][1]["last_change_age_s"] < 21600
    rollback = steps["rollback"][1]
    assert (rollback["before"]["images"], rollback["after"]["images"]) == (
        ["dwcp-v3:1.1"],
        ["dwcp-v3:1.0"],
    )
    assert steps["verify"][0] == "succeeded"
    for metric in ("sla:availability:5m", "sla:latency_p99:5m", "sla:error_rate:5m"):
        assert catalogue.prometheus.asked(f"{metric}{{{WHERE}}}"), metric
    assert catalogue.prometheus.asked(f"{WHERE}}} >= 0.999 and on (namespace, deployment)")
    run = await catalogue.run()
    assert [(a["mode"], a["status"], a["decided_by"]) for a in run["approvals"]] == [
        ("veto", "approved", "medic")
    ]
    assert catalogue.pages() == []
    assert (await catalogue.detail())["incident"]["status"] == "mitigating"


async def test_a_reject_click_stops_the_rollback(catalogue: Catalogue) -> None:
    """An approver clicks Reject in the veto window: the run is aborted, the deployment keeps
    its new image."""
    await _deployed(catalogue)
    _breached(catalogue)
    await catalogue.start()
    await catalogue.fire("sla-latency-violation")
    await catalogue.click("approve", approve=False)
    await catalogue.run_end("aborted")

    assert await _image(catalogue) == "dwcp-v3:1.1"
    run = await catalogue.run()
    assert [(a["status"], a["decided_by"]) for a in run["approvals"]] == [
        ("rejected", APPROVERS[0])
    ]
    assert "rollback" not in {s["id"] for s in run["steps"]}


async def test_no_change_in_six_hours_escalates_instead_of_rolling_back(
    catalogue: Catalogue,
) -> None:
    """The last revision is 7 h old: the guard escalates (PagerDuty paged), no veto is
    offered and nothing is rolled back."""
    await _deployed(catalogue)
    _breached(catalogue)
    catalogue.clock.advance(timedelta(hours=7))
    await catalogue.start()
    await catalogue.fire("sla-availability-violation")
    await catalogue.narrator.run_end("RUN-1")

    assert await _image(catalogue) == "dwcp-v3:1.1"
    steps = await catalogue.steps()
    assert steps["history"][1]["last_change_age_s"] > 21600
    assert steps["unchanged"][0] == "succeeded"
    assert "approve" not in steps
    (page,) = await catalogue.wait_pages(1)
    assert page["event_action"] == "trigger"
    assert page["routing_key"] != ""
    detail = await catalogue.detail()
    assert any("has not changed revision in the last 6 h" in t["text"] for t in detail["timeline"])


async def test_alert_resolving_in_the_veto_window_cancels_the_rollback(
    catalogue: Catalogue,
) -> None:
    """The alert resolves while the veto counts down: the approval and the pending steps are
    cancelled (on_resolved: cancel_pending), the image stays, the incident is resolved."""
    await _deployed(catalogue)
    _breached(catalogue)
    await catalogue.start()
    payload = await catalogue.fire("sla-availability-violation")
    await catalogue.approval("approve")
    await catalogue.resolve(payload)
    await catalogue.run_end("aborted")

    assert await _image(catalogue) == "dwcp-v3:1.1"
    run = await catalogue.run()
    assert [a["status"] for a in run["approvals"]] == ["cancelled"]
    assert "rollback" not in {s["id"] for s in run["steps"]}
    assert (await catalogue.detail())["incident"]["status"] == "resolved"


async def test_verification_that_never_recovers_escalates(catalogue: Catalogue) -> None:
    """Rolled back, but the SLOs do not recover within the 10 min verify window: the step
    fails, the incident escalates and PagerDuty is paged."""
    await _deployed(catalogue)
    _breached(catalogue, recovers=False)
    await catalogue.start(steps={"auto-rollback": {"verify": {"interval": "100ms"}}})
    await catalogue.fire("sla-availability-violation")
    await catalogue.let_veto_pass("approve", VETO)
    verify = "and on (namespace, deployment)"
    await catalogue.slack.wait_for(
        lambda: bool(catalogue.prometheus.asked(verify)), "the first verify poll", 30
    )
    catalogue.clock.advance(timedelta(minutes=11))
    await catalogue.run_end("failed")

    assert await _image(catalogue) == "dwcp-v3:1.0"
    steps = await catalogue.steps()
    assert steps["verify"][0] == "failed"
    (page,) = await catalogue.wait_pages(1)
    assert page["event_action"] == "trigger"
    detail = await catalogue.detail()
    assert any(t["kind"] == "pagerduty.paged" for t in detail["timeline"])
