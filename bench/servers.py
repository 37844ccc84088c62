"""What the latency and memory benchmarks share: Medic builds, stores, machine load, figures.

A *build* is a Medic checkout (``LABEL=DIR``): ``python -m bot serve`` started with that
directory as its working directory imports that checkout's ``bot`` and ``responders`` (the
working directory comes first on ``sys.path``), with this virtualenv's packages. Comparing
two builds in one run (``--build base=/tmp/medic-base --build this=.``) measures them on
the same machine minutes apart, interleaved, which is the only fair comparison on a shared
host.

A *store* is ``sqlite`` (a fresh file per server), ``postgresql`` (one throwaway
PostgreSQL 15 server started with the tests' harness, a fresh database per server), or a
``postgresql://`` URL of a server you run (a fresh database is created on it per server:
the URL's user needs CREATEDB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
import asyncpg
import sqlalchemy as sa
from ingest import (
    HOST,
    TOKEN,
    BenchError,
    Target,
    cpu_seconds,
    free_port,
    log_tail,
    stop,
    two_cpus,
    wait_ready,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.postgres import PostgresServer  # noqa: E402 -- the tests' harness, from tests/

API_TOKEN = secrets.token_urlsafe(16)  # per run: never a real credential
APPROVER = "bench-approver"

__all__ = [
    "API_TOKEN",
    "APPROVER",
    "HOST",
    "TOKEN",
    "BenchError",
    "Build",
    "Stores",
    "Target",
    "cpu_seconds",
    "load_average",
    "log_tail",
    "percentile_ms",
    "start_build",
    "stop",
    "wait_ready",
]


@dataclass(frozen=True, slots=True)
class Build:
    """A Medic checkout to measure."""

    label: str
    root: Path


def parse_build(text: str) -> Build:
    """``LABEL=DIR`` (or just ``DIR``, labelled by its last path part)."""
    label, _, path = text.rpartition("=")
    root = Path(path).resolve()
    if not (root / "bot" / "__main__.py").is_file():
        raise ValueError(f"{root} is not a Medic checkout (no bot/__main__.py)")
    return Build(label or root.name, root)


def percentile_ms(values_s: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile in milliseconds (nearest rank); nan when empty."""
    if not values_s:
        return float("nan")
    ordered = sorted(values_s)
    rank = max(1, -(-int(pct * len(ordered)) // 100))
    return ordered[min(rank, len(ordered)) - 1] * 1000


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (what ``uptime`` prints)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


class Stores:
    """Hands out a fresh store URL per server; owns the throwaway PostgreSQL, if any."""

    def __init__(self, kind: str, tmpdir: Path) -> None:
        self.kind = kind
        self._tmpdir = tmpdir
        self._server: PostgresServer | None = None
        self._count = 0

    @property
    def label(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.kind == "sqlite" else "postgresql"

    def __enter__(self) -> Stores:
        if self.kind == "postgresql":
            self._server = PostgresServer().start(self._tmpdir)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()

    async def fresh(self) -> str:
        """A store nobody used yet."""
        self._count += 1
        if self.kind == "sqlite":
            return f"sqlite:///{self._tmpdir / f'medic-{self._count}.db'}"
        admin = self._server.url if self._server is not None else self.kind
        name = f"medic_bench_{secrets.token_hex(4)}"
        try:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as err:
            raise BenchError(f"cannot create a bench database: {err}") from err
        return sa.make_url(admin).set(database=name).render_as_string(hide_password=False)


def write_config(path: Path, extra: str = "") -> Path:
    """A config file: the embedded defaults, plus what the latency benches need: the
    decision API on for one approver, and rate limits that never trip (each new incident
    scales a deployment; the default allows 6 an hour)."""
    path.write_text(
        "safety:\n"
        "  limits:\n"
        "    kubernetes.scale: {max: 1000000, per: 1h}\n"
        "slack:\n"
        f"  approvers: [{APPROVER}]\n" + extra
    )
    return path


def start_build(
    build: Build,
    store_url: str,
    config: Path,
    log: IO[bytes],
    log_path: Path,
    cpu: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Target:
    """``python -m bot serve`` from ``build``'s checkout on a fresh port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        {
            "MEDIC_CONFIG": str(config),
            "MEDIC_SERVER__HOST": HOST,
            "MEDIC_SERVER__PORT": str(port),
            "MEDIC_SERVER__API_TOKEN": API_TOKEN,
            "MEDIC_STORE__URL": store_url,
            "MEDIC_ALERTMANAGER__BEARER_TOKEN": TOKEN,
            "PYTHONPATH": str(build.root),
            **(extra_env or {}),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=build.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if cpu is not None:
        try:
            os.sched_setaffinity(process.pid, {cpu})
        except OSError as err:
            stop(process)
            raise BenchError(f"cannot pin the server to CPU {cpu}: {err}") from err
    return Target(build.label, f"http://{HOST}:{port}", process, log_path, checked=True)


@contextlib.contextmanager
def running(
    build: Build,
    store_url: str,
    config: Path,
    log_path: Path,
    cpu: int | None = None,
    extra_env: dict[str, str] | None = None,
    profile: Path | None = None,
) -> Iterator[Target]:
    """A started server, stopped on exit whatever happens; its log tail joins any error.
    With ``profile``, py-spy samples it (collapsed stacks, GIL-holding threads) into that
    file until it stops."""
    with log_path.open("ab") as log:
        target = start_build(build, store_url, config, log, log_path, cpu, extra_env)
        spy = None
        try:
            if profile is not None:
                spy = start_profiler(target.process.pid, profile)
            yield target
        except BenchError as err:
            tail = log_tail(log_path)
            raise BenchError(f"{err}\n--- {build.label} log (tail) ---\n{tail}") from None
        finally:
            stop(target.process)
            if spy is not None:
                spy.wait(timeout=30)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` on ``pid`` (100 samples/s of the thread holding the GIL), raw
    collapsed stacks to ``output``; it ends when the process does."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def rss_mb(pid: int) -> float:
    """Resident memory of a process (``VmRSS``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


Results = TypeVar("Results")


def run_bench(
    args: argparse.Namespace,
    measure: Callable[
        [list[Build], Stores, argparse.Namespace, Path], Coroutine[Any, Any, Results]
    ],
    report: Callable[[Results, argparse.Namespace], None],
) -> int:
    """Pin the CPUs, start the stores, ``measure`` every ``--build`` and ``report``; 0 when
    measured (targets met or not), 1 when it could not be."""
    builds = args.build or [parse_build(f"this={Path(__file__).resolve().parent.parent}")]
    signal.signal(signal.SIGTERM, _terminate)
    cpus = two_cpus() if args.pin else None
    args.server_cpu = cpus[1] if cpus else None
    args.pinned = f"bench on CPU {cpus[0]}, Medic on CPU {cpus[1]}" if cpus else "no"
    if cpus:
        os.sched_setaffinity(0, {cpus[0]})
    print(f"builds: {', '.join(f'{b.label}={b.root}' for b in builds)}; {load_average()}")
    with contextlib.ExitStack() as stack:
        tmp = args.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="medic-"))
        Path(tmp).mkdir(parents=True, exist_ok=True)
        try:
            with Stores(args.store, Path(tmp)) as stores:
                args.stores_label = stores.label
                results = asyncio.run(measure(builds, stores, args, Path(tmp)))
        except (BenchError, aiohttp.ClientError, TimeoutError) as err:
            print(f"bench failed: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
    report(results, args)
    return 0
