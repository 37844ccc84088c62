"""Alertmanager ingest throughput: Medic versus a bare aiohttp server that only parses JSON.

Run from the repository root::

    .venv/bin/python bench/ingest.py [--clients N] [--requests M] [--alerts-per-request K]
                                     [--store sqlite|postgresql://...]

Two servers run as subprocesses on free 127.0.0.1 ports:

* ``medic``: ``python -m bot serve`` on a fresh SQLite store in a temporary directory
  (or the given PostgreSQL URL), with a bearer token;
* ``baseline``: this file in its hidden ``--baseline-server PORT`` mode, an aiohttp server
  whose one handler parses the JSON body and answers ``{"accepted": n, "duplicates": 0}``.

Each server gets a short warm-up, then ``R`` rounds (``--rounds``) in which each server in
turn (the order alternating) gets ``M`` POSTs of Alertmanager v4 bodies with fresh
fingerprints from ``N`` concurrent clients sharing one ``ClientSession``. The ratio is taken
per round, between neighbouring measurements, and the median is the figure: a shared or
throttled machine drifts, and a single pair of runs can be off by a factor of two.

By default (``--pin``, with two CPUs or more) the load generator runs on the first CPU
this process may use and each server on the second, so both servers get the same core.

After each Medic round the bench also times how long the engine takes to put every
acknowledged alert into its incident (``GET /api/incidents`` until the alert counts add
up): acknowledging is the commit; grouping happens after it.

Every Medic answer must be 200 with ``accepted == K`` and ``duplicates == 0``; anything
else aborts the run with exit status 1. Falling short of the throughput target is a
finding, not a failure: the exit status is then still 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import aiohttp
from aiohttp import web

TARGET_RATIO = 0.40
HOST = "127.0.0.1"
TOKEN = secrets.token_urlsafe(16)  # per run: never a real credential
WEBHOOK_PATH = "/webhooks/alertmanager"
READY_PATH = "/readyz"
READY_TIMEOUT_S = 30.0
READY_POLL_S = 0.1
REQUEST_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
MAX_WARMUP = 500
CATCH_UP_TIMEOUT_S = 120.0
CATCH_UP_POLL_S = 0.1
REPO = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """The benchmark could not measure: a server did not start or answered wrongly."""


@dataclass(frozen=True, slots=True)
class Target:
    """A running server under test."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    checked: bool


@dataclass(frozen=True, slots=True)
class Result:
    """One measured round against one target."""

    name: str
    requests: int
    elapsed_s: float
    latencies_s: list[float]
    catch_up_s: float | None = None
    cpu_s: float = 0.0  # the server's CPU (all threads, user and system) in the round

    @property
    def rps(self) -> float:
        """Requests per second over the measured phase's wall time."""
        return self.requests / self.elapsed_s

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU per request, catching up included."""
        return self.cpu_s / self.requests * 1e6


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile_ms(latencies_s: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile latency in milliseconds (nearest rank)."""
    ordered = sorted(latencies_s)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil(pct/100 * n)
    return ordered[rank - 1] * 1000


# --------------------------------------------------------------------------- baseline


async def _baseline_ingest(request: web.Request) -> web.Response:
    """Parse the JSON body and count its alerts: the least any webhook receiver does."""
    body = await request.json()
    return web.json_response({"accepted": len(body["alerts"]), "duplicates": 0})


async def _baseline_ready(request: web.Request) -> web.Response:
    """Always ready."""
    return web.json_response({"status": "ready"})


def run_baseline_server(port: int) -> int:
    """Serve the baseline on ``127.0.0.1:port`` until terminated."""
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, _baseline_ingest)
    app.router.add_get(READY_PATH, _baseline_ready)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)
    return 0


# --------------------------------------------------------------------------- payloads


