"""``POST /slack/events``: Slack's signature and 5-minute window, retries without a second
effect, and every ``/incident`` subcommand."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from enginekit import detail
from fakes.slack import FakeChannel, FakeSlack
from medickit import bearer
from payloads import am_alert, am_payload, sample
from slackkit import ADMINS, APPROVERS, DISK_FULL, SlackMedic, command, command_body, send, signed

WAIT_S = 30

SAMPLE = "slack/slash-command-incident-declare"

PLAYBOOK = DISK_FULL

MANUAL = """
name: manual-fix
target: "host/{{ labels.instance }}"
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 10m, prompt: "Fix {{ target }}?"}
  - id: fix
    uses: kubernetes.restart
    with: {namespace: prod, deployment: api}
"""


async def incidents(client: Any) -> list[dict[str, Any]]:
    """GET /api/incidents."""
    found: list[dict[str, Any]] = (await (await client.get("/api/incidents")).json())["incidents"]
    return found


async def channel_of(fake: FakeSlack, client: Any, incident: str) -> FakeChannel:
    """The incident's channel once its status message is pinned."""

    async def linked() -> str | None:
        return (await detail(client, incident))["incident"]["slack_channel"]  # type: ignore[no-any-return]

    channel_id = None
    deadline = time.monotonic() + WAIT_S
    while channel_id is None and time.monotonic() < deadline:
        channel_id = await linked()
        if channel_id is None:
            await fake.wait_for(lambda: fake.calls_to("conversations.create"), "a channel", WAIT_S)
            channel_id = await linked()
    assert channel_id is not None, f"{incident} never got a channel"
    return await fake.wait_for(
        lambda: fake.channels[channel_id] if fake.channels[channel_id].pins else None,
        f"the pinned status message of {incident}",
        WAIT_S,
    )


async def test_forged_signature_is_401_and_does_nothing(slack_medic: SlackMedic) -> None:
    """A body signed with another secret is refused with 401 and no incident is declared."""
    client, _ = await slack_medic()
    body = command_body("declare Forged outage")
    status, raw = await send(client, body, signed(body, secret="not-the-secret"))
    assert status == 401
    assert json.loads(raw)["error"] == "unauthorized"
    assert await incidents(client) == []


