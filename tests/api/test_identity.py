"""Who decides over HTTP: a personal token from ``server.api_users`` is its
user; the bridge token ``server.api_token`` names the user; the audit says which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from enginekit import RecordingNarrator, api, detail, write_playbooks
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload

TOKENS = {"U1": "personal-token-of-u1", "U2": "personal-token-of-u2", "ADMIN": "admin-token"}
FOUR_EYES = """
name: guarded
match: ['alertname="Guarded"']
target: "deployment/prod/api"
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 5m, four_eyes: true, prompt: "Roll back?"}
  - id: rollback
    uses: kubernetes.rollback
    with: {namespace: prod, deployment: api}
"""


async def _medic(
    start_medic: StartMedic, store_url: str, tmp_path: Path, **server: Any
) -> tuple[Any, RecordingNarrator]:
    narrator = RecordingNarrator()
    config = make_settings(
        store_url,
        playbooks={"dirs": [str(write_playbooks(tmp_path / "pb", guarded=FOUR_EYES))]},
        server={"api_token": API_TOKEN, "api_users": TOKENS, **server},
        slack={"approvers": ["U1", "U2", "U3"], "admins": ["ADMIN"]},
    )
    return await start_medic(config, narrators=[narrator]), narrator


async def _approval(client: Any, narrator: RecordingNarrator) -> str:
    payload = am_payload(am_alert("fp1", alertname="Guarded"))
    response = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
    assert response.status == 200
    return str((await narrator.wait_for("approval_requested")).approval_id)


async def _post(client: Any, path: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=api(token))
    return response.status, await response.json()


async def test_one_personal_token_cannot_satisfy_four_eyes(
    start_medic: StartMedic, store_url: str, tmp_path: Path
) -> None:
    """Observation 8: U1's personal token approves as U1, then claiming to be U2 is 403
    ``forbidden`` and the four-eyes approval stays pending; U2's own token completes it.
    (Seen failing before the fix: ``server.api_users`` did not exist.)"""
    client, narrator = await _medic(start_medic, store_url, tmp_path)
    approval = await _approval(client, narrator)
    url = f"/api/approvals/{approval}"
    first = await _post(client, url, {"decision": "approve", "user": "U1"}, TOKENS["U1"])
    posing = await _post(client, url, {"decision": "approve", "user": "U2"}, TOKENS["U1"])
    between = (await detail(client))["runs"][0]["approvals"][0]["status"]
    second = await _post(client, url, {"decision": "approve"}, TOKENS["U2"])
    await narrator.run_end("RUN-1", "succeeded")
    assert (first[0], first[1]["approval"]["status"]) == (200, "pending")
    assert (posing[0], posing[1]["error"]) == (403, "forbidden")
    assert "U1" in posing[1]["detail"]
    assert between == "pending"
    assert (second[1]["approval"]["status"], second[1]["approval"]["decided_by"]) == (
        "approved",
        "U1,U2",
    )


async def test_decisions_record_how_they_arrived(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """A personal token's decision is audited ``via: api_user`` under its user; the bridge
    token's ``via: bridge`` under the user it names."""
    client, narrator = await _medic(start_medic, sqlite_url, tmp_path)
    approval = await _approval(client, narrator)
    url = f"/api/approvals/{approval}"
    await _post(client, url, {"decision": "approve"}, TOKENS["U1"])
    await _post(client, url, {"decision": "approve", "user": "U2"}, API_TOKEN)
    await narrator.run_end("RUN-1", "succeeded")
    decisions = [
        (t["actor"], t["via"])
        for t in (await detail(client))["timeline"]
        if t["kind"] == "approval.approve"
    ]
    assert decisions == [("U1", "api_user"), ("U2", "bridge")]


@pytest.mark.parametrize(
    ("body", "token", "status", "error"),
    [
        ({"decision": "approve"}, API_TOKEN, 400, "invalid_payload"),
        ({"decision": "approve", "user": "U1"}, "personal-token-of-nobody", 401, "unauthorized"),
        ({"decision": "approve", "user": "ADMIN"}, TOKENS["ADMIN"], 403, "forbidden"),
        ({"decision": "reject", "user": "U1"}, TOKENS["U2"], 403, "forbidden"),
    ],
    ids=["bridge-names-nobody", "unknown-token", "non-approver-token", "claims-another-user"],
)
async def test_refused_identities_decide_nothing(
    start_medic: StartMedic,
    sqlite_url: str,
    tmp_path: Path,
    body: dict[str, str],
    token: str,
    status: int,
    error: str,
) -> None:
    """The bridge token without a ``user``, an unknown token, a personal token of someone
    who is not an approver and a personal token naming another user are all refused, and
    the approval stays pending."""
    client, narrator = await _medic(start_medic, sqlite_url, tmp_path)
    approval = await _approval(client, narrator)
    answer = await _post(client, f"/api/approvals/{approval}", body, token)
    assert (answer[0], answer[1]["error"]) == (status, error)
    assert (await detail(client))["runs"][0]["approvals"][0]["status"] == "pending"


async def test_personal_tokens_alone_open_the_api(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path
) -> None:
    """With only ``server.api_users`` (no bridge token) the decision API is on: an admin's
    token pauses as that admin (audited ``via: api_user``) and cannot pose as another."""
    client, narrator = await _medic(start_medic, sqlite_url, tmp_path, api_token=None)
    await _approval(client, narrator)
    posing = await _post(client, "/api/pause", {"user": "U1", "reason": "x"}, TOKENS["ADMIN"])
    paused = await _post(client, "/api/pause", {"reason": "maintenance"}, TOKENS["ADMIN"])
    bridge = await _post(client, "/api/resume", {"user": "ADMIN"}, API_TOKEN)
    pauses = [
        (t["actor"], t["via"])
        for t in (await detail(client))["timeline"]
        if t["kind"] == "safety.paused"
    ]
    assert (posing[0], posing[1]["error"]) == (403, "forbidden")
    assert paused == (200, {"paused": True, "reason": "paused by ADMIN: maintenance"})
    assert (bridge[0], bridge[1]["error"]) == (401, "unauthorized")
    assert pauses == [("ADMIN", "api_user")]


async def test_personal_tokens_never_reach_the_logs(
    start_medic: StartMedic, sqlite_url: str, tmp_path: Path, log_stream: Any
) -> None:
    """Decisions made with personal tokens (accepted and refused) leave no token in the
    logs."""
    client, narrator = await _medic(start_medic, sqlite_url, tmp_path)
    approval = await _approval(client, narrator)
    url = f"/api/approvals/{approval}"
    await _post(client, url, {"decision": "approve", "user": "U2"}, TOKENS["U1"])
    await _post(client, url, {"decision": "approve"}, TOKENS["U1"])
    logged = log_stream.getvalue()
    assert logged
    assert not [t for t in TOKENS.values() if t in logged]
