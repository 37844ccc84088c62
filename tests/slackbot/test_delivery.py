"""Slack delivery under stress: Slack down then back (nothing lost, remediation never
waits), 429s honoured, one message per second per channel, and an alert storm."""

from __future__ import annotations

import io
import time
from typing import Any

from bot.slack.sync import SlackTiming

from enginekit import detail
from fakes.slack import FakeChannel, FakeSlack
from medickit import bearer
from payloads import BASE_TIME, am_alert, am_payload
from slackkit import DISK_FULL, FAST, SlackMedic, command

WAIT_S = 30
URL = "/webhooks/alertmanager"

PLAYBOOK = DISK_FULL

LONG_STEPS = "".join(
    f"""
  - id: look_{n}
    uses: prometheus.query
    with: {{query: 'up{{n="{n}"}}'}}"""
    for n in range(14)
)
LONG = PLAYBOOK.replace("steps:", "steps:" + LONG_STEPS, 1)
"""The test playbook with 14 more evidence steps first: more events than one reply lists."""


async def fire(client: Any, *fingerprints: str) -> None:
    """One notification carrying a firing alert per fingerprint."""
    alerts = [am_alert(fp, alertname="DiskFull", instance="db-1:9100") for fp in fingerprints]
    response = await client.post(URL, json=am_payload(*alerts), headers=bearer())
    assert response.status == 200


def the_channel(fake: FakeSlack) -> FakeChannel | None:
    """The one incident channel with its pinned status message."""
    pinned = [c for c in fake.channels.values() if c.pins]
    return pinned[0] if len(pinned) == 1 else None


def thread(fake: FakeSlack, channel: FakeChannel) -> str:
    """All the text of the status message's thread."""
    status = fake.top_level(channel.id)[0]
    return "\n".join(m.text for m in fake.thread(channel.id, status.ts))


