"""SQLite is single-replica: one ``medic serve`` per database file, enforced with a lock file.

The first replica holds an exclusive ``flock`` on ``<database>.lock`` for as long as it runs;
the kernel drops it when the process ends, however it ends (kill -9 included), so a restart
never finds a stale lock. A second replica on the same file is refused at startup.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from pathlib import Path

import sqlalchemy as sa

from bot.errors import StoreRefused


class SqliteInUse(StoreRefused):
    """Another replica already serves this SQLite file."""


class SqliteReplicaLock:
    """The held lock (``release()`` it on shutdown); ``None`` is returned for stores that
    need none (PostgreSQL, in-memory SQLite)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    async def take(cls, url: str) -> SqliteReplicaLock | None:
        """Take the lock of ``url``'s SQLite file, or raise :class:`SqliteInUse`."""
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        if "mode=memory" in str(parsed):
            return None
        database = Path(parsed.database)
        return await asyncio.to_thread(cls._take, database.with_name(database.name + ".lock"))

    @classmethod
    def _take(cls, path: Path) -> SqliteReplicaLock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise SqliteInUse(
                f"{path.with_suffix('')} is already served by {holder}: a SQLite store takes "
                "one replica; use PostgreSQL (store.url: postgresql://…) to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"medic pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return cls(path, fd)

    async def release(self) -> None:
        """Give the lock up (the kernel also does when the process ends)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            await asyncio.to_thread(os.close, fd)