def build_payloads(
    count: int, alerts_per_request: int, groups: int, run_tag: str, phase: str
) -> list[bytes]:
    """``count`` encoded Alertmanager v4 bodies, every alert with a never-seen fingerprint.

    Fingerprints and group keys carry ``run_tag`` so a reused (PostgreSQL) store sees no
    duplicates from earlier runs. Requests cycle through ``groups`` group keys, so after
    the warm-up most alerts join an open incident, as in a real alert storm.
    """
    starts_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payloads: list[bytes] = []
    for i in range(count):
        group = f"bench-{run_tag}-{i % groups:03d}"
        labels = {
            "alertname": "BenchIngest",
            "group": group,
            "namespace": "bench",
            "severity": "warning",
        }
        alerts = [
            {
                "status": "firing",
                "labels": {**labels, "instance": f"{phase}-{i}-{j}"},
                "annotations": {"summary": f"bench ingest alert group {group}"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
                "fingerprint": f"{run_tag}-{phase}-{i:07d}-{j:04d}",
            }
            for j in range(alerts_per_request)
        ]
        body = {
            "receiver": "medic",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"group": group},
            "commonLabels": labels,
            "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:9093",
            "version": "4",
            "groupKey": f'{{}}:{{group="{group}"}}',
            "truncatedAlerts": 0,
        }
        payloads.append(json.dumps(body).encode())
    return payloads


# --------------------------------------------------------------------------- load


async def _client(
    session: aiohttp.ClientSession,
    target: Target,
    jobs: Iterator[bytes],
    expected: int,
    latencies: list[float],
) -> None:
    """POST payloads taken from the shared ``jobs`` iterator until it is exhausted."""
    url = target.base_url + WEBHOOK_PATH
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for payload in jobs:
        started = time.perf_counter()
        async with session.post(url, data=payload, headers=headers) as response:
            text = await response.text()
        latencies.append(time.perf_counter() - started)
        _check_answer(target, response.status, text, expected)


def _check_answer(target: Target, status: int, text: str, expected: int) -> None:
    """Raise :class:`BenchError` unless the answer is 200 with the expected counts."""
    if status != 200:
        raise BenchError(f"{target.name}: HTTP {status}: {text[:500]}")
    if not target.checked:
        return
    try:
        answer: Any = json.loads(text)
    except ValueError as err:
        raise BenchError(f"{target.name}: answer is not JSON: {text[:500]!r}") from err
    if not isinstance(answer, dict) or answer.get("accepted") != expected:
        raise BenchError(f"{target.name}: expected accepted={expected}, got {text[:500]}")
    if answer.get("duplicates") != 0:
        raise BenchError(f"{target.name}: fresh fingerprints reported as duplicates: {text}")


async def drive(
    session: aiohttp.ClientSession,
    target: Target,
    payloads: Sequence[bytes],
    clients: int,
    expected: int,
) -> tuple[float, list[float]]:
    """Send every payload once with ``clients`` concurrent tasks: (wall seconds, latencies)."""
    jobs = iter(payloads)
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(clients):
                group.create_task(_client(session, target, jobs, expected, latencies))
    except ExceptionGroup as errors:
        raise _first(errors) from None
    return time.perf_counter() - started, latencies


