"""Operating ``medic serve``: its log lines, its log level, its terminal output,
its shutdown, and how fast the CLI starts."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.http import post_json
from harness.medic import MedicProcess
from harness.ports import free_port
from harness.waiting import wait_until
from medickit import AM_TOKEN
from payloads import am_alert, am_payload

MARKER = "label-value-7c1e"
"""A label value that must never appear in a log line about the delivery."""
HEAVY = ("kubernetes_asyncio", "matplotlib", "aiokafka", "slack_bolt")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _post_alert(url: str, fingerprint: str) -> None:
    alert = am_alert(fingerprint)
    alert["labels"]["service"] = MARKER
    status, answer = post_json(
        f"{url}/webhooks/alertmanager",
        am_payload(alert),
        {"Authorization": f"Bearer {AM_TOKEN}"},
    )
    assert (status, answer) == (200, {"accepted": 1, "duplicates": 0})


def test_one_info_line_per_delivery_and_a_shutdown_line_on_sigterm(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Each accepted delivery logs one ``webhook.accepted`` line at info with counts and no
    payload; SIGTERM logs ``server.stopping`` and ``server.stopped`` and exits 0."""
    medic = MedicProcess(tmp_path, store_url=sqlite_url, bearer_token=AM_TOKEN).start()
    try:
        _post_alert(medic.url, "fp-op-1")
        _post_alert(medic.url, "fp-op-2")
    finally:
        code = medic.stop()
    assert code == 0
    lines = _json_lines(medic.log_text())
    accepted = [line for line in lines if line["event"] == "webhook.accepted"]
    assert [(a["level"], a["source"], a["alerts"], a["accepted"]) for a in accepted] == [
        ("info", "alertmanager", 1, 1),
        ("info", "alertmanager", 1, 1),
    ]
    assert all(MARKER not in json.dumps(a) for a in accepted)
    events = [line["event"] for line in lines]
    assert events[-1] == "server.stopped"
    assert events.count("server.stopping") == 1


@pytest.mark.parametrize(
    ("level", "levels_seen"),
    [("WARNING", set()), ("debug", {"debug", "info"})],
    ids=["warning", "debug"],
)
def test_log_level_sets_the_lowest_level_logged(
    tmp_path: Path, sqlite_url: str, level: str, levels_seen: set[str]
) -> None:
    """``server.log_level`` (here ``MEDIC_SERVER__LOG_LEVEL``, any case): at warning no info
    line is written (start, deliveries, incidents, stop); at debug the per-request lines
    appear too."""
    medic = MedicProcess(
        tmp_path,
        store_url=sqlite_url,
        bearer_token=AM_TOKEN,
        extra_env={"MEDIC_SERVER__LOG_LEVEL": level},
    ).start()
    try:
        _post_alert(medic.url, "fp-level")
    finally:
        assert medic.stop() == 0
    lines = _json_lines(medic.log_text())
    assert {line["level"] for line in lines} == levels_seen
    assert ("http.request" in {line["event"] for line in lines}) == ("debug" in levels_seen)


class _Terminal:
    """``medic serve`` with stdout and stderr on one pseudo-terminal, as a person runs it."""

    def __init__(self, tmp_path: Path, store_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        main, child = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIC_")}
        env |= {
            "MEDIC_SERVER__PORT": str(self.port),
            "MEDIC_STORE__URL": store_url,
            "MEDIC_ALERTMANAGER__BEARER_TOKEN": AM_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            stdin=subprocess.DEVNULL,
            stdout=child,
            stderr=child,
            env=env,
            cwd=tmp_path,
        )
        os.close(child)
        self._main = main
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._main, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def text(self) -> str:
        """Everything shown on the terminal so far."""
        return b"".join(self._chunks).decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM; wait for the process and the reader."""
        self.popen.terminate()
        self.popen.wait(timeout=30)
        self._reader.join(timeout=10)
        os.close(self._main)


def test_on_a_terminal_each_event_is_printed_once(tmp_path: Path, sqlite_url: str) -> None:
    """On a terminal the console narrator tells each event and the log does not repeat it
    (no ``incident.opened`` log line next to the narrator's ``OPENED`` line)."""
    terminal = _Terminal(tmp_path, sqlite_url)
    try:
        wait_until(lambda: "server.starting" in terminal.text(), 30, "the start line")
        wait_until(lambda: _ready(terminal.url), 30, "/readyz")
        _post_alert(terminal.url, "fp-tty")
        wait_until(lambda: "[INC-1] OPENED" in terminal.text(), 30, "the narrator's line")
    finally:
        terminal.stop()
    text = terminal.text()
    assert text.count("[INC-1] OPENED") == 1
    assert "incident.opened" not in text
    assert "webhook.accepted" in text


def test_off_a_terminal_events_are_json_lines_only(tmp_path: Path, sqlite_url: str) -> None:
    """Off a terminal (a container, a pipe) events are JSON log lines and nothing else is
    narrated, so the log stays machine-readable."""
    medic = MedicProcess(tmp_path, store_url=sqlite_url, bearer_token=AM_TOKEN).start()
    try:
        _post_alert(medic.url, "fp-pipe")
        wait_until(
            lambda: any(
                line["event"] == "incident.opened" for line in _json_lines(medic.log_text())
            ),
            30,
            "an incident.opened line",
        )
    finally:
        medic.stop()
    text = medic.log_text()
    assert all(line.startswith("{") for line in text.splitlines() if line.strip())
    assert "[INC-1]" not in text


def _ready(url: str) -> bool:
    import urllib.request  # noqa: PLC0415 -- only this helper needs it

    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def test_cli_loads_no_heavy_module_for_help_and_check(
    capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    """``medic --help`` and ``medic check`` import neither the Slack app nor the Kubernetes,
    Kafka or Slack clients nor matplotlib; their wall time is reported (not asserted: the
    machine's load decides it)."""
    probe = (
        "import sys, time, contextlib, io\n"
        "started = time.perf_counter()\n"
        "from bot.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        "took = time.perf_counter() - started\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(repr((heavy, round(took, 3))))\n"
    )
    timings = {}
    for argv in (["--help"], ["check"]):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")},
        )
        process_s = time.perf_counter() - started
        heavy, in_process_s = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 -- our repr
        assert heavy == [], argv
        timings[" ".join(argv)] = (in_process_s, round(process_s, 3))
    record_property("cli_start_seconds", timings)
    with capsys.disabled():
        print(f"\nCLI start (import+run s, whole process s): {timings}")


def test_sigterm_with_a_console_stream_open_stops_at_once(tmp_path: Path, sqlite_url: str) -> None:
    """An open ``/ui/events`` stream (a console tab left open) does not hold the shutdown:
    SIGTERM ends it and Medic exits 0 well inside Kubernetes' 30 s grace period. (Seen
    failing: aiohttp waited up to 60 s for the stream's handler, so the harness's SIGKILL
    after 10 s ended Medic instead.)"""
    medic = MedicProcess(tmp_path, store_url=sqlite_url, bearer_token=AM_TOKEN).start()
    host, port = medic.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as stream:
        stream.sendall(f"GET /ui/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = b""
        while b"retry:" not in head:
            chunk = stream.recv(4096)
            assert chunk, "the stream closed before its first event"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        code = medic.stop()
        took = time.monotonic() - started
    assert code == 0
    assert took < 10
    assert _json_lines(medic.log_text())[-1]["event"] == "server.stopped"
