"""The web console in a real headless Chromium against a real ``medic serve``: reading,
deciding through the same approval rules as Slack, and live updates (also across a
restart)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from consolekit import (
    TOKENS,
    anonymous,
    fire,
    pending_approval,
    run_status,
    signed_in,
    start_console_medic,
)
from harness.http import post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2}
UPDATE_S = 20_000  # ms: how long a page may take to show a change


@pytest.fixture
def medic(tmp_path: Path) -> Iterator[MedicProcess]:
    """A fresh ``medic serve`` per test (the restart test stops and starts it)."""
    with start_console_medic(tmp_path) as server:
        yield server


def _approve_over_api(url: str, approval: str, user: str) -> None:
    status, body = post_json(
        f"{url}/api/approvals/{approval}",
        {"decision": "approve"},
        {"Authorization": f"Bearer {TOKENS[user]}"},
    )
    assert status == 200, body


def _live(page: Page) -> None:
    """Wait until the page's event stream is connected."""
    expect(page.locator("body")).to_have_attribute("data-live", "on", timeout=UPDATE_S)


def test_list_then_incident_then_approve_continues_the_run_and_pages_update_live(
    medic: MedicProcess, browser: Browser, screenshots: list[Path]
) -> None:
    """``medic serve`` logs the console's URL; a watcher finds the incident in the list
    and opens it; an approver approves from their own page; the run continues to success and
    the watcher's page (never reloaded) shows it. Screenshots of both pages are saved."""
    assert f'"console": "{medic.url}/ui"' in medic.log_text()
    fire(medic.url, "ConsoleGuarded", "fp-guarded", summary="api answers 502")
    approval = pending_approval(medic.url, "INC-1")

    watcher = anonymous(browser)
    watcher.goto(f"{medic.url}/ui")
    row = watcher.locator("tr[data-incident='INC-1']")
    expect(row).to_contain_text("api answers 502")
    expect(row).to_contain_text("guarded-restart")
    expect(row).to_contain_text("1 alert")
    for directory in screenshots:
        watcher.screenshot(path=str(directory / "console-list.png"), full_page=True)
    row.get_by_role("link", name="INC-1").click()
    expect(watcher.locator("#incident-id")).to_have_text("INC-1")
    _live(watcher)
    watcher.evaluate("window.untouched = true")
    expect(watcher.locator(f"#{approval}")).to_contain_text("Sign in to decide")

    alice = signed_in(browser, medic.url, "alice")
    alice.goto(f"{medic.url}/ui/incidents/INC-1")
    expect(alice.locator(f"#{approval} time[data-countdown]")).to_contain_text("left")
    alice.locator(f"#{approval} button.approve").click()
    expect(alice.locator("#notice")).to_have_text(f"{approval}: approved by alice")

    expect(watcher.locator("[data-run-status='RUN-1']")).to_have_text("succeeded", timeout=UPDATE_S)
    expect(watcher.locator(f"#{approval}")).to_contain_text("by alice")
    assert watcher.evaluate("window.untouched") is True  # updated in place, not reloaded
    assert run_status(medic.url, "INC-1") == "succeeded"
    for directory in screenshots:
        watcher.screenshot(path=str(directory / "console-incident.png"), full_page=True)


def test_a_non_approver_is_refused_with_the_reason(medic: MedicProcess, browser: Browser) -> None:
    """mallory (signed in, not an approver) clicks Approve: the page says why it was
    refused, and the approval stays pending."""
    fire(medic.url, "ConsoleGuarded", "fp-refused")
    approval = pending_approval(medic.url, "INC-1")
    mallory = signed_in(browser, medic.url, "mallory")
    mallory.goto(f"{medic.url}/ui/incidents/INC-1")
    mallory.locator(f"#{approval} button.approve").click()
    notice = mallory.locator("#notice")
    expect(notice).to_contain_text(f"{approval}: refused:")
    expect(notice).to_contain_text("mallory")
    expect(mallory.locator(f"#{approval}")).to_have_attribute("data-approval-status", "pending")
    assert run_status(medic.url, "INC-1") == "waiting_approval"


def test_four_eyes_needs_two_different_users(medic: MedicProcess, browser: Browser) -> None:
    """A four-eyes approval: alice's approval counts once (her second click is refused),
    bob's completes it and the run continues — on a phone-sized screen."""
    fire(medic.url, "ConsoleFourEyes", "fp-four-eyes")
    approval = pending_approval(medic.url, "INC-1")
    alice = signed_in(browser, medic.url, "alice", **PHONE)
    alice.goto(f"{medic.url}/ui/incidents/INC-1")
    alice.locator(f"#{approval} button.approve").click()
    expect(alice.locator("#notice")).to_contain_text("1 of 2 approvals; waiting for another")
    alice.locator(f"#{approval} button.approve").click()
    expect(alice.locator("#notice")).to_contain_text(f"{approval}: refused:")
    assert run_status(medic.url, "INC-1") == "waiting_approval"

    bob = signed_in(browser, medic.url, "bob", **PHONE)
    bob.goto(f"{medic.url}/ui/incidents/INC-1")
    bob.locator(f"#{approval} button.approve").click()
    expect(bob.locator("#notice")).to_have_text(f"{approval}: approved by bob")
    wait_until(lambda: run_status(medic.url, "INC-1") == "succeeded", 30, "the drain to run")


def test_live_updates_survive_a_restart(medic: MedicProcess, browser: Browser) -> None:
    """An open incident page keeps updating after Medic restarts: its event stream
    reconnects (Last-Event-ID) and shows a decision taken after the restart."""
    fire(medic.url, "ConsoleGuarded", "fp-restart")
    approval = pending_approval(medic.url, "INC-1")
    watcher = anonymous(browser)
    watcher.goto(f"{medic.url}/ui/incidents/INC-1")
    _live(watcher)
    watcher.evaluate("window.untouched = true")

    medic.stop()
    expect(watcher.locator("body")).to_have_attribute("data-live", "reconnecting")
    medic.start()
    _live(watcher)
    _approve_over_api(medic.url, approval, "bob")

    expect(watcher.locator("[data-run-status='RUN-1']")).to_have_text("succeeded", timeout=UPDATE_S)
    assert watcher.evaluate("window.untouched") is True


def test_pause_and_resume_for_admins(medic: MedicProcess, browser: Browser) -> None:
    """alice (admin) pauses from the page with a reason: every page shows the banner and
    the API reports the pause; she resumes it. bob (not an admin) sees no such control."""
    fire(medic.url, "ConsoleGuarded", "fp-pause")
    pending_approval(medic.url, "INC-1")
    bob = signed_in(browser, medic.url, "bob")
    bob.goto(f"{medic.url}/ui/incidents/INC-1")
    expect(bob.locator("#pause-form")).to_have_count(0)

    alice = signed_in(browser, medic.url, "alice")
    alice.goto(f"{medic.url}/ui/incidents/INC-1")
    alice.locator("#pause-form summary").click()
    alice.fill("#reason", "db failover")
    alice.get_by_role("button", name="Pause").click()
    expect(alice.locator("#pause-banner")).to_contain_text("paused by alice: db failover")
    status, body = post_json(
        f"{medic.url}/api/pause", {"reason": "again"}, {"Authorization": f"Bearer {TOKENS['bob']}"}
    )
    assert (status, body["error"]) == (403, "forbidden")
    alice.get_by_role("button", name="Resume automation").click()
    expect(alice.locator("#pause-banner")).to_be_hidden()
