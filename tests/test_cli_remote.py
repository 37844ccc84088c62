"""``medic incidents|incident|approve|reject|pause|resume`` against a real ``medic serve``."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.cli import main

from consolekit import TOKENS, fire, pending_approval, run_status, start_console_medic
from harness.medic import MedicProcess, run_cli
from harness.ports import free_port
from harness.waiting import wait_until


@pytest.fixture(scope="module")
def medic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedicProcess]:
    """One server for the module with INC-1 waiting for consent."""
    with start_console_medic(tmp_path_factory.mktemp("medic-cli")) as server:
        fire(server.url, "ConsoleGuarded", "fp-cli", summary="api is down")
        pending_approval(server.url, "INC-1")
        yield server


def medic_cli(*args: str, token: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``medic`` as a user would, with ``MEDIC_TOKEN`` when ``token`` is given."""
    return run_cli(*args, env=env | ({"MEDIC_TOKEN": token} if token else {}))


def test_incidents_lists_and_filters(medic: MedicProcess) -> None:
    """``medic incidents`` prints one line per incident; ``--status`` filters exactly."""
    listed = medic_cli("incidents", "--url", medic.url)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "SEV"]
    assert row.split()[:3] == ["INC-1", "open", "sev2"]
    assert "guarded-restart" in row
    resolved = medic_cli("incidents", "--status", "resolved", "--url", medic.url)
    assert resolved.stdout.strip() == "no incidents"


def test_incident_shows_runs_steps_and_approvals(medic: MedicProcess) -> None:
    """``medic incident INC-1`` shows the run, its steps and the pending approval;
    ``--json`` prints the API's own JSON."""
    shown = medic_cli("incident", "INC-1", "--url", medic.url)
    assert shown.returncode == 0, shown.stderr
    assert "run RUN-1 guarded-restart" in shown.stdout
    assert "step note incident.note [succeeded]" in shown.stdout
    assert "approval APR-1 (consent) [pending]" in shown.stdout
    raw = medic_cli("incident", "INC-1", "--json", "--url", medic.url)
    assert '"incident":{"id":"INC-1"' in raw.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("incident", "INC-99"), "medic: not_found: no incident INC-99"),
        (("approve", "APR-77"), "medic: not_found:"),
    ],
)
def test_refusals_exit_1_with_the_reason(
    medic: MedicProcess, args: tuple[str, ...], message: str
) -> None:
    """A refusal exits 1 with Medic's ``error: detail`` on stderr."""
    done = medic_cli(*args, "--url", medic.url, token=TOKENS["alice"])
    assert done.returncode == 1
    assert done.stderr.startswith(message)


def test_unreachable_medic_exits_1() -> None:
    """Nothing listening at ``--url``: exit 1, saying so."""
    done = medic_cli("incidents", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "cannot reach" in done.stderr


def test_approve_as_a_non_approver_is_refused_then_an_approver_continues_the_run(
    medic: MedicProcess, tmp_path: Path
) -> None:
    """mallory's token is refused (403 reason shown); alice's token, read from a file,
    approves and the run goes on to succeed."""
    refused = medic_cli("approve", "APR-1", "--url", medic.url, token=TOKENS["mallory"])
    assert refused.returncode == 1
    assert refused.stderr.startswith("medic: forbidden:")
    token_file = tmp_path / "token"
    token_file.write_text(TOKENS["alice"] + "\n")
    done = medic_cli("approve", "APR-1", "--url", medic.url, MEDIC_TOKEN_FILE=str(token_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "APR-1: approved (1 of 1 approvals)"
    wait_until(lambda: run_status(medic.url, "INC-1") == "succeeded", 30, "the run to finish")


def test_pause_and_resume(medic: MedicProcess) -> None:
    """An admin pauses with a reason and resumes; a non-admin is refused."""
    refused = medic_cli("pause", "--url", medic.url, token=TOKENS["bob"])
    assert (refused.returncode, refused.stderr.split(":")[1].strip()) == (1, "forbidden")
    paused = medic_cli("pause", "db", "migration", "--url", medic.url, token=TOKENS["alice"])
    assert paused.stdout.strip() == "paused: paused by alice: db migration"
    resumed = medic_cli("resume", "--url", medic.url, token=TOKENS["alice"])
    assert resumed.stdout.strip() == "running (not paused)"


@pytest.fixture
def listing_server() -> Iterator[str]:
    """A stand-in for ``GET /api/incidents`` answering two incidents, one with no playbook
    (shown as ``-``); its base URL."""
    created = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    incidents = [
        {"id": "INC-1", "title": "api is down", "severity": "sev2", "status": "open",
         "created_at": created, "updated_at": created, "alert_count": 1, "playbooks": [],
         "slack_channel": None},
        {"id": "INC-2", "title": "disk full", "severity": "sev3", "status": "open",
         "created_at": created, "updated_at": created, "alert_count": 2, "playbooks": ["ab"],
         "slack_channel": None},
    ]  # fmt: skip
    body = json.dumps({"incidents": incidents}).encode()

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_incidents_table_keeps_every_column_apart(
    listing_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The header and each row of ``medic incidents`` have their seven columns apart, also
    when the PLAYBOOKS column is as narrow as its title (a ``-`` or short names): titles are
    not run into it."""
    assert main(["incidents", "--url", listing_server]) == 0
    header, first, second = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "STATUS", "SEV", "AGE", "ALERTS", "PLAYBOOKS", "TITLE"]
    assert first.split() == ["INC-1", "open", "sev2", "5m", "1", "-", "api", "is", "down"]
    assert second.split() == ["INC-2", "open", "sev3", "5m", "2", "ab", "disk", "full"]
    assert header.index("TITLE") == first.index("api is down") == second.index("disk full")
