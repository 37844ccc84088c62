"""Shared fixtures: a real Medic app on a real store (SQLite or PostgreSQL), no mocks. The
helpers tests import live in kit modules (``medickit``, ``slackkit``, …), not here."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from blockbuster import BlockBuster, blockbuster_ctx

from bot.actions import ActionRegistry
from bot.app import build_app
from bot.clock import Clock
from bot.config import Settings
from bot.logging import configure_logging
from bot.narrator import ConsoleNarrator
from bot.runtime import CATCH_UP_S
from responders.alertmanager.watch import SILENCE_POLL, SILENCE_POLL_S

from harness.kafka import TansuBroker
from harness.postgres import PostgresServer
from medickit import AM_TOKEN, API_TOKEN, MedicTestServer, StartMedic, fresh_database

pytest_plugins = [
    "harness.kube_fixtures",
    "slackkit",
    "evidencekit",
    "pagerdutykit",  # before cataloguekit, which imports it
    "cataloguekit",
    "consolekit",
    "pluginkit",
]


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test whose code makes a blocking call on the event loop."""
    with blockbuster_ctx(["bot", "responders"]) as bb:
        # SQLAlchemy's SQLite dialect resolves the file name once per engine (a getcwd, no I/O).
        bb.functions["os.path.abspath"].can_block_in(
            "sqlalchemy/dialects/sqlite/pysqlite.py", "create_connect_args"
        )
        # asyncpg looks for ~/.pgpass and client certificates when it opens a pooled
        # connection without a password: a stat per new connection, upstream behaviour.
        for function in bb.functions.values():
            function.can_block_in(
                "asyncpg/connect_utils.py",
                {"_read_password_file", "_parse_connect_dsn_and_args", "_dot_postgresql_path"},
            )
            # The Kubernetes client loads its kubeconfig in a worker thread (asyncio.to_thread)
            # that runs the library's async loader on a private event loop of its own.
            function.can_block_in("responders/kubernetes/client.py", "_load_configuration")
            # Its config section checks that the kubeconfig file exists (a stat) when built.
            function.can_block_in("responders/kubernetes/config.py", "_kubeconfig_exists")
        yield bb


@pytest.fixture
def log_stream() -> io.StringIO:
    """Everything Medic logs during the test, as JSON lines."""
    stream = io.StringIO()
    configure_logging([AM_TOKEN, API_TOKEN], stream=stream, level=logging.DEBUG)
    return stream


@pytest.fixture
def narration() -> io.StringIO:
    """What the console narrator printed."""
    return io.StringIO()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the session (Debian's package)."""
    with PostgresServer().start(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One real Kafka-protocol broker (Tansu, in memory) for the session; tests use their
    own topic and group names."""
    with TansuBroker().start(tmp_path_factory.mktemp("tansu")) as broker:
        yield broker


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both store backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'medic.db'}"
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new empty PostgreSQL database for this test."""
    return fresh_database(postgres)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite store in the test's tmp dir."""
    return f"sqlite:///{tmp_path / 'medic.db'}"


@pytest.fixture
async def start_medic(log_stream: io.StringIO, narration: io.StringIO) -> AsyncIterator[StartMedic]:
    """Start a real Medic app (``await start_medic(settings)``); stopped after the test.

    ``port`` fixes the listening port (a server started first can be told where Medic is);
    ``silence_poll_s`` is how often Medic asks Alertmanager about alerts it silenced;
    ``catch_up_s`` how long reads wait for intake (``X-Medic-Partial`` after that)."""
    clients: list[TestClient[Any, Any]] = []

    async def start(
        settings: Settings,
        *,
        clock: Clock | None = None,
        narrators: Sequence[Any] = (),
        registry: ActionRegistry | None = None,
        cluster: Any = None,
        directory: Any = None,
        tls: Any = None,
        slack_timing: Any = None,
        port: int | None = None,
        silence_poll_s: float = SILENCE_POLL_S,
        catch_up_s: float = CATCH_UP_S,
    ) -> TestClient[Any, Any]:
        app = build_app(
            settings,
            narrators=[ConsoleNarrator(narration), *narrators],
            clock=clock,
            registry=registry,
            cluster=cluster,
            directory=directory,
            tls=tls,
            slack_timing=slack_timing,
            tuning={SILENCE_POLL: silence_poll_s},
            catch_up_s=catch_up_s,
        )

        client = TestClient(MedicTestServer(app, port=port))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """An HTTP server that accepts requests and never answers (for timeouts)."""
    from aiohttp import web  # noqa: PLC0415 -- only this fixture needs the server side

    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/")
    never.set()
    await server.close()
