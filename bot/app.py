"""Build the aiohttp application: routes, middleware and the runtime's lifecycle."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bot.actions import ActionRegistry
from bot.actions.cluster import ClusterView, UnknownCluster
from bot.actions.hooks import INBOX, HookContext, Service
from bot.actions.integration import ClientSetup, Integration
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.engine.approvals.directory import GroupDirectory
from bot.engine.approvals.hub import ApprovalHub, ApprovalService
from bot.engine.deps import EngineDeps
from bot.engine.intake.worker import IntakeWorker
from bot.engine.integrations.desk import StoreDesk
from bot.engine.integrations.hooks import IntegrationHooks
from bot.engine.replicas.lease import Replica
from bot.engine.replicas.peers import PeerWatch
from bot.engine.runs.background import BackgroundTasks
from bot.engine.runs.manager import RunManager
from bot.engine.runs.slots import SharedSlots, run_slots
from bot.engine.safety.pause import PauseSwitch
from bot.events import IncidentChange, IncidentChangeKind
from bot.http.body import release_bodies
from bot.http.limits import REQUEST_LIMITS, RequestLimits
from bot.http.middleware import json_errors, request_context
from bot.ingress.inbox import RuntimeInbox
from bot.ingress.kafka import KafkaAlertSource
from bot.integrations import action_registry, installed_integrations
from bot.metrics import Metrics, MetricsNarrator
from bot.models import Alert
from bot.narrator import NarrationDispatcher, Narrator, terminal_narration
from bot.playbooks.loader import load_configured
from bot.playbooks.playbook import PlaybookSet
from bot.routes import add_routes, integration_endpoints
from bot.runtime import CATCH_UP_S, RUNTIME, Runtime
from bot.slack.frontend import client_tuning, group_directory, slack_delivery, start_slack
from bot.slack.narrator import SlackNarrator
from bot.slack.sync import SlackTiming
from bot.store import Database
from bot.store.committer import AlertCommitter
from bot.store.sqlite_lock import SqliteReplicaLock
from bot.store.switches import install_id

installed_integrations()  # reads package metadata once, before any event loop runs


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
    tuning: Mapping[str, float] = field(default_factory=dict)
    integrations: Sequence[Integration] = ()
    catch_up_s: float = CATCH_UP_S


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
    tuning: Mapping[str, float] | None = None,
    integrations: Sequence[Integration] | None = None,
    catch_up_s: float = CATCH_UP_S,
) -> web.Application:
    """The whole HTTP surface for ``settings``.

    ``playbooks`` defaults to those of ``playbooks.dirs`` (or the shipped catalogue);
    ``integrations`` to the installed ones; ``registry`` to Medic's own actions and theirs;
    ``tuning`` sets integrations' knobs by name (e.g. ``alertmanager.silence_poll_s``);
    ``catch_up_s`` how long reads wait for intake to take what was acknowledged.
    """
    chosen = installed_integrations() if integrations is None else tuple(integrations)
    options = AppOptions(
        narrators=narrators,
        clock=clock or SystemClock(),
        playbooks=playbooks,
        registry=registry or action_registry(chosen),
        cluster=cluster,
        directory=directory,
        tls=tls,
        slack_timing=slack_timing or SlackTiming(),
        tuning=dict(tuning or {}),
        integrations=chosen,
        catch_up_s=catch_up_s,
    )
    app = web.Application(
        middlewares=[request_context, json_errors, release_bodies],
        client_max_size=settings.server.max_body_bytes,
    )
    app[REQUEST_LIMITS] = RequestLimits.of(settings)
    app.cleanup_ctx.append(_runtime_ctx(settings, options))
    add_routes(app, extra=integration_endpoints(chosen))
    return app


def _runtime_ctx(
    settings: Settings, options: AppOptions
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        registry = options.registry or action_registry(options.integrations)
        loaded = options.playbooks
        if loaded is None:
            loaded = await asyncio.to_thread(load_configured, settings.playbooks, registry)
        async with AsyncExitStack() as stack:
            sqlite_lock = await SqliteReplicaLock.take(settings.store.url)
            if sqlite_lock is not None:
                stack.push_async_callback(sqlite_lock.release)
            http = await stack.enter_async_context(aiohttp.ClientSession())
            db = Database(settings.store.url)
            stack.push_async_callback(db.close)
            await db.create_schema()
            async with db.begin() as conn:
                install = await install_id(conn, options.clock.now())
            desk = StoreDesk(db, options.clock, install)
            clients = await _open_clients(stack, settings, options, http, desk)
            runtime, services = await _start(
                app, settings, options, loaded, registry, clients, db, http, desk
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

    return runtime_ctx


async def _start(
    app: web.Application,
    settings: Settings,
    options: AppOptions,
    playbooks: PlaybookSet,
    registry: ActionRegistry,
    clients: dict[str, object],
    db: Database,
    http: aiohttp.ClientSession,
    desk: StoreDesk,
) -> tuple[Runtime, list[Service]]:
    """Start the engine and the services around it; the runtime and what to stop first."""
    clock = options.clock
    switch = PauseSwitch(db, clock, configured=settings.safety.paused)
    await switch.load()
    replica = Replica(db, settings.store.lease_seconds)
    slack = slack_delivery(
        clients,
        db=db,
        settings=settings,
        playbooks=playbooks,
        pause=switch,
        clock=clock,
        http=http,
        timing=options.slack_timing,
        replica=replica,
    )
    metrics = Metrics(slack_failures=None if slack is None else lambda: slack.failed_deliveries)
    if options.narrators is not None:
        narration = NarrationDispatcher(list(options.narrators))
    else:
        narrators, log_events = terminal_narration()
        narration = NarrationDispatcher(narrators, log_events=log_events)
    narration.add(MetricsNarrator(metrics))
    if slack is not None:
        narration.add(SlackNarrator(slack))
    hub = ApprovalHub(shown=None if slack is None else slack.approval_shown)
    intake: IntakeWorker | None = None

    def journaled(rows: Mapping[int, Alert]) -> None:
        if intake is not None:
            intake.journaled(rows)

    committer = AlertCommitter(db, journaled, clock=clock.now)
    background = BackgroundTasks()
    hooks = IntegrationHooks(
        options.integrations,
        {
            integration.name: HookContext(
                config=integration.section(settings),
                client=clients.get(integration.name),
                desk=desk,
                settings=settings,
                submit=committer.submit,
                tuning=options.tuning,
            )
            for integration in options.integrations
            if integration.is_enabled(settings)
        },
        background,
    )
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
        cluster=options.cluster or _cluster_view(options.integrations, clients),
        install=desk.install,
        clients=clients,
        enabled=frozenset(i.name for i in options.integrations if i.is_enabled(settings)),
        background=background,
        hooks=hooks,
        slots=run_slots(db, replica, settings.safety.max_concurrent_runs),
        metrics=metrics,
        incident_channel=None if slack is None else slack.channel_of,
    )
    runs = RunManager(deps, replica)

    def changed(changes: Sequence[IncidentChange]) -> None:
        opened = sum(1 for c in changes if c.kind is IncidentChangeKind.OPENED)
        metrics.incidents_opened.inc(opened)
        narration.publish(changes)

    intake = IntakeWorker(
        db,
        changed,
        clock=clock.now,
        playbooks=playbooks,
        on_runs=runs.take,
        install=desk.install,
        mappers=hooks.mappers(),
    )
    await narration.start()
    await runs.start()
    await intake.start()
    await committer.start()
    directory = group_directory(options.directory, clients, options.slack_timing)
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
        catch_up_s=options.catch_up_s,
    )
    app[RUNTIME] = runtime
    app[INBOX] = RuntimeInbox(runtime)
    services = await _shared_store_services(runtime, hub)
    for service in hooks.services():
        await service.start()
        services.append(service)
    services += await start_slack(app, runtime, clients, slack)
    return runtime, services


async def _shared_store_services(runtime: Runtime, hub: ApprovalHub) -> list[Service]:
    """What keeps a replica in step with the others (pause, decisions, intake, run slots,
    runs handed back) and, when ``kafka.alert_topics`` is set, the Kafka alert source; all
    started."""
    slots = runtime.engine.slots
    peers = PeerWatch(
        runtime.db,
        runtime.pause,
        hub,
        on_intake=runtime.intake.barrier.progressed,
        on_slot_freed=slots.freed if isinstance(slots, SharedSlots) else lambda: None,
        on_runs_handed_back=runtime.runs.adopt_orphans,
    )
    services: list[Service] = [peers]
    if runtime.settings.kafka.alert_topics:
        services.append(
            KafkaAlertSource(runtime.settings.kafka, runtime.committer, runtime.metrics)
        )
    for service in services:
        await service.start()
    return services


async def _open_clients(
    stack: AsyncExitStack,
    settings: Settings,
    options: AppOptions,
    http: aiohttp.ClientSession,
    desk: StoreDesk,
) -> dict[str, object]:
    """One shared client per enabled integration that has one, closed by ``stack``."""
    tuning = {**client_tuning(options.slack_timing), **options.tuning}
    clients: dict[str, object] = {}
    for integration in options.integrations:
        if integration.client is None or not integration.is_enabled(settings):
            continue
        section = integration.section(settings)
        if section is None:
            continue
        setup = ClientSetup(section, settings, http, tls=options.tls, tuning=tuning, desk=desk)
        clients[integration.name] = await stack.enter_async_context(integration.client(setup))
    return clients


def _cluster_view(integrations: Sequence[Integration], clients: dict[str, object]) -> ClusterView:
    """The node counts of the first open integration client that provides them, else
    unknown (the guard cannot trip)."""
    for integration in integrations:
        client = clients.get(integration.name)
        if integration.cluster_view is not None and client is not None:
            view = integration.cluster_view(client)
            if view is not None:
                return view
    return UnknownCluster()
