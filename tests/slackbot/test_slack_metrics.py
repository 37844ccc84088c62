"""Slack delivery on ``/metrics``: while Slack is down, failed calls are counted and the
incident is Slack backlog; once Slack is back the backlog drains."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from fakes.slack import FakeSlack
from harness.waiting import eventually
from medickit import bearer
from payloads import am_alert, am_payload
from slackkit import SlackMedic


async def _slack_figures(client: Any) -> tuple[float, float]:
    """(failed Slack deliveries, incidents behind in Slack) on ``/metrics``."""
    text = await (await client.get("/metrics")).text()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("target") == "slack":
                found[sample.name] = sample.value
    return found["medic_delivery_failures_total"], found["medic_delivery_backlog"]


async def test_slack_outage_is_counted_and_backlog_drains(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack answering 503: ``medic_delivery_failures_total{target="slack"}`` grows and the
    incident is ``medic_delivery_backlog{target="slack"}``; Slack back up: backlog 0."""
    fake_slack.go_down(503)
    client, narrator = await slack_medic()
    payload = am_payload(am_alert("fp-slack-down"))
    assert (await client.post("/webhooks/alertmanager", json=payload, headers=bearer())).ok
    await narrator.wait_for("incident")

    async def failing() -> tuple[float, float] | None:
        failures, backlog = await _slack_figures(client)
        return (failures, backlog) if failures >= 1 and backlog == 1 else None

    await eventually(failing, 20, "a failed Slack delivery and one incident behind")
    fake_slack.back_up()

    async def drained() -> bool:
        return (await _slack_figures(client))[1] == 0

    await eventually(drained, 30, "the Slack backlog drained")
