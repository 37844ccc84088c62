"""What one new incident costs Medic, build against build: CPU time and SQL statements.

Run from the repository root::

    .venv/bin/python bench/cost.py [--incidents 200] [--rounds 2] [--listings 20]
                                   [--build LABEL=DIR ...]

Wall-clock latency on a shared machine says as much about the neighbours as about the code;
CPU time and statement counts do not. For every round and build (order alternating) a child
process runs Medic in process from that checkout (its working directory first on
``sys.path``, as ``medic serve`` from there would), with the latency bench's configuration on
a fresh SQLite store and the JSON log written to a file, as ``medic serve`` writes it. The
child sends three warm-up incidents, then ``--incidents`` webhooks at once, each opening a
new ``v1-fallback`` incident (``DWCPv3AllReplicasDown``), and waits until every run waits at
its ``approve_restart`` approval (the intake, five steps and an approval request each). It
reports the process's CPU time (all threads) per incident, the SQL statements per incident
by kind (SQLAlchemy's ``before_cursor_execute``, the journal writer's connection included),
and, with ``--listings``, the CPU time of a ``GET /api/incidents`` listing every incident.

The load generator (one aiohttp client in the same process) and the poll for the runs'
progress (one ``SELECT count(*)`` of pending approvals every 50 ms) are in the CPU time too:
a small share, alike for every build (the poll's statements are not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if "--child" in sys.argv:  # measure the checkout this child runs in, not this one
    sys.path.insert(0, os.getcwd())

from servers import TOKEN, Build, load_average, parse_build, write_config

WARMUP = 3
POLL_S = 0.05
POLL = "SELECT count(*) FROM approvals WHERE status = 'pending'"  # not counted


def _body(index: int) -> dict[str, Any]:
    labels = {
        "alertname": "DWCPv3AllReplicasDown",
        "namespace": "bench",
        "deployment": f"dwcp-cost-{index}",
        "severity": "critical",
        "team": "sre",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"bench cost #{index}"},
        "startsAt": "2026-12-03T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"cost-{index}",
    }
    return {
        "version": "4",
        "groupKey": f"cost-{index}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"deployment": labels["deployment"]},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [alert],
    }


def child(incidents: int, listings: int) -> dict[str, Any]:
    """Run in a checkout's directory: measure it, return the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="medic-cost-"))
    os.environ.update(
        {
            "MEDIC_CONFIG": str(write_config(tmp / "medic.yaml")),
            "MEDIC_STORE__URL": f"sqlite:///{tmp / 'medic.db'}",
            "MEDIC_ALERTMANAGER__BEARER_TOKEN": TOKEN,
            "MEDIC_SERVER__API_TOKEN": "bench-cost-api-token",
        }
    )
    # This checkout's modules (its directory is first on sys.path), as ``medic serve``
    # started there would import them.
    from sqlalchemy import event  # noqa: PLC0415
    from sqlalchemy.engine import Engine  # noqa: PLC0415

    from bot.app import build_app  # noqa: PLC0415
    from bot.config import load_settings  # noqa: PLC0415
    from bot.integrations import config_sections  # noqa: PLC0415
    from bot.logging import configure_logging  # noqa: PLC0415

    settings = load_settings(Path(os.environ["MEDIC_CONFIG"]), config_sections())
    log_file = (tmp / "medic.log").open("w")
    configure_logging(settings.secret_values(), stream=log_file, threaded=True)
    counts: collections.Counter[str] = collections.Counter()

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement != POLL:
            counts[" ".join(statement.split()[:3])[:40]] += 1

    event.listen(Engine, "before_cursor_execute", count)  # every engine: pool and writer
    return asyncio.run(_measure(build_app(settings), incidents, listings, counts))


