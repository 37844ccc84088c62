"""Build the aiohttp application: routes, middleware and the runtime's lifecycle."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from aiohttp import web

import bot.engine.builtin_actions  # noqa: F401 -- declares actions at import, off the loop
import responders.installed  # noqa: F401 -- declares actions at import, off the loop
from bot.actions import ActionRegistry
from bot.api.decisions import decide_approval, pause, resume, start_run
from bot.api.incidents import get_incident, get_incidents
from bot.api.ops import healthz, metrics, readyz
from bot.api.report import get_graph, get_report
from bot.config import Settings
from bot.engine.approvals import ApprovalHub, ApprovalService
from bot.engine.clock import Clock, SystemClock
from bot.engine.cluster import ClusterView, UnknownCluster
from bot.engine.deps import EngineDeps
from bot.engine.directory import GroupDirectory, NoGroups
from bot.engine.events import IncidentChange, IncidentChangeKind
from bot.engine.pause import PauseSwitch
from bot.engine.runner import RunManager
from bot.engine.silences import SILENCE_POLL_S, SilenceWatch, alertmanager_clients
from bot.engine.worker import IntakeWorker
from bot.http.middleware import json_errors, request_context
from bot.ingress.alertmanager import alertmanager_webhook
from bot.ingress.committer import AlertCommitter
from bot.ingress.pagerduty import pagerduty_webhook
from bot.metrics import Metrics
from bot.narrator import ConsoleNarrator, NarrationDispatcher, Narrator
from bot.playbooks.loader import configured_dirs, load_playbooks
from bot.playbooks.playbook import PlaybookSet
from bot.runtime import RUNTIME, Runtime
from bot.slack.directory import SlackGroupDirectory
from bot.slack.inbound import SLACK, slack_events
from bot.slack.mount import mount_slack
from bot.slack.socket_mode import SlackSocket
from bot.slack.sync import SlackTiming
from bot.store import Database
from bot.store.sqlite_lock import SqliteReplicaLock
from bot.store.switches import install_id
from responders.kubernetes.client import KubernetesClient
from responders.kubernetes.cluster import KubernetesCluster
from responders.pagerduty.client import PagerDutyClient
from responders.slack.client import SlackClient


@dataclass(frozen=True, slots=True)
class AppOptions:
    """What a test or an embedding program may swap in; defaults are production's."""

    narrators: Sequence[Narrator] | None = None
    clock: Clock = field(default_factory=SystemClock)
    playbooks: PlaybookSet | None = None
    registry: ActionRegistry | None = None
    cluster: ClusterView | None = None
    directory: GroupDirectory | None = None
    tls: ssl.SSLContext | None = None
    slack_timing: SlackTiming = field(default_factory=SlackTiming)
    silence_poll_s: float = SILENCE_POLL_S


