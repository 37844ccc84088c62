"""Approval messages and clicks: consent buttons, the veto countdown, who may click, four
eyes, the first valid decision winning exactly once, expiry, and a restart in between."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from enginekit import detail
from fakes.slack import FakeMessage, FakeSlack
from payloads import sample
from slackkit import (
    APPROVERS,
    SlackMedic,
    approval_message,
    click,
    click_body,
    consent_playbook,
    fire_disk_full,
    send,
)

WAIT_S = 30
DECISIONS = ("approval.approve", "approval.reject")


def buttons(message: FakeMessage) -> list[tuple[str, str]]:
    """The (action_id, value) of each button in the message."""
    return [
        (element["action_id"], element["value"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def tap(
    client: Any,
    fake: FakeSlack,
    message: FakeMessage,
    approval: str,
    user: str,
    approve: bool = True,
) -> int:
    """Click a button of ``message`` as ``user``."""
    return await click(
        client, approval, user=user, channel=message.channel, fake=fake, approve=approve
    )


async def approval_status(client: Any, approval: str) -> str:
    """The approval's status through the API."""
    body = await detail(client)
    for run in body["runs"]:
        for found in run["approvals"]:
            if found["id"] == approval:
                return str(found["status"])
    raise AssertionError(f"no {approval}")


