"""Several replicas on one PostgreSQL: webhook throughput with 1, 2 and 3 replicas, and how
long a surviving replica takes to take over the runs of one killed with -9.

Run from the repository root::

    .venv/bin/python bench/replicas.py [--replicas 1,2,3] [--requests 2000] [--clients 32]
                                       [--rounds 2] [--runs 20] [--lease 5]
                                       [--store postgresql|postgresql://...] [--no-pin]

**Throughput.** Each round starts, for every replica count (order alternating by round),
that many ``medic serve`` on one fresh PostgreSQL database (the configuration of
``bench/latency.py``), then POSTs ``--requests`` Alertmanager webhooks (one alert each,
fresh fingerprints, group keys cycling over ``--groups``) from ``--clients`` concurrent
tasks, round-robin over the replicas as a load balancer would. It reports acknowledged
webhooks per second and the answer times, then how long after the last answer one
``GET /api/incidents`` (which waits until every acknowledged alert is in its incident,
whichever replica took it) holds every alert.

**Takeover.** Two replicas with ``store.lease_seconds`` = ``--lease``; ``--runs`` incidents
are sent to the first, whose runs all wait for an approval; the first is killed with -9.
The figure is the time from the kill until the store shows every one of those runs owned
by the survivor (expected: about the lease plus up to a third of it, the heartbeat
interval).

With ``--pin`` (the default with two CPUs or more) the bench runs on the first CPU and every
replica on the second: replicas then share one core, which measures what coordination
costs rather than what more cores give. ``--no-pin`` lets them float.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from latency import _build, alert_body
from servers import (
    TOKEN,
    BenchError,
    Build,
    Stores,
    Target,
    load_average,
    percentile_ms,
    run_bench,
    running,
    wait_ready,
    write_config,
)

TAKEOVER_PLAYBOOK = """\
name: bench-guarded
match: ['alertname="BenchGuarded"']
group_by: [service]
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h, prompt: "go on?"}
  - id: note
    uses: incident.note
    with: {text: approved}
"""


@dataclass(slots=True)
class Throughput:
    """One replica count's measurements over every round."""

    rates: list[float] = field(default_factory=list)
    answers_s: list[float] = field(default_factory=list)
    catch_up_s: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Results:
    """Throughput per replica count, and the takeover times."""

    throughput: dict[int, Throughput] = field(default_factory=dict)
    takeovers_s: list[float] = field(default_factory=list)


@contextlib.contextmanager
def started(
    build: Build, store: str, config: Path, tmpdir: Path, count: int, args: argparse.Namespace
) -> Iterator[list[Target]]:
    """``count`` replicas on ``store``, stopped on exit."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                running(build, store, config, tmpdir / f"replica-{i}.log", args.server_cpu)
            )
            for i in range(count)
        ]


def webhook(tag: str, index: int, groups: int) -> bytes:
    """One alert of its own, its group key one of ``groups``."""
    body = json.loads(alert_body(tag, index))
    body["groupKey"] = f'{{}}:{{bench="{tag}-{index % groups}"}}'
    return json.dumps(body).encode()


async def post(session: aiohttp.ClientSession, target: Target, body: bytes) -> None:
    """POST one webhook; anything but 200 aborts."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    url = f"{target.base_url}/webhooks/alertmanager"
    async with session.post(url, data=body, headers=headers) as answer:
        if answer.status != 200:
            raise BenchError(f"webhook: HTTP {answer.status}: {(await answer.text())[:300]}")


async def throughput(
    session: aiohttp.ClientSession, targets: list[Target], args: argparse.Namespace
) -> tuple[float, list[float], float]:
    """Acknowledged webhooks per second, each answer's time, and the catch-up time."""
    for target in targets:
        await wait_ready(target)
    tag = secrets.token_hex(3)
    bodies = [webhook(tag, i, args.groups) for i in range(args.requests)]
    answers: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.requests):
        queue.put_nowait(i)

    async def client() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            began = time.perf_counter()
            await post(session, targets[i % len(targets)], bodies[i])
            answers.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    ended = time.perf_counter()
    while True:
        async with session.get(f"{targets[0].base_url}/api/incidents") as answer:
            listing: Any = await answer.json()
        if sum(i["alert_count"] for i in listing["incidents"]) >= args.requests:
            break
    return args.requests / (ended - began), answers, time.perf_counter() - ended


async def _owners(store: str) -> dict[str | None, int]:
    """How many unfinished runs each owner holds."""
    conn = await asyncpg.connect(store)
    try:
        rows = await conn.fetch(
            "SELECT owner, count(*) AS n FROM runs"
            " WHERE status NOT IN ('succeeded','failed','aborted','interrupted','skipped')"
            " GROUP BY owner"
        )
    finally:
        await conn.close()
    return {row["owner"]: int(row["n"]) for row in rows}


async def _owners_once_settled(store: str, runs: int) -> dict[str | None, int]:
    """The owners once all ``runs`` exist and one replica owns them (at most 60 s)."""
    for _ in range(1200):
        owners = await _owners(store)
        if len(owners) == 1 and None not in owners and sum(owners.values()) == runs:
            return owners
        await asyncio.sleep(0.05)
    raise BenchError(f"expected {runs} runs owned by one replica, found {owners}")


