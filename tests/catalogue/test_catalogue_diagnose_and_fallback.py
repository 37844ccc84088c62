"""diagnose-only and fallback for real (PLAYBOOKS.md): evidence into the incident and no
change to the world; an unmatched critical alert is noted and escalated (PagerDuty paged).
Label values reach Prometheus as quoted literals whatever they contain."""

from __future__ import annotations

from cataloguekit import Catalogue


async def test_disk_space_low_gathers_evidence_and_changes_nothing(catalogue: Catalogue) -> None:
    """DiskSpaceLow (critical): severity raised to sev1, the disk query names instance
    worker-03, the summary points at the runbook; no write step, nobody paged."""
    catalogue.prometheus.script("node_filesystem_avail_bytes", 4.5)
    await catalogue.start()
    await catalogue.fire("disk-space-low")
    await catalogue.run_end("succeeded")

    detail = await catalogue.detail()
    assert detail["incident"]["severity"] == "sev1"
    steps = await catalogue.steps()
    assert steps["disk"][1]["expectation_met"] is False
    assert steps["summary"][0] == "succeeded"
    assert all(s[0] == "skipped" for k, s in steps.items() if k in {"certificate_days"})
    assert catalogue.prometheus.asked('node_filesystem_avail_bytes{instance="worker-03"')
    assert catalogue.pages() == []
    assert detail["incident"]["status"] == "open"


async def test_hostile_label_value_stays_a_quoted_literal(catalogue: Catalogue) -> None:
    """A certificate subject carrying quotes, braces and a PromQL tail reaches Prometheus
    escaped inside one string literal: the query's shape is unchanged."""
    hostile = 'api"} or vector(1) # \\'
    await catalogue.start()
    await catalogue.fire("certificate-expiring", subject=hostile)
    await catalogue.run_end("succeeded")

    (query,) = catalogue.prometheus.asked("x509_cert_not_after")
    assert query == (
        '(x509_cert_not_after{subject="api\\"} or vector(1) # \\\\"} - time()) / 86400'
    )


async def test_unmatched_critical_alert_falls_back_and_escalates(catalogue: Catalogue) -> None:
    """A critical DWCP alert (its runbooks' ``team`` label) no playbook handles: the fallback
    notes it and escalates in the incident without paging PagerDuty (enabled here): DWCP's
    Alertmanager pages for critical alerts itself."""
    await catalogue.start()
    await catalogue.fire("real-am-0.25-firing", team="sre")
    await catalogue.run_end("succeeded")

    run = await catalogue.run()
    assert run["playbook"] == "fallback"
    assert catalogue.pages() == []
    timeline = (await catalogue.detail())["timeline"]
    assert any("No playbook matched AlwaysFiring" in t["text"] for t in timeline)
    (escalated,) = [t["text"] for t in timeline if t["kind"] == "incident.escalated"]
    assert escalated.endswith("(not paged: this playbook escalates without paging)")


async def test_a_critical_alert_of_another_service_gets_no_dwcp_playbook(
    catalogue: Catalogue,
) -> None:
    """The real Alertmanager capture (critical, no DWCP label) opens an incident without
    runs: no DWCP playbook, no page."""
    await catalogue.start()
    await catalogue.fire("real-am-0.25-firing")
    await catalogue.narrator.wait_for("incident", lambda change: change.kind == "opened")

    detail = await catalogue.detail()
    assert (detail["incident"]["playbooks"], detail["runs"]) == ([], [])
    assert catalogue.pages() == []
