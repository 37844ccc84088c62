"""``slack.notify``: a message to a named channel (the security channel here) linking back
to the incident channel; a dry run posts nothing and says what it would post."""

from __future__ import annotations

import pytest

from enginekit import detail
from fakes.slack import FakeSlack
from medickit import bearer
from payloads import am_alert, am_payload
from slackkit import SlackMedic

WAIT_S = 30

PLAYBOOK = """
name: test
match: ['alertname="ByzantineNodeDetected"']
target: "node/{{ labels.node }}"
steps:
  - id: tell_security
    uses: slack.notify
    with: {channel: security, text: "Byzantine behaviour on {{ labels.node }}"}
"""


async def run_notify(slack_medic: SlackMedic, fake: FakeSlack, dry_run: bool) -> dict[str, object]:
    """Fire the alert with a security channel configured; the step's API view."""
    security = fake.add_channel("security-alerts")
    client, narrator = await slack_medic(
        PLAYBOOK, slack={"security_channel": security.id}, safety={"dry_run": dry_run}
    )
    payload = am_payload(am_alert("fp1", alertname="ByzantineNodeDetected", node="worker-7"))
    assert (await client.post("/webhooks/alertmanager", json=payload, headers=bearer())).status
    await narrator.run_end("RUN-1", "succeeded")
    (step,) = (await detail(client))["runs"][0]["steps"]
    return dict(step)


@pytest.mark.parametrize("dry_run", [False, True], ids=["live", "dry-run"])
async def test_notify_posts_to_the_security_channel_with_a_link_back(
    slack_medic: SlackMedic, fake_slack: FakeSlack, dry_run: bool
) -> None:
    """The notice names the incident and links its channel (opened for it if need be).
    ``slack.notify`` is a ``notify`` action: it tells humans, so it posts under
    ``safety.dry_run`` too."""
    step = await run_notify(slack_medic, fake_slack, dry_run=dry_run)
    security = fake_slack.channel_named("security-alerts")
    assert security is not None
    (notice,) = fake_slack.top_level(security.id)
    incident_channel = [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
    assert len(incident_channel) == 1
    assert notice.text.startswith("*INC-1* Byzantine behaviour on worker-7")
    assert f"<#{incident_channel[0].id}>" in notice.text
    assert step["dry_run"] is False
    assert step["output"]["channel"] == security.id
