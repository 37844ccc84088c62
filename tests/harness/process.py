"""Run a server as a subprocess, wait until it answers over HTTP, stop it.

Blocking code: use it from sync pytest fixtures, never on the event loop.
"""

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .ports import OnLocalPort

POLL_INTERVAL = 0.05
STOP_GRACE = 10.0
LOG_TAIL_LINES = 40


class ServerError(RuntimeError):
    """A server exited, did not become ready in time, or a server command failed."""


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a log file (or a note that it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"<no log at {path}>"
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """A running subprocess whose stdout and stderr go to one log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.name = name
        self.popen = popen
        self._log = log
        self.log_path = Path(log.name)

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the end of the process's log."""
        self._log.flush()
        return log_tail(self.log_path, lines)

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        """Poll ``url`` every 50 ms until it answers 200.

        Raises ``ServerError`` with the log's tail if the process exits
        first or ``timeout`` seconds pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            code = self.popen.poll()
            if code is not None:
                raise ServerError(
                    f"{self.name} exited with {code} before {url} answered; log:\n{self.tail()}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=1.0) as resp,  # noqa: S310  # our own http:// server
            ):
                if resp.status == 200:
                    return
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.name} did not answer 200 on {url} within {timeout:g} s; "
                    f"log:\n{self.tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, grace: float = STOP_GRACE) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; return the exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start ``argv`` with stdout and stderr appended to ``<log_dir>/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{name}.log").open("ab")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=log_dir,
        )
    except OSError:
        log.close()
        raise
    return ManagedProcess(name, popen, log)


class OneProcessServer(OnLocalPort):
    """A server that is one managed process (``self._process`` while it runs)."""

    _process: ManagedProcess | None = None

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s); safe to call twice."""
        if self._process is not None:
            self._process.stop()
            self._process = None
