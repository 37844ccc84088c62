"""Slack Socket Mode (``slack.app_token``): commands and clicks arrive over Slack's websocket
instead of ``POST /slack/events``, go through the same listeners, and the connection
survives Slack being down when Medic starts and Slack asking it to reconnect."""

from __future__ import annotations

from typing import Any

from fakes.slack import APP_TOKEN, FakeSlack
from slackkit import (
    APPROVERS,
    SlackMedic,
    approval_message,
    click_payload,
    command_fields,
    consent_playbook,
    fire_disk_full,
)

SOCKET = {"app_token": APP_TOKEN}
WAIT_S = 30


async def incidents(client: Any) -> list[dict[str, Any]]:
    """GET /api/incidents."""
    found: list[dict[str, Any]] = (await (await client.get("/api/incidents")).json())["incidents"]
    return found


async def test_a_command_over_socket_mode_is_answered_in_its_ack(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """``/incident declare`` delivered over the websocket declares the incident, and Medic's
    reply travels back in the envelope's acknowledgement."""
    client, _ = await slack_medic(slack=SOCKET)
    await fake_slack.socket_connected()
    ack = await fake_slack.socket_deliver(
        "slash_commands", command_fields("declare Socket outage --sev 2")
    )
    assert ack["response_type"] == "in_channel"
    assert "INC-1 declared" in ack["text"]
    assert [(i["title"], i["severity"]) for i in await incidents(client)] == [
        ("Socket outage", "sev2")
    ]


async def test_a_command_delivered_twice_has_one_effect(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """The same command (same ``trigger_id``) arriving twice declares one incident; the
    second envelope is acknowledged with nothing to say."""
    client, _ = await slack_medic(slack=SOCKET)
    await fake_slack.socket_connected()
    fields = command_fields("declare Twice delivered", trigger="trigger-socket-1")
    first = await fake_slack.socket_deliver("slash_commands", fields)
    again = await fake_slack.socket_deliver("slash_commands", fields)
    assert "INC-1 declared" in first["text"]
    assert again == {}
    assert len(await incidents(client)) == 1


async def test_a_click_over_socket_mode_decides_the_approval(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """An approver's click on the approval message, delivered over the websocket, is
    committed: the approval is approved and the run goes on to succeed."""
    client, narrator = await slack_medic(consent_playbook(), slack=SOCKET)
    await fake_slack.socket_connected()
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    payload = click_payload(
        approval,
        user=APPROVERS[0],
        channel=message.channel,
        message_ts=message.ts,
        response_url=fake_slack.response_url(APPROVERS[0]),
    )
    assert await fake_slack.socket_deliver("interactive", payload) == {}
    decided = await narrator.wait_for("approval_decided")
    assert (decided.approval_id, decided.status) == (approval, "approved")
    assert (await narrator.run_end("RUN-1")).status == "succeeded"


async def test_medic_starts_while_slack_is_down_and_connects_once_it_is_back(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack unreachable at start: Medic serves anyway and keeps asking for a connection;
    once Slack answers, commands arrive over the websocket."""
    fake_slack.go_down()
    client, _ = await slack_medic(slack=SOCKET)
    assert (await client.get("/readyz")).status == 200
    await fake_slack.wait_for(
        lambda: fake_slack.calls_to("apps.connections.open"), "a first try", WAIT_S
    )
    assert fake_slack.socket_connections == 0
    fake_slack.back_up()
    await fake_slack.socket_connected(timeout=WAIT_S)
    ack = await fake_slack.socket_deliver("slash_commands", command_fields("help"))
    assert "/incident" in ack["text"]


async def test_medic_reconnects_when_slack_asks(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack's ``disconnect`` (``refresh_requested``) is followed by a new connection on a
    new URL, and commands keep arriving on it."""
    await slack_medic(slack=SOCKET)
    await fake_slack.socket_connected()
    await fake_slack.socket_disconnect()
    await fake_slack.socket_connected(2, timeout=WAIT_S)
    ack = await fake_slack.socket_deliver("slash_commands", command_fields("help"))
    assert "/incident" in ack["text"]
    assert len(fake_slack.calls_to("apps.connections.open")) == 2
