"""The web console's pages and forms on a real in-process Medic: reads behind
``server.protect_reads``, the trusted auth-proxy header, CSRF, escaping, paging, the event
stream and the demo configuration."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings

from consolekit import ADMINS, APPROVERS, PLAYBOOKS, TOKENS
from enginekit import RecordingNarrator
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "demo.yaml"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _settings(store_url: str, **server: Any) -> Any:
    return make_settings(
        store_url,
        playbooks={"dirs": [str(PLAYBOOKS)]},
        server={"api_users": TOKENS, "api_token": API_TOKEN, **server},
        slack={"approvers": APPROVERS, "admins": ADMINS},
    )


async def _fire(client: Any, alertname: str, fingerprint: str, **annotations: str) -> None:
    alert = am_alert(fingerprint, alertname=alertname)
    alert["annotations"].update(annotations)
    payload = am_payload(alert, group_key=f"{{}}:{fingerprint}")
    assert (
        await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
    ).status == 200


async def _signed_in(client: Any, token: str) -> str:
    """Sign in through the form; the page's CSRF token."""
    page = await (await client.get("/ui/login")).text()
    csrf = CSRF.search(page)
    assert csrf is not None
    form = {"csrf": csrf.group(1), "token": token, "next": "/ui"}
    response = await client.post("/ui/login", data=form, allow_redirects=False)
    assert response.status == 303
    return csrf.group(1)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/incidents", 401), ("/api/incidents/INC-1", 401), ("/ui/events", 401)],
)
async def test_protect_reads_refuses_anonymous_reads(
    start_medic: StartMedic, sqlite_url: str, path: str, status: int
) -> None:
    """With ``server.protect_reads`` a read without a token is 401 ``unauthorized``."""
    client = await start_medic(_settings(sqlite_url, protect_reads=True))
    response = await client.get(path)
    assert response.status == status
    assert (await response.json())["error"] == "unauthorized"


@pytest.mark.parametrize("token", [API_TOKEN, TOKENS["mallory"]], ids=["bridge", "personal"])
async def test_protect_reads_lets_a_token_read(
    start_medic: StartMedic, sqlite_url: str, token: str
) -> None:
    """The bridge token and any personal token may read the API and the console."""
    client = await start_medic(_settings(sqlite_url, protect_reads=True))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/incidents", headers=headers)).status == 200
    assert (await client.get("/ui", headers=headers)).status == 200