def _first(error: BaseException) -> BaseException:
    """The first leaf exception of a (possibly nested) exception group."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def wait_ready(target: Target) -> None:
    """Poll ``GET /readyz`` until 200; fail if the process exits or the deadline passes."""
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(int(READY_TIMEOUT_S / READY_POLL_S)):
            code = target.process.poll()
            if code is not None:
                raise BenchError(f"{target.name} exited with status {code} before ready")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(target.base_url + READY_PATH) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(READY_POLL_S)
    raise BenchError(f"{target.name} not ready after {READY_TIMEOUT_S:.0f}s")


async def measure(targets: Sequence[Target], args: argparse.Namespace) -> list[Result]:
    """Warm up each target, then measure them in ``args.rounds`` interleaved rounds."""
    for target in targets:
        await wait_ready(target)
    run_tag = secrets.token_hex(4)
    warmup = min(MAX_WARMUP, max(args.clients, args.groups, args.requests // 10))
    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    k = args.alerts_per_request
    results: list[Result] = []
    sent = dict.fromkeys((t.name for t in targets), 0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for target in targets:
            warm = build_payloads(warmup, k, args.groups, f"{run_tag}-{target.name}", "warmup")
            await drive(session, target, warm, args.clients, k)
            sent[target.name] += warmup * k
            await _caught_up(session, target, run_tag, sent[target.name])
        for round_no in range(args.rounds):
            order = targets if round_no % 2 == 0 else list(reversed(targets))
            for target in order:
                tag = f"{run_tag}-{target.name}"
                timed = build_payloads(args.requests, k, args.groups, tag, f"r{round_no}")
                cpu = cpu_seconds(target.process.pid)
                elapsed, latencies = await drive(session, target, timed, args.clients, k)
                sent[target.name] += args.requests * k
                lag = await _caught_up(session, target, run_tag, sent[target.name])
                cpu = cpu_seconds(target.process.pid) - cpu
                results.append(Result(target.name, len(timed), elapsed, latencies, lag, cpu))
    return results


async def _caught_up(
    session: aiohttp.ClientSession, target: Target, run_tag: str, expected: int
) -> float | None:
    """Seconds until Medic's incidents hold all ``expected`` alerts of this run (None for
    the baseline, which keeps nothing)."""
    if not target.checked:
        return None
    marker = f"bench-{run_tag}-{target.name}-"
    started = time.perf_counter()
    while time.perf_counter() - started < CATCH_UP_TIMEOUT_S:
        # The API answers once the engine has caught up, or after its own bounded wait.
        async with session.get(f"{target.base_url}/api/incidents") as response:
            if response.status != 200:
                raise BenchError(f"{target.name}: GET /api/incidents: HTTP {response.status}")
            listing: Any = await response.json()
        held = sum(i["alert_count"] for i in listing["incidents"] if marker in i["title"])
        if held >= expected:
            return time.perf_counter() - started
        await asyncio.sleep(CATCH_UP_POLL_S)
    raise BenchError(f"{target.name}: alerts not all in incidents after {CATCH_UP_TIMEOUT_S}s")


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def two_cpus() -> tuple[int, int] | None:
    """(load generator's CPU, servers' CPU): the first two this process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


def _pin(process: subprocess.Popen[bytes], cpu: int | None) -> None:
    """Pin a just-started server (threads it starts later inherit it) to ``cpu``; a server
    that cannot be pinned is stopped, never left running."""
    if cpu is None:
        return
    try:
        os.sched_setaffinity(process.pid, {cpu})
    except OSError as err:
        stop(process)
        raise BenchError(f"cannot pin the server to CPU {cpu}: {err}") from err