async def test_slack_down_then_back_loses_nothing_and_never_holds_remediation(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """With Slack answering 503 the run still finishes; once Slack is back the channel, the
    status message and every timeline event arrive."""
    fake_slack.go_down(503)
    client, narrator = await slack_medic(LONG)
    await fire(client, "fp1")
    await narrator.run_end("RUN-1", "succeeded")
    assert not fake_slack.channels
    assert any(c.status == 503 for c in fake_slack.calls)
    fake_slack.back_up()
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    body = await detail(client)
    texts = [t["text"] for t in body["timeline"]]
    told = await fake_slack.wait_for(
        lambda: _containing(thread(fake_slack, channel), texts),
        "every timeline event in the thread",
        WAIT_S,
    )
    assert "RUN-1 clean (kubernetes.restart) succeeded" in told
    created = [c for c in fake_slack.calls_to("conversations.create") if c.status == 200]
    assert len(created) == 1
    assert len(fake_slack.channels) == 1


async def test_slack_timing_out_then_back_loses_nothing(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Calls that hang until the client times out are retried later, not lost."""
    fake_slack.hang()
    timing = SlackTiming(
        sweep_s=0.05,
        retry_min_s=0.05,
        retry_max_s=0.2,
        post_interval_s=0.05,
        call_timeout_s=1,
        settle_s=0.5,
    )
    client, narrator = await slack_medic(PLAYBOOK, timing=timing)
    await fire(client, "fp1")
    await narrator.run_end("RUN-1", "succeeded")
    await fake_slack.wait_for(
        lambda: len(fake_slack.calls_to("conversations.create")) >= 2,
        "a second attempt after the first one timed out, while Slack still hangs",
        WAIT_S,
    )
    fake_slack.back_up()
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    await fake_slack.wait_for(
        lambda: "clean (kubernetes.restart) succeeded" in thread(fake_slack, channel),
        "the last step in the thread",
        WAIT_S,
    )


async def test_429_is_honoured_with_retry_after(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """A 429 on chat.postMessage is retried after its Retry-After, and the message lands."""
    fake_slack.rate_limit_next("chat.postMessage", 1, retry_after=1)
    client, _ = await slack_medic(PLAYBOOK)
    await fire(client, "fp1")
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    posts = fake_slack.calls_to("chat.postMessage")
    limited = [i for i, c in enumerate(posts) if c.status == 429]
    assert limited == [0]
    assert posts[1].at - posts[0].at >= 1.0
    assert fake_slack.top_level(channel.id)


async def test_a_burst_coalesces_and_posts_stay_within_one_per_second(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """With Slack's real pacing (1 post/s/channel, enforced by the fake), a burst of alert
    notifications becomes a few thread replies, and the fake never had to answer 429."""
    fake_slack.post_interval_s = 1.0
    real = SlackTiming(sweep_s=0.05, retry_min_s=0.05, retry_max_s=0.5)
    client, _ = await slack_medic(None, timing=real)
    for batch in range(10):
        await fire(client, *(f"fp-{batch}-{n}" for n in range(20)))
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    await fake_slack.wait_for(
        lambda: "200 alert(s)" in str(fake_slack.top_level(channel.id)[0].blocks),
        "the status message to count the whole burst",
        WAIT_S,
    )
    assert "more alert changes in this burst" in thread(fake_slack, channel)
    assert all(c.status != 429 for c in fake_slack.calls_to("chat.postMessage"))
    assert fake_slack.max_posts_per_second(channel.id) <= 1
    assert fake_slack.posts_per_channel()[channel.id] < 15
    assert len(fake_slack.calls_to("conversations.create")) == 1


async def test_declared_incidents_each_get_their_channel(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Two declarations, two channels, each with its own pinned status message."""
    client, _ = await slack_medic()
    await command(client, "declare One")
    await command(client, "declare Two")
    await fake_slack.wait_for(
        lambda: len([c for c in fake_slack.channels.values() if c.pins]) == 2,
        "two channels",
        WAIT_S,
    )
    assert FAST.post_interval_s == fake_slack.post_interval_s


def _containing(text: str, parts: list[str]) -> str:
    return text if all(part in text for part in parts) else ""


async def test_a_storm_of_ten_thousand_alerts_is_one_channel_and_few_messages(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """10,000 alerts in one group: one incident, one channel, a number of posts bounded by
    the storm's length in seconds (not by its alerts), never two in the same second, and the
    status message counts them all."""
    fake_slack.post_interval_s = 1.0
    real = SlackTiming(sweep_s=0.05, retry_min_s=0.05, retry_max_s=0.5)
    client, narrator = await slack_medic(PLAYBOOK, timing=real)
    storm_began = time.monotonic()
    for batch in range(10):
        await fire(client, *(f"storm-{batch}-{n}" for n in range(1000)))
    storm_seconds = time.monotonic() - storm_began
    await narrator.run_end("RUN-1", "succeeded")
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    await fake_slack.wait_for(
        lambda: "10000 alert(s)" in str(fake_slack.top_level(channel.id)[0].blocks),
        "the status message to count the whole storm",
        60,
    )
    assert len(fake_slack.calls_to("conversations.create")) == 1
    assert len(fake_slack.channels) == 1
    assert all(c.status != 429 for c in fake_slack.calls_to("chat.postMessage"))
    assert fake_slack.max_posts_per_second(channel.id) <= 1
    await fake_slack.wait_for(
        lambda: "clean (kubernetes.restart) succeeded" in thread(fake_slack, channel),
        "the run's last step, not crowded out by the storm",
        WAIT_S,
    )
    # One post a second at most while alerts arrive, then a few: bounded by the storm's
    # length (a loaded machine stretches it), never by its 10,000 alerts.
    assert fake_slack.posts_per_channel()[channel.id] <= max(30, int(storm_seconds) + 15)
    assert "more alert changes in this burst" in thread(fake_slack, channel)
    assert len((await detail(client))["alerts"]) == 10000


async def test_a_failed_pin_never_posts_a_second_status_message(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """pins.add rate-limited several times: the status message is posted once and pinned
    once Slack lets it."""
    fake_slack.rate_limit_next("pins.add", 4, retry_after=0)
    client, _ = await slack_medic(PLAYBOOK)
    await fire(client, "fp1")
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the pin", WAIT_S)
    assert len(fake_slack.top_level(channel.id)) == 1
    assert len([c for c in fake_slack.calls_to("pins.add") if c.status == 200]) == 1


async def test_narration_of_a_resolved_incident_in_an_archived_channel_is_given_up(
    slack_medic: SlackMedic, fake_slack: FakeSlack, log_stream: io.StringIO
) -> None:
    """Someone archives the channel; the incident resolves; Slack refuses every post for
    good, so after a few tries Medic gives that incident's narration up, loudly."""
    client, narrator = await slack_medic(PLAYBOOK)
    await fire(client, "fp1")
    await narrator.run_end("RUN-1", "succeeded")
    channel = await fake_slack.wait_for(lambda: the_channel(fake_slack), "the channel", WAIT_S)
    channel.is_archived = True
    resolved = am_alert(
        "fp1", alertname="DiskFull", instance="db-1:9100", status="resolved", ends_at=BASE_TIME
    )
    assert (await client.post(URL, json=am_payload(resolved), headers=bearer())).status == 200
    await fake_slack.wait_for(
        lambda: "slack.narration_given_up" in log_stream.getvalue(), "giving up", WAIT_S
    )
    assert (await detail(client))["incident"]["status"] == "resolved"
    assert any(c.status == 200 and c.args.get("channel") == channel.id for c in fake_slack.calls)