async def test_consent_buttons_approve_and_the_message_says_who_and_when(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Consent posts Approve/Reject (``medic_approve``/``medic_reject``, value = the id); an
    approver's click is committed, the run resumes, and the message reads "Approved by @x at
    HH:MM" with the buttons gone."""
    client, narrator = await slack_medic(consent_playbook())
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    assert buttons(message) == [("medic_approve", approval), ("medic_reject", approval)]
    assert await tap(client, fake_slack, message, approval, APPROVERS[0]) == 200
    assert await approval_status(client, approval) == "approved"
    await narrator.run_end("RUN-1", "succeeded")
    await fake_slack.wait_for(
        lambda: "Approved by <@U0APPROVER> at " in message.text and not buttons(message),
        "the approval message to say who approved, without buttons",
        WAIT_S,
    )
    assert message.edits >= 1


async def test_the_shared_sample_click_is_understood(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack's block_actions sample (APR-1 approved by U0APPROVER) decides the approval."""
    client, narrator = await slack_medic(consent_playbook())
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    payload = sample("slack/block-actions-approve")
    payload["channel"]["id"] = message.channel
    body = click_body(approval, user=payload["user"]["id"], channel=message.channel)
    status, _ = await send(client, body)
    assert status == 200
    assert await approval_status(client, approval) == "approved"


async def test_veto_shows_a_countdown_and_only_reject(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """A veto window posts its deadline (Slack date formatting) and a Reject button; a
    rejection aborts the run."""
    client, narrator = await slack_medic(consent_playbook(mode="veto", timeout="10m"))
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    assert buttons(message) == [("medic_reject", approval)]
    assert "proceeds at <!date^" in message.text
    assert (
        await click(
            client,
            approval,
            user=APPROVERS[1],
            channel=message.channel,
            fake=fake_slack,
            approve=False,
        )
        == 200
    )
    await narrator.run_end("RUN-1", "aborted")
    await fake_slack.wait_for(
        lambda: "Rejected by <@U0APPROVER2>" in message.text, "the rejection", WAIT_S
    )


async def test_an_unauthorized_click_is_explained_privately_and_changes_nothing(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """A user who is neither an approver nor in an approver group gets an ephemeral note."""
    client, narrator = await slack_medic(consent_playbook())
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    assert await tap(client, fake_slack, message, approval, "U0STRANGER") == 200
    note = await fake_slack.wait_for(
        lambda: fake_slack.responses.get("U0STRANGER"), "the private explanation", WAIT_S
    )
    assert note[0]["response_type"] == "ephemeral"
    assert "not in slack.approvers" in note[0]["text"]
    assert await approval_status(client, approval) == "pending"
    assert buttons(message)


async def test_a_member_of_an_approver_group_may_approve(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """``slack.approver_groups`` members (usergroups.users.list) may decide."""
    groups = {"approver_groups": ["S0ONCALL"]}
    client, narrator = await slack_medic(consent_playbook(), slack=groups)
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    assert await tap(client, fake_slack, message, approval, "U0GROUPIE") == 200
    assert await approval_status(client, approval) == "approved"
    assert fake_slack.calls_to("usergroups.users.list")


async def test_four_eyes_needs_two_different_approvers(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """The same approver clicking twice counts once (and is told); a second approver
    completes it. The message shows 1 of 2 in between."""
    client, narrator = await slack_medic(consent_playbook(four_eyes="true"))
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    assert await tap(client, fake_slack, message, approval, APPROVERS[0]) == 200
    await fake_slack.wait_for(
        lambda: "1 of 2 so far: <@U0APPROVER>" in message.text, "1 of 2", WAIT_S
    )
    assert buttons(message)
    assert await tap(client, fake_slack, message, approval, APPROVERS[0]) == 200
    await fake_slack.wait_for(
        lambda: [r for r in fake_slack.responses.get(APPROVERS[0], []) if "already" in r["text"]],
        "the private note about deciding twice",
        WAIT_S,
    )
    assert await approval_status(client, approval) == "pending"
    assert await tap(client, fake_slack, message, approval, APPROVERS[1]) == 200
    assert await approval_status(client, approval) == "approved"
    await narrator.run_end("RUN-1", "succeeded")


async def test_double_clicks_and_two_approvers_at_once_decide_exactly_once(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Clicks racing each other: exactly one decision counts; the others are told it was
    already decided; a replay of the winning click has no effect."""
    client, narrator = await slack_medic(consent_playbook())
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    reply_to = fake_slack.response_url("racers")
    bodies = [
        click_body(approval, user=APPROVERS[0], channel=message.channel, response_url=reply_to),
        click_body(approval, user=APPROVERS[0], channel=message.channel, response_url=reply_to),
        click_body(
            approval,
            user=APPROVERS[1],
            channel=message.channel,
            approve=False,
            response_url=reply_to,
        ),
    ]
    results = await asyncio.gather(*(send(client, b) for b in bodies))
    assert [status for status, _ in results] == [200, 200, 200]
    decided = await approval_status(client, approval)
    assert decided in ("approved", "rejected")
    await fake_slack.wait_for(
        lambda: len(fake_slack.responses.get("racers", [])) == 2, "two refusals", WAIT_S
    )
    assert all("Not counted" in r["text"] for r in fake_slack.responses["racers"])
    body = await detail(client)
    decisions = [
        t for t in body["timeline"] if t["kind"] in ("approval.approve", "approval.reject")
    ]
    assert len(decisions) == 1
    assert (await send(client, bodies[0]))[0] == 200  # replayed later
    body = await detail(client)
    decisions = [
        t for t in body["timeline"] if t["kind"] in ("approval.approve", "approval.reject")
    ]
    assert len(decisions) == 1


async def test_a_click_after_expiry_is_refused(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Once the consent window has passed the approval is expired; a click changes nothing
    and says so; the message shows expired without buttons."""
    client, narrator = await slack_medic(consent_playbook(timeout="1s"))
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    await narrator.run_end("RUN-1", "aborted")
    assert await tap(client, fake_slack, message, approval, APPROVERS[0]) == 200
    note = await fake_slack.wait_for(
        lambda: fake_slack.responses.get(APPROVERS[0]), "the refusal", WAIT_S
    )
    assert "expired" in note[0]["text"]
    assert await approval_status(client, approval) == "expired"
    await fake_slack.wait_for(
        lambda: "expired" in message.text and not buttons(message), "expired message", WAIT_S
    )


async def test_a_click_on_a_message_posted_before_a_restart_works(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Decisions live in the store: after a restart the old message's button still decides,
    the run resumes and the same message is edited."""
    client, narrator = await slack_medic(consent_playbook())
    approval = await fire_disk_full(client, narrator)
    message = await approval_message(fake_slack, approval)
    await client.close()
    restarted, narrator = await slack_medic(consent_playbook())
    assert (
        await click(
            restarted, approval, user=APPROVERS[0], channel=message.channel, fake=fake_slack
        )
        == 200
    )
    await narrator.run_end("RUN-1", "succeeded")
    await fake_slack.wait_for(
        lambda: "Approved by <@U0APPROVER>" in message.text, "the edited message", WAIT_S
    )
    messages = fake_slack.channels[message.channel].messages
    asked = [m for m in messages if approval in json.dumps(m.blocks)]
    assert len(asked) == 1  # the same message, edited; no second one for the same approval


async def test_a_veto_window_nobody_saw_does_not_pass(
    slack_medic: SlackMedic, fake_slack: FakeSlack
) -> None:
    """Slack is down for the whole veto window: Medic does not proceed on its own; it
    escalates and waits. Once Slack is back the request shows Approve and Reject, and a
    click lets the run go on."""
    fake_slack.go_down(503)
    client, narrator = await slack_medic(consent_playbook(mode="veto", timeout="1s"))
    approval = await fire_disk_full(client, narrator)
    escalated = await narrator.wait_for("incident", lambda c: "ESCALATED" in c.text)
    assert "never showed it" in escalated.text
    assert await approval_status(client, approval) == "pending"
    assert (await detail(client))["runs"][0]["status"] == "waiting_approval"
    fake_slack.back_up()
    message = await approval_message(fake_slack, approval)
    assert buttons(message) == [("medic_approve", approval), ("medic_reject", approval)]
    assert "explicit decision" in message.text
    assert await tap(client, fake_slack, message, approval, APPROVERS[0]) == 200
    await narrator.run_end("RUN-1", "succeeded")