async def test_protect_reads_sends_the_browser_to_sign_in(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """An anonymous browser is sent to the sign-in page, and back after signing in."""
    client = await start_medic(_settings(sqlite_url, protect_reads=True))
    response = await client.get("/ui?status=open", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/ui/login?next=")
    await _signed_in(client, TOKENS["bob"])
    page = await (await client.get("/ui")).text()
    assert 'signed in as <strong id="user">bob</strong>' in page


async def test_trusted_header_identifies_the_user_only_when_configured(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """``server.trusted_user_header`` names the user (reads allowed, decisions as them);
    without the setting the same header is ignored."""
    trusting = await start_medic(
        _settings(sqlite_url, protect_reads=True, trusted_user_header="X-Auth-Request-User")
    )
    page = await (await trusting.get("/ui", headers={"X-Auth-Request-User": "alice"})).text()
    assert 'signed in as <strong id="user">alice</strong>' in page
    plain = await start_medic(_settings(f"{sqlite_url}-2", protect_reads=True))
    ignored = await plain.get(
        "/ui", headers={"X-Auth-Request-User": "alice"}, allow_redirects=False
    )
    assert ignored.status == 303


@pytest.mark.parametrize(
    ("headers", "csrf", "status"),
    [
        ({}, "", 403),
        ({}, "forged-token-forged-token-forged-token", 403),
        ({"Origin": "https://evil.example"}, None, 403),
    ],
    ids=["missing", "forged", "cross-site"],
)
async def test_decisions_need_the_page_csrf_token(
    start_medic: StartMedic,
    sqlite_url: str,
    headers: dict[str, str],
    csrf: str | None,
    status: int,
) -> None:
    """A decision without the page's CSRF token, with another one or from another site
    is refused and changes nothing."""
    narrator = RecordingNarrator()
    client = await start_medic(_settings(sqlite_url), narrators=[narrator])
    await _fire(client, "ConsoleGuarded", "fp-csrf")
    approval = (await narrator.wait_for("approval_requested")).approval_id
    page_csrf = await _signed_in(client, TOKENS["alice"])
    form = {"csrf": page_csrf if csrf is None else csrf, "decision": "approve", "incident": "INC-1"}
    response = await client.post(f"/ui/approvals/{approval}", data=form, headers=headers)
    assert response.status == status
    detail = await (await client.get("/api/incidents/INC-1")).json()
    assert detail["runs"][0]["approvals"][0]["status"] == "pending"


async def test_a_multipart_body_is_a_400(start_medic: StartMedic, sqlite_url: str) -> None:
    """A form that is not URL-encoded (here multipart without a boundary) is 400, not 500
    (found by schemathesis)."""
    client = await start_medic(_settings(sqlite_url))
    response = await client.post("/ui/login", headers={"Content-Type": "multipart/form-data"})
    assert response.status == 400


async def test_alert_text_cannot_inject_markup(start_medic: StartMedic, sqlite_url: str) -> None:
    """Alert labels and annotations are escaped everywhere; a ``javascript:`` generatorURL
    is not turned into a link."""
    client = await start_medic(_settings(sqlite_url))
    alert = am_alert("fp-xss", alertname="ConsoleGuarded")
    alert["annotations"]["summary"] = "<img src=x onerror=alert(1)>"
    alert["generatorURL"] = "javascript:alert(2)"
    payload = am_payload(alert, group_key="{}:xss")
    assert (
        await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
    ).status == 200
    for path in ("/ui", "/ui/incidents/INC-1"):
        page = await (await client.get(path)).text()
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "javascript:" not in page


async def test_list_pages_newest_first(start_medic: StartMedic, sqlite_url: str) -> None:
    """27 incidents: page 1 lists INC-27..INC-3 with a link to older ones, page 2 the rest."""
    client = await start_medic(_settings(sqlite_url))
    for n in range(1, 28):
        await _fire(client, f"Unmatched{n}", f"fp-{n}")
    first = await (await client.get("/ui")).text()
    ids = re.findall(r'data-incident="(INC-\d+)"', first)
    assert ids == [f"INC-{n}" for n in range(27, 2, -1)]
    assert 'href="/ui?page=2" rel="next"' in first
    second = await (await client.get("/ui?page=2")).text()
    assert re.findall(r'data-incident="(INC-\d+)"', second) == ["INC-2", "INC-1"]
    filtered = await (await client.get("/ui?status=resolved")).text()
    assert re.findall(r'data-incident="(INC-\d+)"', filtered) == []


async def test_event_stream_replays_what_a_reconnecting_browser_missed(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A client reconnecting with an old ``Last-Event-ID`` gets a change event at once,
    whose id is the store's latest audit sequence number."""
    client = await start_medic(_settings(sqlite_url))
    await _fire(client, "ConsoleGuarded", "fp-sse")
    response = await client.get("/ui/events?incident=INC-1", headers={"Last-Event-ID": "0"})
    assert response.headers["Content-Type"] == "text/event-stream"
    lines: list[str] = []
    while "event: change" not in lines:
        lines.append((await response.content.readline()).decode().strip())
    ids = [int(line.removeprefix("id: ")) for line in lines if line.startswith("id: ")]
    assert ids[0] == 0
    assert ids[-1] > 0
    response.close()


async def test_demo_config_lets_the_demo_user_approve_from_the_page(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """``deploy/demo.yaml`` (what ``make demo`` serves): the demo user signs in with the
    demo token and approves from the console."""
    demo = await asyncio.to_thread(load_settings, DEMO_CONFIG)
    settings = demo.model_copy(
        update={
            "store": make_settings(sqlite_url).store,
            "playbooks": make_settings(sqlite_url, playbooks={"dirs": [str(PLAYBOOKS)]}).playbooks,
        }
    )
    narrator = RecordingNarrator()
    client = await start_medic(settings, narrators=[narrator])
    payload = am_payload(am_alert("fp-demo", alertname="ConsoleGuarded"), group_key="{}:demo")
    assert (await client.post("/webhooks/alertmanager", json=payload)).status == 200
    approval = (await narrator.wait_for("approval_requested")).approval_id
    csrf = await _signed_in(client, "demo-token")
    form = {"csrf": csrf, "decision": "approve", "incident": "INC-1"}
    page = await (await client.post(f"/ui/approvals/{approval}", data=form)).text()
    assert f"{approval}: approved by demo" in page
