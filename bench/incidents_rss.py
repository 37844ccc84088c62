"""Memory and listing speed with many open incidents whose runs wait for approval.

Run from the repository root::

    .venv/bin/python bench/incidents_rss.py [--incidents 1000] [--gets 200] [--rounds 2]
                                            [--store sqlite|postgresql|postgresql://...]
                                            [--build LABEL=DIR ...]

Each round starts, for every build (order alternating), a fresh ``medic serve`` (the same
configuration as ``bench/latency.py``) on a fresh store, and notes its resident memory
once ready. It then opens ``--incidents`` incidents (``DWCPv3AllReplicasDown`` for as many
deployments, sent 50 alerts per webhook) and waits until every one's ``v1-fallback`` run
waits for the ``approve_restart`` approval (five steps done, one task per run parked on
its approval). With all of them open it notes the resident memory again (``VmRSS`` of the
server process, all threads) and times ``--gets`` sequential ``GET /api/incidents`` (every
incident, newest first), then notes the memory a last time.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from latency import Client, _approval, _build, _store, alert_body, wait_idle
from servers import (
    TOKEN,
    BenchError,
    Build,
    Stores,
    Target,
    load_average,
    percentile_ms,
    rss_mb,
    run_bench,
    running,
    wait_ready,
    write_config,
)

PER_WEBHOOK = 50
RSS_TARGET_MB = 200.0
LIST_TARGET_MS = 50.0


@dataclass(slots=True)
class Figures:
    """One build's measurements over every round."""

    idle_mb: list[float] = field(default_factory=list)
    loaded_mb: list[float] = field(default_factory=list)
    after_gets_mb: list[float] = field(default_factory=list)
    gets_s: list[float] = field(default_factory=list)


def webhook(tag: str, first: int, count: int) -> bytes:
    """One webhook carrying ``count`` alerts, each for its own deployment."""
    bodies = [json.loads(alert_body(tag, i)) for i in range(first, first + count)]
    merged = bodies[0]
    merged["alerts"] = [b["alerts"][0] for b in bodies]
    merged["groupKey"] = f'{{}}:{{bench="{tag}-{first}"}}'
    return json.dumps(merged).encode()


async def post(session: aiohttp.ClientSession, target: Target, body: bytes) -> None:
    """POST one webhook; anything but 200 aborts."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with session.post(
        f"{target.base_url}/webhooks/alertmanager", data=body, headers=headers
    ) as r:
        if r.status != 200:
            raise BenchError(f"webhook: HTTP {r.status}: {(await r.text())[:300]}")


async def phase(
    session: aiohttp.ClientSession, target: Target, args: argparse.Namespace
) -> Figures:
    """Open the incidents, wait for every run to park, then measure."""
    await wait_ready(target)
    pid = target.process.pid
    figures = Figures(idle_mb=[rss_mb(pid)])
    client = Client(session, target, secrets.token_hex(3))
    for first in range(0, args.incidents, PER_WEBHOOK):
        await post(
            session, target, webhook(client.tag, first, min(PER_WEBHOOK, args.incidents - first))
        )
    await wait_idle(pid)
    await client.settle(range(args.incidents), lambda run: _approval(run) is not None)
    figures.loaded_mb.append(rss_mb(pid))
    for _ in range(args.gets):
        began = time.perf_counter()
        async with session.get(f"{target.base_url}/api/incidents") as r:
            listing: Any = await r.json()
        figures.gets_s.append(time.perf_counter() - began)
        if len(listing["incidents"]) < args.incidents:
            raise BenchError(f"GET /api/incidents listed {len(listing['incidents'])} incidents")
    figures.after_gets_mb.append(rss_mb(pid))
    return figures


async def measure(
    builds: Sequence[Build], stores: Stores, args: argparse.Namespace, tmpdir: Path
) -> dict[str, Figures]:
    """Every round, every build (order alternating) on a fresh server and store."""
    config = write_config(tmpdir / "medic.yaml")
    results: dict[str, Figures] = {}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for round_no in range(args.rounds):
            order = builds if round_no % 2 == 0 else list(reversed(builds))
            for build in order:
                store = await stores.fresh()
                log_path = tmpdir / f"{build.label}-{round_no}.log"
                print(f"round {round_no + 1}: {build.label}; {load_average()}")
                with running(build, store, config, log_path, args.server_cpu) as target:
                    got = await phase(session, target, args)
                total = results.setdefault(build.label, Figures())
                total.idle_mb += got.idle_mb
                total.loaded_mb += got.loaded_mb
                total.after_gets_mb += got.after_gets_mb
                total.gets_s += got.gets_s
    return results


def report(results: dict[str, Figures], args: argparse.Namespace) -> None:
    """RSS and listing latency per build, with the issue's targets."""
    print(
        f"\nstore={args.stores_label} incidents={args.incidents} gets={args.gets} "
        f"rounds={args.rounds} pinned={args.pinned}"
    )
    print(f"after the run: {load_average()}")
    print(
        f"{'build':<10} {'idle MB':>8} {'open MB':>8} {'after MB':>9}  "
        f"{'list p50':>8} {'p90':>7} {'p99':>7} {'max':>7}  targets"
    )
    for label, f in results.items():
        peak = max(f.loaded_mb + f.after_gets_mb)
        rss_ok = "MET" if peak < RSS_TARGET_MB else "NOT MET"
        list_ok = "MET" if percentile_ms(f.gets_s, 99) < LIST_TARGET_MS else "NOT MET"
        print(
            f"{label:<10} {max(f.idle_mb):>8.1f} {max(f.loaded_mb):>8.1f} "
            f"{max(f.after_gets_mb):>9.1f}  "
            + " ".join(f"{percentile_ms(f.gets_s, p):>7.1f}" for p in (50, 90, 99, 100))
            + f"  RSS < {RSS_TARGET_MB:g} MB: {rss_ok}; list p99 < {LIST_TARGET_MS:g} ms: {list_ok}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--gets", type=int, default=200, help="timed GET /api/incidents")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--store", type=_store, default="sqlite")
    parser.add_argument("--build", type=_build, action="append", help="LABEL=DIR (repeatable)")
    parser.add_argument("--workdir", type=Path, help="keep stores and logs here")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure; 0 when measured (targets met or not), 1 when it could not be."""
    return run_bench(parse_args(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
