"""``medic demo``: a throwaway Medic replays the DWCP sample alerts end to end, in seconds.

Embedded defaults only (no config file, no ``MEDIC_*`` environment), a store in a fresh temp
directory, the real aiohttp server on a free 127.0.0.1 port and the shipped catalogue. The
samples of ``bot/samples`` go through ``POST /webhooks/alertmanager``; every pending approval
is approved through ``POST /api/approvals/{id}`` as ``demo-alice`` (and ``demo-bob`` when
four eyes need a second approver; vetoes too, so nobody waits for their window); the console
narrator tells the story on stdout. Once every run is final, resolved samples show
incidents resolving, and a summary table ends the demo.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiohttp import web
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.app import build_app
from bot.config import Settings
from bot.http.server import GuardedAppRunner
from bot.logging import configure_logging
from bot.narrator import ConsoleNarrator

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
# Replayed once every run is final: SLA availability recovering leaves its incident open
# (the latency alert of the same deployment still fires); the Byzantine node's detection
# stopping resolves its incident.
RESOLUTIONS = ("sla-availability-violation.resolved.json", "byzantine-node-detected.resolved.json")
APPROVERS = ("demo-alice", "demo-bob")
FINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "aborted", "skipped", "interrupted"})
POLL_S = 0.1
EXIT_OK = 0
EXIT_TIMEOUT = 1
_TITLE_WIDTH = 48


class _EmbeddedSettings(Settings):
    """Settings from the given values and the embedded defaults: the environment is ignored,
    so a ``MEDIC_STORE__URL`` or ``MEDIC_SLACK__ENABLED`` meant for production never leaks in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in."""
        return (init_settings,)


@dataclass(frozen=True, slots=True)
class DemoSetup:
    """The demo's settings and the clear-text secrets its client needs."""

    settings: Settings
    store_dir: Path
    api_token: str
    am_token: str


def demo_setup(store_dir: Path) -> DemoSetup:
    """Embedded defaults with a store in ``store_dir``, a free port, random tokens and the
    demo approvers; ``playbooks.dirs`` stays empty, so the shipped catalogue is used."""
    api_token, am_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    settings = _EmbeddedSettings(
        server={"host": "127.0.0.1", "port": 0, "api_token": api_token},
        store={"url": f"sqlite:///{store_dir / 'medic.db'}"},
        slack={"approvers": list(APPROVERS), "admins": [APPROVERS[0]]},
        alertmanager={"bearer_token": am_token},
    )
    return DemoSetup(settings, store_dir, api_token, am_token)


def firing_samples(directory: Path) -> list[Path]:
    """The firing samples, sorted: not ``*.resolved.json``, not the ``real-am-*`` captures."""
    return sorted(
        path
        for path in directory.glob("*.json")
        if not path.name.endswith(".resolved.json") and not path.name.startswith("real-am-")
    )


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """How the replay ended: every run final or not, and the incidents as the API shows them."""

    finished: bool
    details: list[dict[str, Any]]


class Console:
    """The demo's own lines, written from a worker thread (never blocking the event loop)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    async def say(self, text: str) -> None:
        """Write one line."""
        await asyncio.to_thread(self._write, f"demo: {text}\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


class DemoClient:
    """Medic's HTTP API, used exactly as an outside tool would."""

    def __init__(self, session: aiohttp.ClientSession, setup: DemoSetup, console: Console) -> None:
        self._session = session
        self._setup = setup
        self._console = console

    async def send_sample(self, path: Path) -> None:
        """POST one sample to the Alertmanager webhook, as Alertmanager would."""
        body = await asyncio.to_thread(path.read_bytes)
        headers = {
            "Authorization": f"Bearer {self._setup.am_token}",
            "Content-Type": "application/json",
        }
        async with self._session.post("/webhooks/alertmanager", data=body, headers=headers) as rsp:
            answer = await rsp.json()
        await self._console.say(f"sent {path.name} → {rsp.status} {answer}")

    async def details(self) -> list[dict[str, Any]]:
        """Every incident's detail, oldest first."""
        async with self._session.get("/api/incidents") as rsp:
            rsp.raise_for_status()
            listing = await rsp.json()
        found = []
        for incident in reversed(listing["incidents"]):
            async with self._session.get(f"/api/incidents/{incident['id']}") as rsp:
                rsp.raise_for_status()
                found.append(await rsp.json())
        return found

    async def approve(self, approval_id: str, user: str) -> str | None:
        """Approve as ``user``; the approval's status afterwards, or None when refused."""
        headers = {"Authorization": f"Bearer {self._setup.api_token}"}
        body = {"decision": "approve", "user": user}
        url = f"/api/approvals/{approval_id}"
        async with self._session.post(url, json=body, headers=headers) as rsp:
            answer = await rsp.json()
        if rsp.status != 200:
            await self._console.say(f"{user} could not approve {approval_id}: {answer}")
            return None
        status: str = answer["approval"]["status"]
        return status


