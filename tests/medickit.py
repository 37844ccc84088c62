"""Helpers for tests that run a real Medic: the test tokens, settings for a store, the
``start_medic`` fixture's type, fresh PostgreSQL databases and the test server."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from bot.config import Settings
from bot.http.server import GuardedAppRunner
from bot.integrations import config_sections

from harness.postgres import PostgresServer

AM_TOKEN = "am-token-5f1b0c9e"
API_TOKEN = "api-token-77c2d4aa"

StartMedic = Callable[..., Awaitable[TestClient[Any, Any]]]
"""The ``start_medic`` fixture: ``await start_medic(settings, ...)`` gives a client of a
running Medic."""


_database_counter = iter(range(1, 1_000_000))


def fresh_database(server: PostgresServer) -> str:
    """A new empty database on ``server``; returns its URL."""
    name = f"medic_t{next(_database_counter)}"
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "postgres",
            "-q",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        check=True,
        capture_output=True,
    )
    return server.url.rsplit("/", 1)[0] + f"/{name}"


NO_PLAYBOOKS = Path(__file__).parent / "data" / "no-playbooks"


def make_settings(store_url: str, **sections: dict[str, Any]) -> Settings:
    """Settings for a test: the given store, the test bearer token, no playbooks (no shipped
    catalogue; alerts group by Alertmanager's groupKey) unless ``playbooks`` says
    otherwise, overrides per section (an integration's section validated by its model)."""
    values: dict[str, Any] = {
        "store": {"url": store_url},
        "alertmanager": {"bearer_token": AM_TOKEN},
        "playbooks": {"catalogues": [], "dirs": [str(NO_PLAYBOOKS)]},
    }
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    installed = config_sections()
    plugin = {
        name: installed[name].model_validate(values.pop(name))
        for name in list(values)
        if name not in Settings.model_fields and name in installed
    }
    return Settings(**values).with_sections(plugin)


class MedicTestServer(TestServer):
    """aiohttp's test server running the app on Medic's own server (connection cap, header
    timeout, JSON framing errors), as ``medic serve`` does."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return GuardedAppRunner(self.app, **kwargs)


def bearer(token: str = AM_TOKEN) -> dict[str, str]:
    """The Authorization header Alertmanager sends."""
    return {"Authorization": f"Bearer {token}"}
