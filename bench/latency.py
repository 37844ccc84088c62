"""Latency of Medic's reactions: alert POST → first step start, and decision → next step start.

Run from the repository root::

    .venv/bin/python bench/latency.py [--rates 2,20] [--seconds 15] [--rounds 3]
                                      [--store sqlite|postgresql|postgresql://...]
                                      [--build LABEL=DIR ...]

Each round starts, for every build and every rate, a fresh ``medic serve`` (embedded
defaults: dry run, the shipped catalogues; rate limits raised so they never trip; the
decision API on for one approver) on a fresh store, then:

1. **Alert → first step.** Sends ``rate * seconds`` Alertmanager webhooks open loop, one
   every ``1/rate`` s whatever the answers, each one ``DWCPv3AllReplicasDown`` alert for
   its own deployment: each opens a new incident whose ``v1-fallback`` run starts with
   ``scale_v1`` (a write step, no approval). The figure is that step's ``started_at`` in
   the store (read back through ``GET /api/incidents/{id}``) minus the wall-clock time the
   bench sent the POST.
2. **Decision → next step.** Once every run waits at ``approve_restart``, approves
   ``--decisions`` of them through ``POST /api/approvals/{id}`` at ``--decision-rate``
   per second; the figure is ``restart_v3``'s ``started_at`` minus the send time.

``started_at`` is stamped by the engine as it opens the transaction that commits the step
as running (the audit event ``step.running`` carries the same time); the commit follows
within milliseconds. Server and bench read the same wall clock.

Builds and their order alternate from round to round, so every build meets the same
machine. The machine load (``uptime``'s averages) is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from servers import (
    API_TOKEN,
    APPROVER,
    TOKEN,
    BenchError,
    Build,
    Stores,
    Target,
    cpu_seconds,
    load_average,
    parse_build,
    percentile_ms,
    run_bench,
    running,
    wait_ready,
    write_config,
)

PLAYBOOK = "v1-fallback"
FIRST_STEP = "scale_v1"
APPROVAL_STEP = "approve_restart"
NEXT_STEP = "restart_v3"
TARGET_MS = {2.0: 50.0, 20.0: 100.0}  # alert → first step, p99, by rate (README's targets)
DECISION_TARGET_MS = 50.0
SETTLE_TIMEOUT_S = 180.0
POLL_S = 0.5
IDLE_WINDOW_S = 0.5
WARMUP = 3


@dataclass(slots=True)
class Figures:
    """Latencies (seconds) of one build at one rate, over every round."""

    first_step: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    decision: list[float] = field(default_factory=list)
    p99_by_round: list[float] = field(default_factory=list)
    cpu_ms_per_incident: list[float] = field(default_factory=list)
    sending_cpu: list[float] = field(default_factory=list)


def alert_body(tag: str, index: int) -> bytes:
    """One webhook with one firing ``DWCPv3AllReplicasDown`` for deployment ``index``."""
    deployment = f"dwcp-{tag}-{index}"
    labels = {
        "alertname": "DWCPv3AllReplicasDown",
        "namespace": "bench",
        "deployment": deployment,
        "severity": "critical",
        "team": "sre",  # the shipped v1-fallback matches the SRE team's DWCP alerts
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"bench latency {tag} #{index}"},
        "startsAt": datetime.now().astimezone().isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"{tag}-{index}",
    }
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{deployment="{deployment}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"deployment": deployment},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [alert],
    }
    return json.dumps(body).encode()


async def open_loop(
    rate: float, count: int, send: Any, name: str
) -> tuple[dict[int, float], list[float]]:
    """Call ``send(i)`` for ``i < count``, one every ``1/rate`` s whatever the answers;
    returns each call's wall-clock send time and each answer's latency."""
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}
    answers: list[float] = []
    start = loop.time()

    async def one(i: int) -> None:
        sent[i] = time.time()
        began = time.perf_counter()
        await send(i)
        answers.append(time.perf_counter() - began)

    try:
        async with asyncio.TaskGroup() as group:
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
                group.create_task(one(i), name=f"{name}-{i}")
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None
    return sent, answers


class Client:
    """The bench's side of one Medic server."""

    def __init__(self, session: aiohttp.ClientSession, target: Target, tag: str) -> None:
        self.session = session
        self.target = target
        self.tag = tag

    async def post_alert(self, index: int) -> None:
        """POST one alert; anything but 200 accepted=1 aborts."""
        url = f"{self.target.base_url}/webhooks/alertmanager"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        async with self.session.post(url, data=alert_body(self.tag, index), headers=headers) as r:
            text = await r.text()
        if r.status != 200 or json.loads(text).get("accepted") != 1:
            raise BenchError(f"alert {index}: HTTP {r.status}: {text[:300]}")

    async def approve(self, approval: str) -> None:
        """Approve through the decision API as the configured approver."""
        url = f"{self.target.base_url}/api/approvals/{approval}"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        body = {"decision": "approve", "user": APPROVER}
        async with self.session.post(url, json=body, headers=headers) as r:
            text = await r.text()
        if r.status != 200:
            raise BenchError(f"approve {approval}: HTTP {r.status}: {text[:300]}")

    async def incidents(self) -> dict[int, str]:
        """This phase's incidents: alert index → incident id."""
        async with self.session.get(f"{self.target.base_url}/api/incidents") as r:
            listing: Any = await r.json()
        prefix = f"bench latency {self.tag} #"
        return {
            int(i["title"].removeprefix(prefix)): i["id"]
            for i in listing["incidents"]
            if i["title"].startswith(prefix)
        }

    async def run_of(self, incident: str) -> dict[str, Any] | None:
        """The incident's ``v1-fallback`` run, as the API shows it."""
        async with self.session.get(f"{self.target.base_url}/api/incidents/{incident}") as r:
            detail: Any = await r.json()
        runs = [run for run in detail["runs"] if run["playbook"] == PLAYBOOK]
        return runs[0] if runs else None

    async def settle(self, indices: Sequence[int], ready: Any) -> dict[int, dict[str, Any]]:
        """Poll until ``ready(run)`` holds for the run of every alert in ``indices``."""
        done: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            ids = await self.incidents()
            for index in indices:
                if index in done or index not in ids:
                    continue
                run = await self.run_of(ids[index])
                if run is not None and ready(run):
                    done[index] = run
            if len(done) == len(indices):
                return done
            await asyncio.sleep(POLL_S)
        raise BenchError(f"{len(indices) - len(done)} runs not settled in {SETTLE_TIMEOUT_S}s")


