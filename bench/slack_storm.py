"""Slack narration under an alert storm: Slack Web API calls per channel per second.

Run from the repository root::

    .venv/bin/python bench/slack_storm.py [--alerts 10000] [--batch 1000]

Medic runs as a subprocess (``python -m bot serve``, fresh SQLite store, Slack enabled)
against the tests' fake Slack Web API (``tests/fakes/slack.py``), which enforces Slack's
1 ``chat.postMessage`` per second per channel with 429 + Retry-After and records every
call. The storm is ``--alerts`` firing alerts of one Alertmanager group, sent in batches of
``--batch``. The run ends once the pinned status message counts every alert; it then
reports the channels created, the calls per method, the posts per channel, the largest
number of posts to one channel within any second, and the 429s Slack had to answer.
A storm that opens more than one channel or trips Slack's limit exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from ingest import TOKEN, BenchError, Target, log_tail, start_medic, stop, wait_ready

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakes.slack import BOT_TOKEN, FakeSlack  # noqa: E402 -- the tests' fake, from tests/

DONE_TIMEOUT_S = 300.0
POLL_S = 0.2


def storm_payload(batch: int, size: int) -> dict[str, object]:
    """One Alertmanager notification of ``size`` firing alerts of group ``Storm``."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "Storm", "severity": "warning", "shard": f"{batch}-{n}"},
            "annotations": {"summary": "storm"},
            "startsAt": "2026-11-24T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": f"storm-{batch}-{n}",
        }
        for n in range(size)
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="Storm"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"alertname": "Storm"},
        "commonLabels": {"alertname": "Storm"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": alerts,
    }


async def storm(target: Target, fake: FakeSlack, alerts: int, batch: int) -> float:
    """Send the storm; return the seconds until the status message counted every alert."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for number, first in enumerate(range(0, alerts, batch)):
            size = min(batch, alerts - first)
            async with session.post(
                f"{target.base_url}/webhooks/alertmanager",
                json=storm_payload(number, size),
                headers=headers,
            ) as response:
                if response.status != 200:
                    raise BenchError(f"webhook answered {response.status}: {await response.text()}")
    wanted = f"{alerts} alert(s)"
    deadline = started + DONE_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(wanted in str(m.blocks) for c in fake.channels.values() for m in c.messages[:1]):
            return time.monotonic() - started
        await asyncio.sleep(POLL_S)
    raise BenchError(f"the status message never counted {alerts} alerts")


def report(fake: FakeSlack, alerts: int, seconds: float) -> int:
    """Print the figures; 1 when Slack's limits were broken."""
    methods = Counter(c.method for c in fake.calls)
    limited = sum(1 for c in fake.calls if c.status == 429)
    print(f"storm: {alerts} alerts in one group, status complete after {seconds:.1f} s")
    print(f"channels created: {len(fake.channels)}")
    for channel_id, posts in fake.posts_per_channel().items():
        peak = fake.max_posts_per_second(channel_id)
        rate = posts / seconds if seconds else 0.0
        print(
            f"channel {fake.channels[channel_id].name}: {posts} posts "
            f"({rate:.2f}/s on average), at most {peak} in any second"
        )
    print("calls: " + ", ".join(f"{m} {n}" for m, n in sorted(methods.items())))
    print(f"429 answers: {limited}")
    broken = (
        len(fake.channels) != 1
        or limited > 0
        or any(fake.max_posts_per_second(c) > 1 for c in fake.posts_per_channel())
    )
    return 1 if broken else 0


async def run(args: argparse.Namespace) -> int:
    """Start the fake and Medic, storm, report."""
    fake = FakeSlack(bot_token=BOT_TOKEN, post_interval_s=1.0)
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "medic.log"
        with log_path.open("wb") as log:
            target = start_medic(
                f"sqlite:///{tmp}/medic.db",
                log,
                log_path,
                {
                    "MEDIC_SLACK__ENABLED": "true",
                    "MEDIC_SLACK__API_URL": fake.url,
                    "MEDIC_SLACK__BOT_TOKEN": BOT_TOKEN,
                    "MEDIC_SLACK__SIGNING_SECRET": "bench-signing-secret",
                },
            )
            try:
                await wait_ready(target)
                seconds = await storm(target, fake, args.alerts, args.batch)
                return report(fake, args.alerts, seconds)
            except BenchError as err:
                print(f"error: {err}\n{log_tail(log_path)}", file=sys.stderr)
                return 1
            finally:
                stop(target.process)
                await fake.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