async def test_stale_timestamp_is_401_and_does_nothing(slack_medic: SlackMedic) -> None:
    """A correctly signed request older than 5 minutes is refused (replay window)."""
    client, _ = await slack_medic()
    body = command_body("declare Old outage")
    status, _ = await send(client, body, signed(body, at=time.time() - 6 * 60))
    assert status == 401
    unsigned, _ = await send(client, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned == 401
    assert await incidents(client) == []


async def test_declare_from_the_sample_opens_an_incident_with_its_channel(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack's own sample: ``declare API outage in us-east-1 --sev 1`` opens a sev1 incident
    whose commander is the declarer, answered in channel; the channel invites them."""
    client, _ = await slack_medic()
    fields = {k: v for k, v in sample(SAMPLE).items() if not k.startswith("_")}
    body = urlencode(fields)
    status, raw = await send(client, body)
    assert status == 200
    reply = json.loads(raw)
    assert reply["response_type"] == "in_channel"
    assert "INC-1 declared" in reply["text"]
    (incident,) = await incidents(client)
    assert (incident["title"], incident["severity"], incident["status"]) == (
        "API outage in us-east-1",
        "sev1",
        "open",
    )
    channel = await channel_of(fake_slack, client, "INC-1")
    assert channel.name.endswith("-api-outage-in-us-east-1")
    assert "U0ONCALL1" in channel.members
    assert "<@U0ONCALL1>" in str(fake_slack.top_level(channel.id)[0].blocks)  # commander


async def test_a_retried_command_has_no_second_effect(slack_medic: SlackMedic) -> None:
    """Slack re-sending the same command (``X-Slack-Retry-Num``) declares nothing new."""
    client, _ = await slack_medic()
    body = command_body("declare Retried outage", trigger="trigger-retried-1")
    assert (await send(client, body))[0] == 200
    headers = {**signed(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    status, _ = await send(client, body, headers)
    assert status == 200
    assert len(await incidents(client)) == 1


async def test_help_and_unknown_input_get_the_help(slack_medic: SlackMedic) -> None:
    """``help``, an empty command and nonsense all answer with the usage, privately."""
    client, _ = await slack_medic()
    for text in ("help", "", "frobnicate the thing", "declare"):
        reply = await command(client, text)
        assert reply["response_type"] == "ephemeral"
        assert "/incident" in reply["text"]
    assert "Unknown subcommand `frobnicate`" in (await command(client, "frobnicate"))["text"]
    assert "Give the incident a title" in (await command(client, "declare --sev 2"))["text"]
    assert "--sev` takes 1, 2, 3 or 4" in (await command(client, "declare X --sev 9"))["text"]


async def test_outside_an_incident_channel_commands_say_how_to_pick_one(
    slack_medic: SlackMedic,
) -> None:
    """status/ack/resolve/run elsewhere explain how to pick an incident; naming one works."""
    client, _ = await slack_medic()
    for text in ("status", "ack", "resolve", "run test"):
        reply = await command(client, text, user=APPROVERS[0], channel="C0RANDOM")
        assert "not an incident channel" in reply["text"], text
    await command(client, "declare Named outage")
    reply = await command(client, "status INC-1", channel="C0RANDOM")
    assert "*INC-1* Named outage" in reply["text"]
    assert "not_found" not in reply["text"]
    for text in ("status INC-9", "ack INC-9", "resolve INC-9 gone", "run INC-9 test"):
        reply = await command(client, text, user=APPROVERS[0])
        assert "no incident INC-9" in reply["text"], text


async def test_status_ack_list_resolve_in_the_incident_channel(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """In its channel: status describes the incident, ack acknowledges it, list shows it
    among open incidents, resolve (approvers only) resolves it; each is in the timeline."""
    client, narrator = await slack_medic(PLAYBOOK)
    payload = am_payload(am_alert("fp1", alertname="DiskFull", instance="db-1:9100"))
    assert (await client.post("/webhooks/alertmanager", json=payload, headers=bearer())).status
    await narrator.run_end("RUN-1")
    channel = await channel_of(fake_slack, client, "INC-1")

    status = await command(client, "status", channel=channel.id)
    assert "*INC-1*" in status["text"]
    assert "RUN-1 test: succeeded" in status["text"]

    stranger = await command(client, "ack", user="U0STRANGER", channel=channel.id)
    assert "may not acknowledge" in stranger["text"]
    assert (await detail(client))["incident"]["status"] == "open"
    ack = await command(client, "ack", user=APPROVERS[1], channel=channel.id)
    assert ack["response_type"] == "in_channel"
    assert (await detail(client))["incident"]["status"] == "acknowledged"

    listed = await command(client, "list", channel=channel.id)
    assert "*INC-1*" in listed["text"]
    assert f"<#{channel.id}>" in listed["text"]

    refused = await command(client, "resolve nope", user="U0STRANGER", channel=channel.id)
    assert "may not resolve" in refused["text"]
    assert (await detail(client))["incident"]["status"] == "acknowledged"

    done = await command(client, "resolve disk cleaned", user=APPROVERS[0], channel=channel.id)
    assert "resolved" in done["text"]
    body = await detail(client)
    assert body["incident"]["status"] == "resolved"
    kinds = [t["kind"] for t in body["timeline"]]
    assert "incident.acknowledged" in kinds
    assert "incident.resolved" in kinds
    assert "No open incidents." in (await command(client, "list"))["text"]
    await fake_slack.wait_for(
        lambda: fake_slack.channels[channel.id].topic.startswith("SEV"),
        "the topic",
        WAIT_S,
    )
    await fake_slack.wait_for(
        lambda: " resolved " in f" {fake_slack.channels[channel.id].topic} ",
        "the topic to say resolved",
        WAIT_S,
    )


async def test_run_starts_a_manual_playbook_where_approvals_apply(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """``run <playbook> key=value`` starts a manual run by the user; its approval waits.
    Unknown playbooks and bad pairs are explained; strangers may not start runs."""
    client, narrator = await slack_medic(MANUAL)
    await command(client, "declare Manual work")
    channel = await channel_of(fake_slack, client, "INC-1")
    unknown = await command(client, "run nope", user=APPROVERS[0], channel=channel.id)
    assert "No playbook `nope`" in unknown["text"]
    assert "manual-fix" in unknown["text"]
    bad = await command(client, "run manual-fix oops", user=APPROVERS[0], channel=channel.id)
    assert "is not key=value" in bad["text"]
    stranger = await command(
        client, "run manual-fix instance=x", user="U0STRANGER", channel=channel.id
    )
    assert "may not start runs" in stranger["text"]
    reply = await command(
        client, "run manual-fix instance=db-1", user=APPROVERS[0], channel=channel.id
    )
    assert "RUN-1 manual-fix started on INC-1" in reply["text"]
    requested = await narrator.wait_for("approval_requested")
    (run,) = (await detail(client))["runs"]
    assert (run["started_by"], run["target"], run["status"]) == (
        APPROVERS[0],
        "host/db-1",
        "waiting_approval",
    )
    assert requested.approval_id == "APR-1"


async def test_pause_and_resume_are_for_admins_and_told_in_every_open_incident(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Only ``slack.admins`` pause/resume; the pause holds write steps everywhere and says so
    in the thread of every open incident."""
    client, _ = await slack_medic()
    await command(client, "declare First outage")
    await command(client, "declare Second outage")
    first = await channel_of(fake_slack, client, "INC-1")
    second = await channel_of(fake_slack, client, "INC-2")
    refused = await command(client, "pause testing", user=APPROVERS[0], channel=first.id)
    assert "may not pause Medic" in refused["text"]
    paused = await command(client, "pause DB migration", user=ADMINS[0], channel=first.id)
    assert paused["response_type"] == "in_channel"
    for channel in (first, second):
        await fake_slack.wait_for(
            lambda c=channel: "Paused by U0ADMIN: DB migration" in _thread(fake_slack, c),
            f"the pause in {channel.name}",
            WAIT_S,
        )
    status = await command(client, "status", channel=second.id)
    assert "Medic is paused" in status["text"]
    resumed = await command(client, "resume", user=ADMINS[0], channel=second.id)
    assert "resumed" in resumed["text"]
    await fake_slack.wait_for(
        lambda: "Resumed by U0ADMIN" in _thread(fake_slack, first), "the resume", WAIT_S
    )


def _thread(fake: FakeSlack, channel: FakeChannel) -> str:
    top = fake.top_level(channel.id)
    if not top:
        return ""
    return "\n".join(m.text for m in fake.thread(channel.id, top[0].ts))


def test_the_sample_is_a_form_slack_would_send() -> None:
    """The shared sample parses as the form fields Medic reads."""
    fields = {k: v for k, v in sample(SAMPLE).items() if not k.startswith("_")}
    parsed = parse_qs(command_body(fields["text"]))
    assert parsed["command"] == ["/incident"]


async def test_untrusted_text_cannot_ping_everyone_or_fake_links(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """A declared title is escaped everywhere Medic writes it (reply, status, thread)."""
    client, _ = await slack_medic()
    reply = await command(client, "declare <!channel> see <https://evil.example|runbook>")
    assert "<!channel>" not in reply["text"]
    assert "&lt;!channel&gt;" in reply["text"]
    channel = await channel_of(fake_slack, client, "INC-1")
    await fake_slack.wait_for(
        lambda: "Declared by" in _thread(fake_slack, channel), "the thread", WAIT_S
    )
    posted = [m.text for m in channel.messages]
    assert not any("<!channel>" in text or "<https://evil" in text for text in posted)
