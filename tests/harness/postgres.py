"""A throwaway PostgreSQL 15 server on 127.0.0.1, run as the ``postgres`` user.

PostgreSQL refuses to run as root, so every server command goes through
``runuser -u postgres``. The data lives under a fresh ``tempfile.mkdtemp()``
owned by postgres (pytest's tmp dirs are 0700 root, which postgres cannot
enter); its log is copied into the caller's tmp dir on ``close()``.
"""

import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from .ports import OnLocalPort, free_port
from .process import POLL_INTERVAL, ServerError, log_tail

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DATABASE = "medic"


class PostgresServer(OnLocalPort):
    """PostgreSQL with trust auth, fsync off, and a ``medic`` database.

    ``with PostgresServer().start(tmp_path) as pg: ...`` closes it on exit.
    """

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self._bin = bin_dir
        self._base: Path | None = None
        self._tmpdir: Path | None = None
        self._port: int | None = None
        self._running = False

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/medic``."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def running(self) -> bool:
        """Whether the server was started and not stopped since."""
        return self._running

    def start(self, tmpdir: Path, timeout: float = 30.0) -> Self:
        """initdb, start on a free port, wait until ready, create ``medic``."""
        if self._base is not None:
            raise RuntimeError("PostgresServer already started; use start_again()")
        self._tmpdir = tmpdir
        self._base = Path(tempfile.mkdtemp(prefix="medic-pg-"))
        owner = pwd.getpwnam(PG_USER)
        shutil.chown(self._base, owner.pw_uid, owner.pw_gid)
        self._base.chmod(0o755)
        self._port = free_port()
        try:
            self._as_postgres(
                "initdb",
                "-D",
                str(self._data),
                "--auth=trust",
                "--no-sync",
                "-U",
                PG_USER,
            )
            self._pg_ctl_start(timeout)
            self._run(self._bin / "createdb", *self._client_args(), DATABASE)
        except BaseException:
            self.close()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m <mode>`` (``smart``, ``fast`` or ``immediate``)."""
        self._as_postgres("pg_ctl", "stop", "-D", str(self._data), "-m", mode, "-w")
        self._running = False

    def start_again(self, timeout: float = 30.0) -> None:
        """Start the stopped server on the same data dir and port."""
        if self._running:
            raise RuntimeError("PostgresServer is already running")
        self._pg_ctl_start(timeout)

    def close(self) -> None:
        """Stop the server if it runs, keep its log in tmpdir, delete its data."""
        if self._base is None:
            return
        try:
            if self._running:
                self.stop("fast")
        finally:
            if self._tmpdir is not None and self._log.exists():
                self._tmpdir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self._log, self._tmpdir / f"postgres-{self._port}.log")
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _data(self) -> Path:
        if self._base is None:
            raise RuntimeError("PostgresServer is not started")
        return self._base / "data"

    @property
    def _log(self) -> Path:
        return self._data.parent / "postgres.log"

    def _client_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER]

    def _pg_ctl_start(self, timeout: float) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._data.parent} -c fsync=off"
        )
        try:
            self._as_postgres(
                "pg_ctl",
                "start",
                "-D",
                str(self._data),
                "-l",
                str(self._log),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
            )
        except ServerError as err:
            raise ServerError(f"{err}\nserver log:\n{log_tail(self._log)}") from err
        self._running = True
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        argv = [str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(argv, check=False).returncode != 0:
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"postgres not accepting connections on port {self.port} within "
                    f"{timeout:g} s; log:\n{log_tail(self._log)}"
                )
            time.sleep(POLL_INTERVAL)

    def _as_postgres(self, tool: str, *args: str) -> str:
        return self._run("runuser", "-u", PG_USER, "--", str(self._bin / tool), *args)

    def _run(self, *argv: str | Path) -> str:
        done = subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=self._base,
        )
        if done.returncode != 0:
            raise ServerError(
                f"{' '.join(map(str, argv))} exited with {done.returncode}:\n"
                f"{done.stdout}{done.stderr}"
            )
        return done.stdout