async def wait_idle(pid: int) -> None:
    """Wait until Medic used under 5 % of a CPU for half a second: its work is done
    (the API then confirms it), without asking it anything meanwhile."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(IDLE_WINDOW_S)
        now = cpu_seconds(pid)
        if now - last < IDLE_WINDOW_S * 0.05:
            return
        last = now


def _step(run: dict[str, Any], step_id: str) -> dict[str, Any] | None:
    return next((s for s in run["steps"] if s["id"] == step_id), None)


def _started(run: dict[str, Any], step_id: str) -> float | None:
    step = _step(run, step_id)
    if step is None or step["started_at"] is None:
        return None
    return datetime.fromisoformat(step["started_at"]).timestamp()


def _approval(run: dict[str, Any]) -> str | None:
    pending = [a for a in run["approvals"] if a["step"] == APPROVAL_STEP]
    return pending[0]["id"] if pending and pending[0]["status"] == "pending" else None


async def phase(
    session: aiohttp.ClientSession, target: Target, rate: float, args: argparse.Namespace
) -> Figures:
    """Both measurements against one fresh server at one rate."""
    await wait_ready(target)
    warm = Client(session, target, f"w{secrets.token_hex(3)}")
    await asyncio.gather(*(warm.post_alert(i) for i in range(WARMUP)))
    await warm.settle(range(WARMUP), lambda run: _approval(run) is not None)
    client = Client(session, target, secrets.token_hex(3))
    count = max(1, round(rate * args.seconds))
    pid = target.process.pid
    cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
    sent, acks = await open_loop(rate, count, client.post_alert, "alert")
    cpu_sending = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
    await wait_idle(pid)
    cpu_total = cpu_seconds(pid) - cpu_before
    runs = await client.settle(range(count), lambda run: _approval(run) is not None)
    figures = Figures(
        ack=acks, cpu_ms_per_incident=[cpu_total * 1000 / count], sending_cpu=[cpu_sending]
    )
    for index, run in runs.items():
        started = _started(run, FIRST_STEP)
        if started is None:
            raise BenchError(f"alert {index}: {FIRST_STEP} never started: {run}")
        figures.first_step.append(started - sent[index])
    figures.p99_by_round.append(percentile_ms(figures.first_step, 99))
    chosen = sorted(runs)[: args.decisions]
    approvals = {i: _approval(runs[i]) or "" for i in chosen}
    decided, _ = await open_loop(
        args.decision_rate,
        len(chosen),
        lambda n: client.approve(approvals[chosen[n]]),
        "decision",
    )
    after = await client.settle(chosen, lambda run: _started(run, NEXT_STEP) is not None)
    for n, index in enumerate(chosen):
        figures.decision.append((_started(after[index], NEXT_STEP) or 0.0) - decided[n])
    return figures


async def measure(
    builds: Sequence[Build], stores: Stores, args: argparse.Namespace, tmpdir: Path
) -> dict[tuple[str, float], Figures]:
    """Every round: every build (order alternating) at every rate, each on a fresh server."""
    config = write_config(tmpdir / "medic.yaml")
    results: dict[tuple[str, float], Figures] = {}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        for round_no in range(args.rounds):
            order = builds if round_no % 2 == 0 else list(reversed(builds))
            for build in order:
                for rate in args.rates:
                    store = await stores.fresh()
                    log_path = tmpdir / f"{build.label}-{round_no}-{rate:g}.log"
                    print(f"round {round_no + 1}: {build.label} at {rate:g}/s; {load_average()}")
                    profile = (
                        None
                        if args.profile is None
                        else args.profile / f"{build.label}-{round_no}-{rate:g}.txt"
                    )
                    with running(
                        build, store, config, log_path, args.server_cpu, profile=profile
                    ) as target:
                        got = await phase(session, target, rate, args)
                    total = results.setdefault((build.label, rate), Figures())
                    total.first_step += got.first_step
                    total.ack += got.ack
                    total.decision += got.decision
                    total.p99_by_round += got.p99_by_round
                    total.cpu_ms_per_incident += got.cpu_ms_per_incident
                    total.sending_cpu += got.sending_cpu
    return results


def _row(values: Sequence[float]) -> str:
    return " ".join(f"{percentile_ms(values, p):>7.1f}" for p in (50, 90, 99, 100))


def report(results: dict[tuple[str, float], Figures], args: argparse.Namespace) -> None:
    """The percentiles per build and rate, with the issue's targets."""
    print(f"\nstore={args.stores_label} rounds={args.rounds} pinned={args.pinned}")
    print(f"after the run: {load_average()}")
    print("\nalert POST -> first step start (ms)")
    header = f"{'build':<10} {'rate/s':>6} {'n':>5} {'ack p50':>8} {'ack p99':>8}"
    print(f"{header} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  target p99  per-round p99")
    for (label, rate), f in results.items():
        target = TARGET_MS.get(rate)
        verdict = "" if target is None else f"< {target:g}: "
        if target is not None:
            verdict += "MET" if percentile_ms(f.first_step, 99) < target else "NOT MET"
        rounds = " ".join(f"{x:.0f}" for x in f.p99_by_round)
        print(
            f"{label:<10} {rate:>6g} {len(f.first_step):>5} {percentile_ms(f.ack, 50):>8.1f} "
            f"{percentile_ms(f.ack, 99):>8.1f} {_row(f.first_step)}  {verdict:<11} {rounds}"
        )
    print("\nMedic's CPU (user+system, all threads) per round")
    for (label, rate), f in results.items():
        per = " ".join(f"{x:.1f}" for x in f.cpu_ms_per_incident)
        busy = " ".join(f"{x * 100:.0f}%" for x in f.sending_cpu)
        print(f"{label:<10} {rate:>6g}/s  ms per incident: {per}; busy while sending: {busy}")
    print(f"\ndecision (POST /api/approvals at {args.decision_rate:g}/s) -> next step start (ms)")
    columns = " ".join(f"{c:>7}" for c in ("p50", "p90", "p99", "max"))
    print(f"{'build':<10} {'rate/s':>6} {'n':>5} {columns}  target")
    for (label, rate), f in results.items():
        met = "MET" if percentile_ms(f.decision, 99) < DECISION_TARGET_MS else "NOT MET"
        print(
            f"{label:<10} {rate:>6g} {len(f.decision):>5} {_row(f.decision)}  "
            f"< {DECISION_TARGET_MS:g}: {met}"
        )


def _rates(text: str) -> list[float]:
    rates = [float(x) for x in text.split(",") if x.strip()]
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError("comma-separated positive rates, e.g. 2,20")
    return rates


def _store(text: str) -> str:
    if text in ("sqlite", "postgresql") or text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError("sqlite, postgresql or a postgresql:// URL")


def _build(text: str) -> Build:
    try:
        return parse_build(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", type=_rates, default=[2.0, 20.0], help="new incidents/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="sending time per phase")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--decisions", type=int, default=30, help="approvals per phase")
    parser.add_argument("--decision-rate", type=float, default=5.0, help="approvals/s")
    parser.add_argument("--store", type=_store, default="sqlite")
    parser.add_argument(
        "--build",
        type=_build,
        action="append",
        help="LABEL=DIR of a Medic checkout to measure (repeatable; default: this one)",
    )
    parser.add_argument(
        "--profile", type=Path, help="directory for py-spy profiles of every server (raw)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep stores and server logs here (default: a temp dir)"
    )
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure; 0 when measured (targets met or not), 1 when it could not be."""
    return run_bench(parse_args(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
