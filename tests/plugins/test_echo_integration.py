"""The example integration ``examples/medic-echo``, installed into the test venv like any
third-party package: found through its entry point, its config section and steps checked by
``medic check``, its action run by a playbook (a notify action: it really runs under
``safety.dry_run``), narrated, and its client opened once and closed at shutdown."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import medic_echo
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.cli import main
from bot.config import load_settings
from bot.integrations import config_sections, installed_integrations
from bot.narrator import ConsoleNarrator

from enginekit import RecordingNarrator, detail, write_playbooks
from medickit import AM_TOKEN, bearer
from payloads import am_alert, am_payload

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "medic-echo"

PLAYBOOK = """\
name: echo-disk
match: ['alertname="DiskFull"']
steps:
  - id: say
    uses: echo.say
    with: {text: "{{ labels.alertname }} on {{ labels.instance }}"}
  - id: again
    uses: echo.say
    with: {text: "I said {{ steps.say.output.said }}"}
    when: "steps.say.output.said != ''"
"""


def config_file(directory: Path, store: str, echo: str) -> Path:
    """A medic.yaml using only the playbooks in ``directory/pb`` (no shipped catalogue) with
    the given ``echo:`` body."""
    path = directory / "medic.yaml"
    path.write_text(
        f"store: {{url: '{store}'}}\n"
        f"alertmanager: {{bearer_token: {AM_TOKEN}}}\n"
        f"playbooks: {{dirs: ['{directory / 'pb'}'], catalogues: []}}\n"
        f"echo:\n{echo}"
    )
    return path


def test_the_example_is_installed_from_examples() -> None:
    """``echo`` is one of the installed integrations, loaded from ``examples/medic-echo``
    through its ``medic.integrations`` entry point."""
    echo = {item.name: item for item in installed_integrations()}["echo"]
    assert echo is medic_echo.integration
    assert Path(medic_echo.__file__).resolve().is_relative_to(EXAMPLE)
    assert [spec.name for spec in echo.specs()] == ["echo.say"]


def test_check_accepts_its_section_and_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``medic check`` validates the ``echo:`` section and a playbook using ``echo.say``."""
    write_playbooks(tmp_path / "pb", echo=PLAYBOOK)
    config = config_file(tmp_path, "sqlite:///x.db", "  greeting: hi\n")
    assert main(["check", "--config", str(config)]) == 0
    assert "1 playbooks OK: echo-disk" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("echo", "problem"),
    [
        ("  greting: hi\n", "medic.yaml:5: echo.greting: unknown key"),
        ("  greeting: ''\n", "medic.yaml:5: echo.greeting: String should have at least 1"),
    ],
)
def test_check_rejects_a_bad_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], echo: str, problem: str
) -> None:
    """A bad key or value in the integration's section fails ``medic check`` with
    ``file:line: key: reason``, from the integration's own config model."""
    write_playbooks(tmp_path / "pb", echo=PLAYBOOK)
    config = config_file(tmp_path, "sqlite:///x.db", echo)
    assert main(["check", "--config", str(config)]) == 1
    assert problem in capsys.readouterr().err


def test_check_rejects_a_bad_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in an ``echo.say`` step's ``with:`` fails ``medic check`` at its line."""
    pb = write_playbooks(tmp_path / "pb", echo=PLAYBOOK.replace("{text:", "{txt:"))
    config = config_file(tmp_path, "sqlite:///x.db", "  greeting: hi\n")
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{pb / 'echo.yaml'}:6: steps.0.with.txt: unknown key" in err


async def test_a_playbook_runs_it_end_to_end(tmp_path: Path, sqlite_url: str) -> None:
    """An alert runs the echo playbook: both steps really run (a notify action, under the
    default ``safety.dry_run: true``), the second reads the first's typed output, the console
    narrates what was said, and the one client is closed when Medic stops."""
    write_playbooks(tmp_path / "pb", echo=PLAYBOOK)
    config = config_file(tmp_path, sqlite_url, "  greeting: hi\n")
    settings = await asyncio.to_thread(load_settings, config, config_sections())
    narration, recorder = io.StringIO(), RecordingNarrator()
    opened_before = medic_echo.EchoClient.open_clients
    client = TestClient(
        TestServer(build_app(settings, narrators=[ConsoleNarrator(narration), recorder]))
    )
    await client.start_server()
    try:
        assert medic_echo.EchoClient.open_clients == opened_before + 1
        alert = am_alert("fp1", alertname="DiskFull", instance="node-a")
        payload = am_payload(alert, group_key='{}:{alertname="DiskFull"}')
        response = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
        assert response.status == 200
        await recorder.run_end("RUN-1", "succeeded")
        body = await detail(client)
    finally:
        await client.close()
    assert medic_echo.EchoClient.open_clients == opened_before
    steps = body["runs"][0]["steps"]
    assert [(s["action"], s["dry_run"], s["output"]) for s in steps] == [
        ("echo.say", False, {"said": "hi, DiskFull on node-a"}),
        ("echo.say", False, {"said": "hi, I said hi, DiskFull on node-a"}),
    ]
    assert "RUN-1 say succeeded: said 'hi, DiskFull on node-a'" in narration.getvalue()


async def test_while_disabled_its_steps_are_dry_runs_read_through_the_model(
    tmp_path: Path, sqlite_url: str
) -> None:
    """With ``echo.enabled: false`` the step is recorded as a dry run (``would``,
    ``params``); the next step's ``when`` reads the typed field ``said`` at its default and
    skips the step. No client is opened."""
    write_playbooks(tmp_path / "pb", echo=PLAYBOOK)
    config = config_file(tmp_path, sqlite_url, "  enabled: false\n")
    settings = await asyncio.to_thread(load_settings, config, config_sections())
    recorder = RecordingNarrator()
    opened_before = medic_echo.EchoClient.open_clients
    client = TestClient(TestServer(build_app(settings, narrators=[recorder])))
    await client.start_server()
    try:
        assert medic_echo.EchoClient.open_clients == opened_before
        alert = am_alert("fp1", alertname="DiskFull", instance="node-a")
        payload = am_payload(alert, group_key='{}:{alertname="DiskFull"}')
        response = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
        assert response.status == 200
        await recorder.run_end("RUN-1", "succeeded")
        body = await detail(client)
    finally:
        await client.close()
    say, again = body["runs"][0]["steps"]
    assert (say["status"], say["dry_run"]) == ("succeeded", True)
    assert say["output"] == {
        "would": "would say 'DiskFull on node-a'",
        "params": {"text": "DiskFull on node-a"},
    }
    assert again["status"] == "skipped"
