"""Pick free TCP ports on the loopback interface."""

import socket
from types import TracebackType
from typing import Self


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks it when binding port 0; the socket is closed before
    returning, so a server started right after can usually bind it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OnLocalPort:
    """A server listening on 127.0.0.1 at a port chosen when it first starts; a context
    manager that stops it."""

    _port: int | None = None

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The listening port (fixed from the first start on)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} was never started")
        return self._port

    @property
    def url(self) -> str:
        """Base HTTP URL without a trailing slash, e.g. ``http://127.0.0.1:9090``."""
        return f"http://127.0.0.1:{self.port}"
