"""Several real ``medic serve`` replicas on one PostgreSQL store, and what tests send them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from medickit import AM_TOKEN, API_TOKEN, NO_PLAYBOOKS, bearer

REPLICA_PLAYBOOKS = Path(__file__).parent / "data" / "playbooks-replicas"
LEASE_S = 1.5  # short leases, so takeover tests wait seconds, not the default 15 s


def replica_env(playbooks: Path = NO_PLAYBOOKS, **more: str) -> dict[str, str]:
    """What every replica of a test shares: API token, approvers and admins, a short lease."""
    return {
        "MEDIC_PLAYBOOKS__DIRS": json.dumps([str(playbooks)]),
        "MEDIC_SERVER__API_TOKEN": API_TOKEN,
        "MEDIC_SLACK__APPROVERS": '["U1", "U2"]',
        "MEDIC_SLACK__ADMINS": '["U1"]',
        "MEDIC_STORE__LEASE_SECONDS": str(LEASE_S),
        **more,
    }


def replica(tmp_path: Path, name: str, store_url: str, env: dict[str, str]) -> MedicProcess:
    """One replica (not started), logging to ``tmp_path/name``."""
    return MedicProcess(tmp_path / name, store_url=store_url, bearer_token=AM_TOKEN, extra_env=env)


@contextmanager
def replicas(
    tmp_path: Path, store_url: str, count: int, env: dict[str, str]
) -> Iterator[list[MedicProcess]]:
    """``count`` replicas started on ``store_url``; all stopped on exit."""
    with ExitStack() as stack:
        started = [
            stack.enter_context(replica(tmp_path, f"replica-{i}", store_url, env).start())
            for i in range(count)
        ]
        yield started


def post_round_robin(servers: Sequence[MedicProcess], payloads: Sequence[Any]) -> list[int]:
    """POST every payload to ``/webhooks/alertmanager``, the i-th to server i mod n, twelve
    at a time; the answers' statuses in order."""

    def send(indexed: tuple[int, Any]) -> int:
        index, payload = indexed
        url = f"{servers[index % len(servers)].url}/webhooks/alertmanager"
        return post_json(url, payload, bearer())[0]

    with ThreadPoolExecutor(12) as pool:
        return list(pool.map(send, enumerate(payloads)))


def settled_incidents(servers: Sequence[MedicProcess]) -> list[dict[str, Any]]:
    """The incident list once every replica has taken what it acknowledged (each reader
    waits for its own replica's writes), read from the last replica."""
    listing: list[dict[str, Any]] = []
    for server in servers:
        listing = get_json(f"{server.url}/api/incidents")["incidents"]
    return listing


def api_post(server: MedicProcess, path: str, body: Any) -> tuple[int, Any]:
    """POST to Medic's API with the bridge token."""
    return post_json(f"{server.url}{path}", body, {"Authorization": f"Bearer {API_TOKEN}"})


def incident(server: MedicProcess, incident_id: str) -> dict[str, Any]:
    """``GET /api/incidents/<id>``."""
    found: dict[str, Any] = get_json(f"{server.url}/api/incidents/{incident_id}")
    return found