def start_medic(
    store_url: str,
    log: IO[bytes],
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    cpu: int | None = None,
) -> Target:
    """Start ``python -m bot serve`` with its configuration in the environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        {
            "MEDIC_SERVER__HOST": HOST,
            "MEDIC_SERVER__PORT": str(port),
            "MEDIC_STORE__URL": store_url,
            "MEDIC_ALERTMANAGER__BEARER_TOKEN": TOKEN,
            **(extra_env or {}),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _pin(process, cpu)
    return Target("medic", f"http://{HOST}:{port}", process, log_path, checked=True)


def start_baseline(log: IO[bytes], log_path: Path, cpu: int | None = None) -> Target:
    """Start this file in ``--baseline-server`` mode."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--baseline-server", str(port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _pin(process, cpu)
    return Target("baseline", f"http://{HOST}:{port}", process, log_path, checked=False)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def log_tail(path: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a server log, for error reports."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- report


def report(results: Sequence[Result], args: argparse.Namespace, store: str) -> None:
    """Print each target's medians, the per-round ratios, their median and the verdict."""
    cpus: tuple[int, int] | None = args.cpus
    pinned = f"client on CPU {cpus[0]}, servers on CPU {cpus[1]}" if cpus else "no"
    print(
        f"clients={args.clients} requests={args.requests} rounds={args.rounds} "
        f"alerts/request={args.alerts_per_request} groups={args.groups} store={store} "
        f"pinned={pinned}"
    )
    print(f"{'target':<10} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  per round")
    by_name: dict[str, list[Result]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    for name, rounds in by_name.items():
        latencies = [x for r in rounds for x in r.latencies_s]
        each = " ".join(f"{r.rps:.0f}" for r in rounds)
        print(
            f"{name:<10} {sum(r.requests for r in rounds):>9} "
            f"{statistics.median(r.rps for r in rounds):>9.1f} "
            f"{percentile_ms(latencies, 50):>8.2f} {percentile_ms(latencies, 99):>8.2f}  {each}"
        )
    ratios = [m.rps / b.rps for m, b in zip(by_name["medic"], by_name["baseline"], strict=True)]
    ratio = statistics.median(ratios)
    verdict = "MET" if ratio >= TARGET_RATIO else "NOT MET"
    print("ratio per round: " + " ".join(f"{x:.2f}" for x in ratios))
    print(f"ratio (median of rounds, medic req/s / baseline req/s) = {ratio:.2f}")
    print(f"target >= {TARGET_RATIO:.2f}: {verdict}")
    cpu_ratios = [
        b.cpu_us_per_request / m.cpu_us_per_request
        for m, b in zip(by_name["medic"], by_name["baseline"], strict=True)
    ]
    print(
        "server CPU per request, µs (median of rounds; Medic's includes catching up): "
        f"medic {statistics.median(r.cpu_us_per_request for r in by_name['medic']):.0f}, "
        f"baseline {statistics.median(r.cpu_us_per_request for r in by_name['baseline']):.0f}; "
        "CPU ratio (baseline / medic) " + " ".join(f"{x:.2f}" for x in cpu_ratios)
    )
    lags = [r.catch_up_s for r in by_name["medic"] if r.catch_up_s is not None]
    print(
        "engine: every acknowledged alert in its incident "
        f"{statistics.median(lags):.2f} s (median; max {max(lags):.2f} s) after a round's last ack"
    )


# --------------------------------------------------------------------------- main


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _store(text: str) -> str:
    if text == "sqlite" or text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError("must be 'sqlite' or a postgresql:// URL")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (``--baseline-server`` is internal and hidden)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=_positive, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=_positive, default=2000, help="timed requests per round")
    parser.add_argument("--rounds", type=_positive, default=5, help="interleaved rounds")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=two_cpus() is not None,
        help="load generator on one CPU, each server on another (default: on with 2+ CPUs)",
    )
    parser.add_argument(
        "--alerts-per-request", type=_positive, default=1, help="alerts in each body"
    )
    parser.add_argument(
        "--groups", type=_positive, default=16, help="distinct Alertmanager group keys"
    )
    parser.add_argument(
        "--store", type=_store, default="sqlite", help="'sqlite' (fresh) or a postgresql:// URL"
    )
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit so the ``finally`` blocks stop the servers."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when measured (target met or not), 1 when it could not be."""
    args = parse_args(argv)
    if args.baseline_server is not None:
        return run_baseline_server(args.baseline_server)
    signal.signal(signal.SIGTERM, _terminate)
    cpus = args.cpus = two_cpus() if args.pin else None  # read before pinning ourselves
    server_cpu = cpus[1] if cpus else None
    if cpus:
        os.sched_setaffinity(0, {cpus[0]})
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="medic-bench-") as tmp:
        tmpdir = Path(tmp)
        store_url = f"sqlite:///{tmpdir / 'medic.db'}" if args.store == "sqlite" else args.store
        store_label = "sqlite (fresh)" if args.store == "sqlite" else "postgresql"
        medic_log_path, baseline_log_path = tmpdir / "medic.log", tmpdir / "baseline.log"
        try:
            with medic_log_path.open("wb") as medic_log, baseline_log_path.open("wb") as base_log:
                targets.append(start_medic(store_url, medic_log, medic_log_path, cpu=server_cpu))
                targets.append(start_baseline(base_log, baseline_log_path, cpu=server_cpu))
                results = asyncio.run(measure(targets, args))
        except (BenchError, aiohttp.ClientError, TimeoutError) as err:
            print(f"bench failed: {type(err).__name__}: {err}", file=sys.stderr)
            for target in targets:
                tail = log_tail(target.log_path)
                if tail:
                    print(f"--- {target.name} log (tail) ---\n{tail}", file=sys.stderr)
            return 1
        finally:
            for target in targets:
                stop(target.process)
    report(results, args, store_label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
