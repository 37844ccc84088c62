"""A real ``medic serve`` with personal tokens and the console playbooks, for the web
console, API-CLI and browser tests: alerts fired over HTTP, waits on the API, and Debian's
Chromium driven by Playwright (a pytest plugin: the ``browser`` fixture)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until
from payloads import am_alert, am_payload

PLAYBOOKS = Path(__file__).parent / "data" / "playbooks-console"
TOKENS = {"alice": "tok-alice-6b1f", "bob": "tok-bob-90ce", "mallory": "tok-mallory-3d2a"}
APPROVERS = ["alice", "bob"]
ADMINS = ["alice"]
WAIT_S = 30.0


def console_env(**extra: str) -> dict[str, str]:
    """``medic serve`` settings: personal tokens for alice, bob (approvers; alice admin) and
    mallory (neither), only the console playbooks (no shipped catalogue), a live dry run."""
    return {
        "MEDIC_SERVER__API_USERS": json.dumps(TOKENS),
        "MEDIC_SLACK__APPROVERS": json.dumps(APPROVERS),
        "MEDIC_SLACK__ADMINS": json.dumps(ADMINS),
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(PLAYBOOKS)]),
        "MEDIC_PLAYBOOKS__CATALOGUES": "[]",
        **extra,
    }


def start_console_medic(tmp_path: Path, **extra: str) -> MedicProcess:
    """A started ``medic serve`` on SQLite in ``tmp_path`` (stop it with ``with``)."""
    store = f"sqlite:///{tmp_path / 'medic.db'}"
    return MedicProcess(
        tmp_path, store_url=store, bearer_token=None, extra_env=console_env(**extra)
    ).start()


def fire(url: str, alertname: str, fingerprint: str, **annotations: str) -> None:
    """One firing alert through the real webhook."""
    alert = am_alert(fingerprint, alertname=alertname, namespace="prod")
    alert["annotations"].update(annotations)
    status, body = post_json(
        f"{url}/webhooks/alertmanager", am_payload(alert, group_key=f"{{}}:{fingerprint}")
    )
    assert status == 200, body


def incident(url: str, incident_id: str) -> dict[str, Any]:
    """The API's detail of one incident."""
    detail: dict[str, Any] = get_json(f"{url}/api/incidents/{incident_id}")
    return detail


def pending_approval(url: str, incident_id: str) -> str:
    """Wait until the incident's run waits on an approval; its id."""

    def pending() -> str | None:
        for run in incident(url, incident_id)["runs"]:
            for approval in run["approvals"]:
                if approval["status"] == "pending":
                    return str(approval["id"])
        return None

    return wait_until(pending, WAIT_S, f"a pending approval on {incident_id}")


def run_status(url: str, incident_id: str) -> str:
    """The status of the incident's first run."""
    return str(incident(url, incident_id)["runs"][0]["status"])


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
README_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser download). Module-scoped:
    Playwright's sync API runs an event loop of its own while it is open, so it must be
    closed before any async test of another module starts."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def screenshots() -> list[Path]:
    """Where screenshots go: ``test-artifacts/`` always; also ``docs/screenshots/`` (the
    README's) when ``MEDIC_UPDATE_SCREENSHOTS=1``."""
    ARTIFACTS.mkdir(exist_ok=True)
    wanted = [ARTIFACTS]
    if os.environ.get("MEDIC_UPDATE_SCREENSHOTS") == "1":
        wanted.append(README_SCREENSHOTS)
    return wanted


def signed_in(browser: Browser, url: str, user: str, **options: Any) -> Page:
    """A new browser session (its own cookies) signed in with ``user``'s personal token."""
    page = browser.new_context(**options).new_page()
    page.goto(f"{url}/ui/login")
    page.fill("#token", TOKENS[user])
    page.click("button[type=submit]")
    expect(page.locator("#user")).to_have_text(user)
    return page


def anonymous(browser: Browser, **options: Any) -> Page:
    """A new browser session nobody signed in to."""
    return browser.new_context(**options).new_page()
