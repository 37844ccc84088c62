"""Raw HTTP/1.1 over a socket, for requests no polite client would send (bytes that are not
UTF-8 in headers, broken chunking, bodies that never come), and the answers Medic gives."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Generous bound on how long a test waits for any one answer; timings are outcomes, not waits.
ANSWER_WITHIN_S = 10.0


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """One HTTP response as read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (fails the test when it is not JSON)."""
        return json.loads(self.body)

    @property
    def is_json_error(self) -> bool:
        """Medic's error shape: ``{"error": "<code>", "detail": "<what and where>"}``."""
        if not self.headers.get("content-type", "").startswith("application/json"):
            return False
        try:
            body = self.json()
        except ValueError:
            return False
        return (
            isinstance(body, dict)
            and set(body) == {"error", "detail"}
            and all(isinstance(v, str) and v for v in body.values())
        )


def request_head(
    method: str,
    path: str,
    headers: Sequence[tuple[bytes | str, bytes | str]] | Mapping[str, str] = (),
    *,
    host: str = "127.0.0.1",
) -> bytes:
    """A request line and headers, each header written byte for byte as given."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}".encode()]
    lines += [_bytes(name) + b": " + _bytes(value) for name, value in items]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _bytes(text: bytes | str) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


async def read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    """Read one response (Content-Length or until EOF) from ``reader``."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    body = await (reader.readexactly(int(length)) if length is not None else reader.read())
    return RawAnswer(int(status_line.split(" ")[1]), headers, body)


async def exchange(port: int, data: bytes, *, host: str = "127.0.0.1") -> RawAnswer:
    """Send ``data`` on a new connection (leaving it open) and read the answer."""
    (answer,) = await exchange_all(port, data, 1, host=host)
    return answer


async def exchange_all(
    port: int, data: bytes, count: int, *, host: str = "127.0.0.1"
) -> list[RawAnswer]:
    """Send ``data`` on a new connection and read ``count`` answers (pipelined requests)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN_S):
            return [await read_answer(reader) for _ in range(count)]
    finally:
        writer.close()


async def answers_until_closed(port: int, data: bytes) -> list[RawAnswer]:
    """Send ``data`` on a new connection; every answer until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[RawAnswer] = []
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN_S):
            while not reader.at_eof():
                try:
                    answers.append(await read_answer(reader))
                except asyncio.IncompleteReadError:
                    break
    finally:
        writer.close()
    return answers


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within``)."""
    async with asyncio.timeout(within):
        return await reader.read()


SMALL_RECEIVE_BUFFER = 4096
_TCP_ESTABLISHED = 1  # the first byte of Linux's TCP_INFO is the connection's state


async def send_and_never_read(port: int, data: bytes) -> socket.socket:
    """A connection with a small receive buffer (4 KiB) that sends ``data`` and then never
    reads: the server's answer piles up until the kernel's buffers are full."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RECEIVE_BUFFER)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, data)
    return sock


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither closed nor reset ``sock``'s connection (without
    reading from it)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _TCP_ESTABLISHED


def answer_begun(sock: socket.socket) -> bytes:
    """The first bytes (up to a status line) the server sent on ``sock`` so far, left
    unread; empty while none came."""
    try:
        return sock.recv(len(b"HTTP/1.1 200 "), socket.MSG_PEEK)
    except BlockingIOError:
        return b""


async def received_until_closed(sock: socket.socket, within: float) -> int:
    """Read ``sock`` until the server's close or reset; how many bytes arrived (fails
    after ``within``)."""
    loop = asyncio.get_running_loop()
    received = 0
    async with asyncio.timeout(within):
        while True:
            try:
                data = await loop.sock_recv(sock, 65536)
            except ConnectionResetError:
                return received
            if not data:
                return received
            received += len(data)