async def _measure(
    app: Any, incidents: int, listings: int, counts: collections.Counter[str]
) -> dict[str, Any]:
    import aiohttp  # noqa: PLC0415
    import sqlalchemy as sa  # noqa: PLC0415
    from aiohttp import web  # noqa: PLC0415

    from bot.runtime import RUNTIME  # noqa: PLC0415

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    db = app[RUNTIME].db
    waiting = sa.text(POLL)

    async def parked() -> int:
        async with db.engine.connect() as conn:
            return int((await conn.execute(waiting)).scalar_one())

    try:
        async with aiohttp.ClientSession() as session:

            async def post(index: int) -> None:
                async with session.post(
                    f"{base}/webhooks/alertmanager",
                    json=_body(index),
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"webhook answered {answer.status}")

            for index in range(-WARMUP, 0):
                await post(index)
            await _until(parked, WARMUP)
            counts.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(post(i) for i in range(incidents)))
            await _until(parked, WARMUP + incidents)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            statements = dict(counts)
            listing_ms = await _listings(session, base, listings)
    finally:
        await runner.cleanup()
    return {
        "cpu_ms": cpu * 1000 / incidents,
        "wall_s": wall,
        "statements": {k: v / incidents for k, v in statements.items()},
        "listing_ms": listing_ms,
    }


async def _until(parked: Any, count: int) -> None:
    """Poll until ``count`` runs wait at their approval (Medic offers no event for it)."""
    while True:
        if await parked() >= count:
            return
        await asyncio.sleep(POLL_S)


async def _listings(session: Any, base: str, listings: int) -> list[float]:
    """CPU ms of each ``GET /api/incidents`` (the whole answer read)."""
    spent: list[float] = []
    for _ in range(listings):
        began = time.process_time()
        async with session.get(
            f"{base}/api/incidents", headers={"Authorization": "Bearer bench-cost-api-token"}
        ) as answer:
            await answer.read()
        spent.append((time.process_time() - began) * 1000)
    return spent


def parent(args: argparse.Namespace) -> int:
    """Every round, every build in a child of its own; then the table."""
    builds: list[Build] = args.build or [parse_build(f"this={Path(__file__).parents[1]}")]
    print(f"builds: {', '.join(f'{b.label}={b.root}' for b in builds)}; {load_average()}")
    results: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for round_no in range(args.rounds):
        order = builds if round_no % 2 == 0 else builds[::-1]
        for build in order:
            done = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    *("--incidents", str(args.incidents), "--listings", str(args.listings)),
                ],
                cwd=build.root,
                env={**os.environ, "PYTHONPATH": str(build.root)},
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"{build.label} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                return 1
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results[build.label].append(figures)
            print(
                f"round {round_no + 1} {build.label}: {figures['cpu_ms']:.1f} ms CPU per "
                f"incident, {sum(figures['statements'].values()):.1f} statements; "
                f"{load_average()}"
            )
    _report(results)
    return 0


def _report(results: dict[str, list[dict[str, Any]]]) -> None:
    print("\nbuild     CPU ms/incident (rounds)      statements/incident   listing CPU ms (median)")
    for label, runs in results.items():
        cpu = ", ".join(f"{r['cpu_ms']:.1f}" for r in runs)
        statements = sum(runs[-1]["statements"].values())
        lists = sorted(ms for r in runs for ms in r["listing_ms"])
        listing = f"{lists[len(lists) // 2]:.1f}" if lists else "-"
        print(f"{label:<9} {cpu:<29} {statements:<21.1f} {listing}")
    for label, runs in results.items():
        print(f"\n{label}: statements per incident by kind (last round)")
        for kind, per in sorted(runs[-1]["statements"].items(), key=lambda kv: -kv[1]):
            if per >= 0.05:
                print(f"  {per:6.2f}  {kind}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--listings", type=int, default=0, help="GET /api/incidents after")
    parser.add_argument(
        "--build", type=parse_build, action="append", help="LABEL=DIR (repeat to compare)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.incidents, args.listings)))
        return 0
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
