"""Files in the incident channel: the evidence graph (drawn from a real Prometheus) in the
status thread, and the drafted post-incident report once the incident resolves."""

from __future__ import annotations

from typing import Any

from evidencekit import EXPR, SAMPLES_TIMEOUT, graph_url, series_count
from fakes.slack import FakeSlack
from harness.prometheus import PrometheusServer
from harness.waiting import eventually
from medickit import bearer
from payloads import BASE_TIME, am_alert, am_payload
from slackkit import SlackMedic

WAIT_S = 30
URL = "/webhooks/alertmanager"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def send(client: Any, status: str, generator_url: str | None = None) -> None:
    """The WidgetsHigh alert, firing or resolved."""
    alert = am_alert(
        "fp-graph",
        alertname="WidgetsHigh",
        status=status,
        ends_at=BASE_TIME if status == "resolved" else None,
    )
    if generator_url is not None:
        alert["generatorURL"] = generator_url
    payload = am_payload(alert, group_key='{}:{alertname="WidgetsHigh"}')
    assert (await client.post(URL, json=payload, headers=bearer())).status == 200


async def test_the_evidence_graph_is_uploaded_into_the_status_thread(
    slack_medic: SlackMedic, fake_slack: FakeSlack, prometheus: PrometheusServer
) -> None:
    """The alert's expression, drawn from the real Prometheus, goes into the channel through
    Slack's external upload flow, in the status message's thread."""
    await eventually(lambda: series_count(prometheus), SAMPLES_TIMEOUT, "scraped samples")
    client, _ = await slack_medic(prometheus={"url": prometheus.url})
    await send(client, "firing", graph_url(prometheus.url, EXPR))
    (upload,) = await fake_slack.wait_for(lambda: fake_slack.uploads, "the graph upload", WAIT_S)
    assert upload.content.startswith(PNG_SIGNATURE)
    assert upload.filename == "INC-1-WidgetsHigh.png"
    assert EXPR in upload.title
    channel = fake_slack.channels[upload.channel_id]
    assert upload.thread_ts == fake_slack.top_level(channel.id)[0].ts
    methods = [c.method for c in fake_slack.calls]
    assert methods.index("files.getUploadURLExternal") < methods.index("upload")
    assert methods.index("upload") < methods.index("files.completeUploadExternal")


async def test_the_report_is_posted_when_the_incident_resolves(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """No graph without an expression; on resolution the drafted report arrives once, as a
    Markdown file."""
    client, _ = await slack_medic()
    await send(client, "firing")
    await fake_slack.wait_for(
        lambda: [c for c in fake_slack.channels.values() if c.pins], "the channel", WAIT_S
    )
    await send(client, "resolved")
    (upload,) = await fake_slack.wait_for(lambda: fake_slack.uploads, "the report", WAIT_S)
    assert upload.filename == "INC-1-post-incident-report.md"
    text = upload.content.decode()
    assert "INC-1" in text
    assert "Root Cause" in text
    assert upload.thread_ts is None
    assert "post-incident report" in (upload.initial_comment or "")