async def takeover(
    session: aiohttp.ClientSession,
    build: Build,
    stores: Stores,
    tmpdir: Path,
    args: argparse.Namespace,
) -> float:
    """Seconds from kill -9 of the replica owning ``--runs`` waiting runs until the
    survivor (started once the victim owns them all) owns them."""
    playbooks = tmpdir / "playbooks"
    playbooks.mkdir(exist_ok=True)
    (playbooks / "bench-guarded.yaml").write_text(TAKEOVER_PLAYBOOK)
    env = {
        "MEDIC_STORE__LEASE_SECONDS": str(args.lease),
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(playbooks)]),
    }
    config = write_config(tmpdir / "medic.yaml")
    store = await stores.fresh()
    logs = [tmpdir / "takeover-victim.log", tmpdir / "takeover-survivor.log"]
    with running(build, store, config, logs[0], args.server_cpu, env) as victim:
        await wait_ready(victim)
        for i in range(args.runs):
            body = json.loads(alert_body("takeover", i))
            body["alerts"][0]["labels"] |= {"alertname": "BenchGuarded", "service": f"s{i}"}
            body["groupKey"] = f'{{}}:{{service="s{i}"}}'
            await post(session, victim, json.dumps(body).encode())
        owners = await _owners_once_settled(store, args.runs)
        with running(build, store, config, logs[1], args.server_cpu, env) as survivor:
            await wait_ready(survivor)
            victim.process.kill()
            killed = time.perf_counter()
            victim.process.wait()
            while True:
                if not set(await _owners(store)) & {*owners, None}:
                    return time.perf_counter() - killed
                await asyncio.sleep(0.02)


async def measure(
    builds: Sequence[Build], stores: Stores, args: argparse.Namespace, tmpdir: Path
) -> Results:
    """Throughput for every replica count each round (order alternating), then takeovers."""
    if stores.label != "postgresql":
        raise BenchError("replicas need PostgreSQL: --store postgresql or a postgresql:// URL")
    build = builds[0]
    config = write_config(tmpdir / "medic.yaml")
    results = Results()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        for round_no in range(args.rounds):
            counts = args.replicas if round_no % 2 == 0 else list(reversed(args.replicas))
            for count in counts:
                print(f"round {round_no + 1}: {count} replica(s); {load_average()}")
                store = await stores.fresh()
                with started(build, store, config, tmpdir, count, args) as targets:
                    rate, answers, catch_up = await throughput(session, targets, args)
                figures = results.throughput.setdefault(count, Throughput())
                figures.rates.append(rate)
                figures.answers_s += answers
                figures.catch_up_s.append(catch_up)
        for round_no in range(args.rounds):
            print(f"takeover {round_no + 1}: lease {args.lease:g} s; {load_average()}")
            results.takeovers_s.append(await takeover(session, build, stores, tmpdir, args))
    return results


def report(results: Results, args: argparse.Namespace) -> None:
    """Throughput per replica count and the takeover times."""
    print(
        f"\nstore={args.stores_label} requests={args.requests} clients={args.clients} "
        f"groups={args.groups} rounds={args.rounds} pinned={args.pinned}"
    )
    print(f"after the run: {load_average()}")
    print(
        f"{'replicas':>8} {'webhooks/s':>11} {'per round':>18} {'p50 ms':>7} {'p99 ms':>7}"
        "  caught up s"
    )
    for count in sorted(results.throughput):
        f = results.throughput[count]
        rounds = ", ".join(f"{r:.0f}" for r in f.rates)
        print(
            f"{count:>8} {sorted(f.rates)[len(f.rates) // 2]:>11.0f} {rounds:>18} "
            f"{percentile_ms(f.answers_s, 50):>7.1f} {percentile_ms(f.answers_s, 99):>7.1f}  "
            + ", ".join(f"{c:.2f}" for c in f.catch_up_s)
        )
    takeovers = ", ".join(f"{t:.2f}" for t in results.takeovers_s)
    print(
        f"takeover of {args.runs} waiting runs after kill -9 "
        f"(lease {args.lease:g} s): {takeovers} s"
    )


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError("replica counts like 1,2,3") from err
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("replica counts like 1,2,3")
    return counts


def _postgres(text: str) -> str:
    if text == "postgresql" or text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError("postgresql or a postgresql:// URL")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicas", type=_counts, default=[1, 2, 3])
    parser.add_argument("--requests", type=int, default=2000, help="webhooks per measurement")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="waiting runs taken over")
    parser.add_argument("--lease", type=float, default=5.0, help="store.lease_seconds")
    parser.add_argument("--store", type=_postgres, default="postgresql")
    parser.add_argument("--build", type=_build, action="append", help="LABEL=DIR (first used)")
    parser.add_argument("--workdir", type=Path, help="keep stores and logs here")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure; 0 when measured, 1 when it could not be."""
    return run_bench(parse_args(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
