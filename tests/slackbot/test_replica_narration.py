"""Two replicas on one PostgreSQL narrate each incident's Slack channel once: one replica
at a time holds the channel's lease, so there is one channel and no line posted twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fakes.slack import FakeSlack
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload
from slackkit import FAST, slack_section

URL = "/webhooks/alertmanager"
WAIT_S = 30.0


def _thread_lines(fake: FakeSlack) -> list[str]:
    """Every line of the one incident channel's timeline thread."""
    (channel,) = fake.channels.values()
    status = fake.top_level(channel.id)[0]
    return [m.text for m in fake.thread(channel.id, status.ts)]


async def test_two_replicas_narrate_one_channel_once(
    start_medic: StartMedic, fake_slack: FakeSlack, postgres_url: str
) -> None:
    """Alerts of one group sent alternately to two replicas: one channel is opened, its
    status message counts every alert, and no timeline line appears twice."""
    settings = make_settings(
        postgres_url, server={"api_token": API_TOKEN}, slack=slack_section(fake_slack)
    )
    replicas = [await start_medic(settings, slack_timing=FAST) for _ in range(2)]
    for index in range(6):
        alert = am_alert(f"fp{index}", alertname="DiskFull", instance=f"db-{index}:9100")
        response = await replicas[index % 2].post(URL, json=am_payload(alert), headers=bearer())
        assert response.status == 200

    def counted() -> Any:
        channels = [c for c in fake_slack.channels.values() if c.pins]
        if len(channels) != 1:
            return None
        return "6 alert(s)" in str(fake_slack.top_level(channels[0].id)[0].blocks)

    await fake_slack.wait_for(counted, "the status message to count six alerts", WAIT_S)
    lines = _thread_lines(fake_slack)
    assert len(fake_slack.calls_to("conversations.create")) == 1
    assert [line for line, n in Counter(lines).items() if n > 1] == []