@dataclass
class Approver:
    """Approve every pending approval: demo-alice first, demo-bob when a second is needed."""

    client: DemoClient
    asked: dict[str, set[str]] = field(default_factory=dict)

    async def approve_pending(self, details: Iterable[dict[str, Any]]) -> None:
        """One pass over the pending approvals of ``details``."""
        for detail in details:
            for run in detail["runs"]:
                for approval in run["approvals"]:
                    if approval["status"] == "pending":
                        await self._approve(approval["id"])

    async def _approve(self, approval_id: str) -> None:
        asked = self.asked.setdefault(approval_id, set())
        for user in APPROVERS:
            if user in asked:
                continue
            asked.add(user)
            if await self.client.approve(approval_id, user) != "pending":
                return


def all_final(details: Iterable[dict[str, Any]]) -> bool:
    """Every run of every incident is final."""
    return all(run["status"] in FINAL_RUN_STATUSES for d in details for run in d["runs"])


async def settle(client: DemoClient, approver: Approver, deadline: float) -> bool:
    """Poll and approve until every run is final (True) or ``deadline`` passes (False)."""
    loop = asyncio.get_running_loop()
    while True:
        details = await client.details()
        if all_final(details):
            return True
        await approver.approve_pending(details)
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_S)


async def drive(client: DemoClient, console: Console, wait_s: float) -> DemoOutcome:
    """Send the firing samples one by one, each once the previous one's runs are final
    (so each story reads in one piece), approving as they ask; then send the resolutions.
    At most ``wait_s`` seconds in all."""
    deadline = asyncio.get_running_loop().time() + wait_s
    approver = Approver(client)
    for path in await asyncio.to_thread(firing_samples, SAMPLES_DIR):
        await client.send_sample(path)
        if not await settle(client, approver, deadline):
            await console.say(f"timed out after {wait_s:g} s with runs unfinished")
            return DemoOutcome(finished=False, details=await client.details())
    await console.say("every run is final; now some alerts resolve")
    for name in RESOLUTIONS:
        await client.send_sample(SAMPLES_DIR / name)
    return DemoOutcome(finished=True, details=await client.details())


async def replay(setup: DemoSetup, wait_s: float, out: TextIO) -> DemoOutcome:
    """Run the real app on 127.0.0.1 (free port) and drive it through its HTTP API."""
    app = build_app(setup.settings, narrators=[ConsoleNarrator(out)])
    runner = GuardedAppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, setup.settings.server.host, setup.settings.server.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        console = Console(out)
        await console.say(f"Medic listening on http://{host}:{port} (store {setup.store_dir})")
        async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as session:
            return await drive(DemoClient(session, setup, console), console, wait_s)
    finally:
        await runner.cleanup()


def summary_table(details: Iterable[dict[str, Any]]) -> str:
    """One line per incident: id, severity, status, title and each run with its status."""
    lines = [f"{'INCIDENT':<9} {'SEV':<4} {'STATUS':<12} {'TITLE':<{_TITLE_WIDTH}} RUNS"]
    for detail in details:
        incident = detail["incident"]
        title = incident["title"]
        if len(title) > _TITLE_WIDTH:
            title = title[: _TITLE_WIDTH - 1] + "…"
        runs = ", ".join(f"{r['id']} {r['playbook']}: {r['status']}" for r in detail["runs"])
        lines.append(
            f"{incident['id']:<9} {incident['severity']:<4} {incident['status']:<12} "
            f"{title:<{_TITLE_WIDTH}} {runs or '(no playbook)'}"
        )
    return "\n".join(lines) + "\n"


def run_demo(timeout: float, *, keep: bool, out: TextIO | None = None) -> int:
    """``medic demo``: 0 when every run finished within ``timeout`` seconds, else 1."""
    stream = out if out is not None else sys.stdout
    store_dir = Path(tempfile.mkdtemp(prefix="medic-demo-"))
    setup = demo_setup(store_dir)
    configure_logging(setup.settings.secret_values(), level=logging.WARNING)
    started = time.monotonic()
    try:
        outcome = asyncio.run(replay(setup, timeout, stream))
    finally:
        if not keep:
            shutil.rmtree(store_dir, ignore_errors=True)
    elapsed = time.monotonic() - started
    kept = f"store kept at {store_dir / 'medic.db'}" if keep else "store deleted"
    stream.write(f"\nSummary ({elapsed:.1f} s, {kept}):\n{summary_table(outcome.details)}")
    stream.flush()
    return EXIT_OK if outcome.finished else EXIT_TIMEOUT
