"""``medic serve`` as a real subprocess on 127.0.0.1, configured through ``MEDIC_*`` env vars."""

import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from prometheus_client.parser import text_string_to_metric_families

from .http import get_text
from .ports import OnLocalPort, free_port
from .process import ManagedProcess, start_process

ENV_PREFIX = "MEDIC_"
NAME = "medic"


def clean_env(**settings: str) -> dict[str, str]:
    """Our environment without any ``MEDIC_*`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"  # narration on stderr reaches the log even after SIGKILL
    return env | settings


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` as a user would, in a child process with no ``MEDIC_*``
    variable but ``env``; its exit code and output (text)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def serve_refused(store_url: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``medic serve`` on ``store_url`` expecting it to stop at startup; its exit code
    and output (a server that starts instead fails the test by the timeout)."""
    env = {"MEDIC_STORE__URL": store_url, "MEDIC_SERVER__PORT": str(free_port())}
    return run_cli("serve", env=env, timeout=timeout)


class MedicProcess(OnLocalPort):
    """``python -m bot serve`` with the given store and Alertmanager bearer token.

    Nothing ``MEDIC_*`` leaks in from the caller's environment; no config file
    is used, so everything else is the embedded default. The port is picked on
    the first ``start()`` and kept, so ``kill()`` then ``start()`` restarts the
    same server on the same store. stdout (JSON logs) and stderr (narration)
    go to ``<log_dir>/medic.log``, appended across restarts.
    ``with MedicProcess(tmp_path, store_url=..., bearer_token=...).start() as medic: ...``
    stops it on exit.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        store_url: str,
        bearer_token: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.store_url = store_url
        self.bearer_token = bearer_token
        self.extra_env = dict(extra_env or {})
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        """The file that collects stdout and stderr of every run."""
        return self.log_dir / f"{NAME}.log"

    def env(self) -> dict[str, str]:
        """The subprocess environment: ours without ``MEDIC_*``, plus this server's settings."""
        env = clean_env(MEDIC_SERVER__PORT=str(self.port))
        env["MEDIC_STORE__URL"] = self.store_url
        if self.bearer_token is not None:
            env["MEDIC_ALERTMANAGER__BEARER_TOKEN"] = self.bearer_token
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> Self:
        """Start ``medic serve`` and wait until ``/readyz`` answers 200 (it returns as soon as
        it does; the generous bound is for a loaded machine, where imports alone took 30 s)."""
        if self._process is not None:
            raise RuntimeError("MedicProcess already running; kill() or stop() it first")
        if self._port is None:
            self._port = free_port()
        self._process = start_process(
            NAME, [sys.executable, "-m", "bot", "serve"], self.log_dir, self.env()
        )
        try:
            self._process.wait_http_ok(f"{self.url}/readyz", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise RuntimeError("MedicProcess is not running")
        return self._process.popen.pid

    def kill(self) -> int:
        """SIGKILL, as a crash would; wait for the process and return its exit code."""
        if self._process is None:
            raise RuntimeError("MedicProcess is not running")
        self._process.popen.kill()
        self._process.popen.wait()
        code = self._process.stop()
        self._process = None
        return code

    def stop(self) -> int | None:
        """SIGTERM (SIGKILL after 10 s); the exit code, or None if it was not running."""
        if self._process is None:
            return None
        code = self._process.stop()
        self._process = None
        return code

    def log_text(self) -> str:
        """Everything every run of this server wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str, **labels: str) -> float:
        """The value of sample ``name`` with exactly ``labels`` on ``/metrics`` (0 if absent)."""
        text = get_text(f"{self.url}/metrics")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