def build_app(
    settings: Settings,
    *,
    narrators: Sequence[Narrator] | None = None,
    clock: Clock | None = None,
    playbooks: PlaybookSet | None = None,
    registry: ActionRegistry | None = None,
    cluster: ClusterView | None = None,
    directory: GroupDirectory | None = None,
    tls: ssl.SSLContext | None = None,
    slack_timing: SlackTiming | None = None,
    silence_poll_s: float = SILENCE_POLL_S,
) -> web.Application:
    """The whole HTTP surface of DESIGN §3 for ``settings``.

    ``playbooks`` defaults to those of ``playbooks.dirs`` (or the shipped catalogue);
    ``registry`` to every action Medic ships (extensions may add their own);
    ``silence_poll_s`` is how often Alertmanager is asked about alerts Medic silenced.
    """
    options = AppOptions(
        narrators=narrators,
        clock=clock or SystemClock(),
        playbooks=playbooks,
        registry=registry,
        cluster=cluster,
        directory=directory,
        tls=tls,
        slack_timing=slack_timing or SlackTiming(),
        silence_poll_s=silence_poll_s,
    )
    app = web.Application(
        middlewares=[request_context, json_errors],
        client_max_size=settings.server.max_body_bytes,
    )
    app.cleanup_ctx.append(_runtime_ctx(settings, options))
    app.router.add_post("/webhooks/alertmanager", alertmanager_webhook)
    app.router.add_post("/webhooks/pagerduty", pagerduty_webhook)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/api/incidents", get_incidents)
    app.router.add_get("/api/incidents/{incident_id}", get_incident)
    app.router.add_get("/api/incidents/{incident_id}/report", get_report)
    app.router.add_get("/api/incidents/{incident_id}/graph.png", get_graph)
    app.router.add_post("/api/incidents/{incident_id}/runs", start_run)
    app.router.add_post("/api/approvals/{approval_id}", decide_approval)
    app.router.add_post("/api/pause", pause)
    app.router.add_post("/api/resume", resume)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def _runtime_ctx(
    settings: Settings, options: AppOptions
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        registry = options.registry or ActionRegistry.default()
        loaded = options.playbooks
        if loaded is None:
            dirs = configured_dirs(settings.playbooks.dirs)
            loaded = await asyncio.to_thread(load_playbooks, dirs, registry)
        sqlite_lock = await SqliteReplicaLock.take(settings.store.url)
        clients = await _clients(settings, options.tls, options.slack_timing)
        db = Database(settings.store.url)
        http = aiohttp.ClientSession()
        try:
            await db.create_schema()
            runtime, services = await _start(
                app, settings, options, loaded, registry, clients, db, http
            )
            yield
            for service in reversed(services):
                await service.stop()
            await runtime.committer.stop()
            await runtime.caught_up()
            await runtime.intake.stop()
            await runtime.runs.stop()
            await runtime.background.close()
            await runtime.narration.stop()
        finally:
            await _close_clients(clients)
            await http.close()
            await db.close()
            if sqlite_lock is not None:
                await sqlite_lock.release()

    return runtime_ctx


class _Service(Protocol):
    async def stop(self) -> None: ...


async def _start(
    app: web.Application,
    settings: Settings,
    options: AppOptions,
    playbooks: PlaybookSet,
    registry: ActionRegistry,
    clients: dict[str, object],
    db: Database,
    http: aiohttp.ClientSession,
) -> tuple[Runtime, list[_Service]]:
    """Start the engine and the services around it; the runtime and what to stop first."""
    clock = options.clock
    metrics = Metrics()
    narration = NarrationDispatcher(
        list(options.narrators) if options.narrators is not None else [ConsoleNarrator()]
    )
    async with db.begin() as conn:
        install = await install_id(conn, clock.now())
    switch = PauseSwitch(db, clock, configured=settings.safety.paused)
    await switch.load()
    hub = ApprovalHub()
    clients = clients | alertmanager_clients(settings, http, db, clock)
    slack_client = clients.get("slack")
    deps = EngineDeps(
        db=db,
        settings=settings,
        playbooks=playbooks,
        registry=registry,
        clock=clock,
        narration=narration,
        hub=hub,
        pause=switch,
        http=http,
        cluster=options.cluster or _cluster_view(clients),
        install=install,
        clients=clients,
        slots=asyncio.Semaphore(settings.safety.max_concurrent_runs),
    )
    runs = RunManager(deps)

    def changed(changes: Sequence[IncidentChange]) -> None:
        opened = sum(1 for c in changes if c.kind is IncidentChangeKind.OPENED)
        metrics.incidents_opened.inc(opened)
        narration.publish(changes)

    intake = IntakeWorker(
        db, changed, clock=clock.now, playbooks=playbooks, on_runs=runs.take, install=install
    )
    committer = AlertCommitter(db, lambda _last_id: intake.wake(), clock=clock.now)
    await narration.start()
    await runs.start()
    await intake.start()
    await committer.start()
    directory = _directory(options.directory, slack_client, options.slack_timing)
    runtime = Runtime(
        settings=settings,
        db=db,
        committer=committer,
        intake=intake,
        runs=runs,
        approvals=ApprovalService(db, settings, hub, narration, clock, directory),
        pause=switch,
        playbooks=playbooks,
        narration=narration,
        metrics=metrics,
        background=deps.background,
        engine=deps,
        clock=clock,
        http=http,
    )
    app[RUNTIME] = runtime
    services: list[_Service] = []
    watch = SilenceWatch.of(deps, committer.submit, options.silence_poll_s)
    await watch.start()
    services.append(watch)
    if isinstance(slack_client, SlackClient):
        slack_sync = mount_slack(app, runtime, slack_client, clock, options.slack_timing)
        await slack_sync.start()
        services.append(slack_sync)
        if settings.slack.app_token is not None:
            socket = SlackSocket(app[SLACK].bolt, settings.slack.app_token.get_secret_value())
            await socket.start()
            services.append(socket)
    return runtime, services


def _directory(
    given: GroupDirectory | None, slack_client: object, timing: SlackTiming
) -> GroupDirectory:
    """The directory for ``slack.approver_groups``: the one given, else Slack's when enabled."""
    if given is not None:
        return given
    if isinstance(slack_client, SlackClient):
        return SlackGroupDirectory(slack_client, timing.group_cache_s)
    return NoGroups()


async def _clients(
    settings: Settings, tls: ssl.SSLContext | None, slack_timing: SlackTiming
) -> dict[str, object]:
    """One shared client per enabled integration that has a built responder."""
    clients: dict[str, object] = {}
    if settings.pagerduty.enabled:
        clients["pagerduty"] = PagerDutyClient(settings.pagerduty, tls=tls)
    if settings.slack.enabled:
        clients["slack"] = SlackClient(
            settings.slack,
            post_interval=slack_timing.post_interval_s,
            timeout=slack_timing.call_timeout_s,
        )
    if settings.kubernetes.mode != "disabled":
        clients["kubernetes"] = await KubernetesClient.connect(settings.kubernetes)
    return clients


def _cluster_view(clients: dict[str, object]) -> ClusterView:
    """The cluster's node counts when Kubernetes is enabled, else unknown."""
    client = clients.get("kubernetes")
    if isinstance(client, KubernetesClient):
        return KubernetesCluster(client)
    return UnknownCluster()


async def _close_clients(clients: dict[str, object]) -> None:
    for client in clients.values():
        if isinstance(client, PagerDutyClient | SlackClient | KubernetesClient):
            await client.close()
