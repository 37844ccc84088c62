"""An incident's Slack channel: its name, invitees, topic, the pinned status message kept up
to date, and the timeline thread (with evidence), against the fake Slack Web API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.slack.names import channel_name, slug, topic

from enginekit import decide, detail
from fakes.slack import FakeChannel, FakeSlack
from medickit import bearer
from payloads import am_alert, am_payload
from slackkit import APPROVERS, INVITE, SlackMedic

URL = "/webhooks/alertmanager"

PLAYBOOK = """
name: test
match: ['alertname="DiskFull"']
target: "host/{{ labels.instance }}"
severity: sev2
steps:
  - id: evidence
    uses: prometheus.query
    with: {query: 'node_filesystem_avail_bytes{instance={{ labels.instance | promql }}}'}
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 10m, prompt: "Clean {{ target }}?"}
  - id: clean
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


async def fire(client: Any, alertname: str = "DiskFull", fingerprint: str = "fp1") -> None:
    """Send one firing alert through the Alertmanager webhook."""
    payload = am_payload(am_alert(fingerprint, alertname=alertname, instance="db-1:9100"))
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 200


async def incident_channel(fake: FakeSlack, client: Any, incident: str = "INC-1") -> FakeChannel:
    """The incident's channel once its status message is pinned."""

    def ready() -> FakeChannel | None:
        for channel in fake.channels.values():
            if channel.pins and channel.name.startswith("inc-"):
                return channel
        return None

    channel = await fake.wait_for(ready, "the incident channel with its pinned status message")
    body = await detail(client, incident)
    assert body["incident"]["slack_channel"] == channel.id
    return channel


def thread_text(fake: FakeSlack, channel: FakeChannel) -> str:
    """Everything posted in the status message's thread."""
    (status,) = fake.top_level(channel.id)[:1]
    return "\n".join(m.text for m in fake.thread(channel.id, status.ts))


def test_channel_names_follow_slacks_rules() -> None:
    """Lowercase, only a-z0-9-_, at most 80 characters, dated; the id stands in for no slug."""
    day = datetime(2026, 11, 24, tzinfo=UTC)
    assert channel_name("inc", day, "DB pool: EXHAUSTED (api/v2)!", "INC-3") == (
        "inc-20261124-db-pool-exhausted-api-v2"
    )
    long = channel_name("inc", day, "x" * 300, "INC-3")
    assert len(long) <= 77  # room left for a -<n> suffix
    assert channel_name("inc", day, "¡¿!!", "INC-3") == "inc-20261124-inc-3"
    assert slug("Ünïcode Ωmega") == "n-code-mega"
    assert len(topic("sev1", "t" * 400, "open")) == 250


async def test_alert_opens_a_channel_with_invites_topic_and_pinned_status(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """The first alert creates the channel, invites ``slack.invite`` and the approvers, sets
    the topic, and posts and pins the status message; the incident links the channel id."""
    client, _ = await slack_medic(PLAYBOOK)
    await fire(client)
    channel = await incident_channel(fake_slack, client)
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert channel.name.startswith(f"inc-{today}-")
    assert {*INVITE, *APPROVERS} <= channel.members
    assert channel.topic.startswith("SEV2 · open · ")
    status = fake_slack.top_level(channel.id)[0]
    assert status.ts in channel.pins
    header = status.blocks[0]["text"]["text"]
    assert header.startswith("INC-1 · ")
    fields = " ".join(f["text"] for f in status.blocks[1]["fields"])
    for expected in ("*Severity*\nSEV2", "*Playbook*\ntest", "*Progress*\n"):
        assert expected in fields


async def test_status_message_is_edited_in_place_and_thread_tells_the_timeline(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Steps, the approval and its decision show up in the thread; the one status message is
    edited (never reposted) to show the current step and progress."""
    client, narrator = await slack_medic(PLAYBOOK)
    await fire(client)
    channel = await incident_channel(fake_slack, client)
    requested = await narrator.wait_for("approval_requested")
    await fake_slack.wait_for(
        lambda: "approve (waiting_approval)" in str(fake_slack.top_level(channel.id)[0].blocks),
        "the status message to show the waiting approval",
    )
    assert (await decide(client, requested.approval_id, APPROVERS[0], "approve"))[0] == 200
    await narrator.run_end("RUN-1", "succeeded")
    await fake_slack.wait_for(
        lambda: "3/3 steps" in str(fake_slack.top_level(channel.id)[0].blocks),
        "the status message to show 3/3 steps",
    )
    status = fake_slack.top_level(channel.id)[0]
    assert status.edits >= 1
    headers = [
        m
        for m in fake_slack.top_level(channel.id)
        if m.blocks[:1] and m.blocks[0]["type"] == "header"
    ]
    assert headers == [status]
    assert len(fake_slack.calls_to("pins.add")) == 1
    text = await fake_slack.wait_for(
        lambda: _told(
            thread_text(fake_slack, channel), "RUN-1 clean (kubernetes.restart) succeeded"
        ),
        "the thread to tell the last step",
        timeout=30,
    )
    assert "DiskFull" in text
    assert "RUN-1 evidence (prometheus.query) started" in text
    assert "APR-1" in text
    assert "```" in text  # the evidence step's output as a code block
    assert "would query Prometheus" in text


async def test_evidence_is_truncated_with_a_note() -> None:
    """Long evidence is cut to a compact code block and says how much is left out."""
    from bot.slack.render import EVIDENCE_CHARS, evidence_block  # noqa: PLC0415

    block = evidence_block({"lines": ["x" * 50] * 100}, "GET /api/incidents/INC-1")
    assert block.count("```") == 2
    assert "truncated:" in block
    assert "GET /api/incidents/INC-1" in block
    assert len(block) < EVIDENCE_CHARS + 200


async def test_name_taken_gets_a_numeric_suffix(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """When the channel name exists, Medic takes ``<name>-2``."""
    today = datetime.now(UTC).strftime("%Y%m%d")
    client, _ = await slack_medic(PLAYBOOK)
    body = await detail(client, "INC-1")
    assert body.get("error") == "not_found"
    fake_slack.add_channel(f"inc-{today}-diskfull-is-firing")
    await fire(client)
    channel = await incident_channel(fake_slack, client)
    assert channel.name == f"inc-{today}-diskfull-is-firing-2"
    refused = [
        c
        for c in fake_slack.calls_to("conversations.create")
        if c.args["name"].endswith("diskfull-is-firing")
    ]
    assert refused


def _told(text: str, line: str) -> str:
    return text if line in text else ""
