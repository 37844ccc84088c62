"""Read-your-writes with several replicas writing at once: a read on any replica waits until
every alert acknowledged (by any replica) before it began is in its incident, however the
journal's ids commit; an answer that could not wait says so (``X-Medic-Partial``)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.store import Database
from bot.store.locks import INTAKE

from harness.http import TIMEOUT, post_json
from harness.medic import MedicProcess
from medickit import bearer
from payloads import am_alert, am_payload
from replicakit import replica_env, replicas

WRITERS = 6
WRITES_EACH = 8


def _alert(name: str) -> dict[str, Any]:
    return am_payload(am_alert(f"fp-{name}", alertname=name), group_key=f"{{}}:{{{name}}}")


def _post(server: MedicProcess, name: str) -> int:
    return post_json(f"{server.url}/webhooks/alertmanager", _alert(name), bearer())[0]


def _read(server: MedicProcess) -> tuple[set[str], bool]:
    """The incident titles ``GET /api/incidents`` lists, and whether it says partial."""
    with urllib.request.urlopen(f"{server.url}/api/incidents", timeout=TIMEOUT) as resp:  # noqa: S310  # our own server
        partial = resp.headers.get("X-Medic-Partial") == "true"
        body = json.loads(resp.read())
    return {i["title"] for i in body["incidents"]}, partial


def _seen(titles: set[str], name: str) -> bool:
    return any(name in title for title in titles)


async def _read_while_intake_is_held(url: str, a: MedicProcess, b: MedicProcess) -> Any:
    """Hold the intake lock, write through A, read through B; release it once B's read has
    been waiting a second; B's answer."""
    db = Database(url)
    async with db.connect() as holder:
        await holder.execute(sa.select(sa.func.pg_advisory_lock(INTAKE)))
        await holder.commit()
        assert await asyncio.to_thread(_post, a, "WrittenThroughA") == 200
        read = asyncio.create_task(asyncio.to_thread(_read, b))
        done, _ = await asyncio.wait([read], timeout=1.0)
        assert not done, f"B answered before the alert was taken: {read.result()}"
        await holder.execute(sa.select(sa.func.pg_advisory_unlock(INTAKE)))
        await holder.commit()
        answer = await read
    await db.close()
    return answer


def test_a_read_on_one_replica_waits_for_a_write_acknowledged_by_another(
    postgres_url: str, tmp_path: Path
) -> None:
    """While no replica's intake can run (the test holds its lock), an alert acknowledged by
    A is not yet in an incident: a list read on B waits instead of answering without it;
    once intake runs again, B answers with the incident and without the partial header."""
    with replicas(tmp_path, postgres_url, 2, replica_env()) as (a, b):
        titles, partial = asyncio.run(_read_while_intake_is_held(postgres_url, a, b))
    assert (_seen(titles, "WrittenThroughA"), partial) == (True, False)


def test_concurrent_writers_on_two_replicas_each_read_their_own_writes(
    postgres_url: str, tmp_path: Path
) -> None:
    """Six clients write at once through two replicas (ids commit out of order across
    them); after each acknowledged write the client reads the list, from the same replica
    or from the other: every complete answer (no ``X-Medic-Partial``) holds the incident
    it just opened."""
    with replicas(tmp_path, postgres_url, 2, replica_env()) as servers:

        def client(writer: int) -> list[str]:
            missed = []
            for i in range(WRITES_EACH):
                name = f"Client{writer}Write{i}"
                assert _post(servers[(writer + i) % 2], name) == 200
                titles, partial = _read(servers[(writer + i // 2) % 2])  # same, then other
                if not partial and not _seen(titles, name):
                    missed.append(name)
            return missed

        with ThreadPoolExecutor(WRITERS) as pool:
            missed = [name for names in pool.map(client, range(WRITERS)) for name in names]
    assert missed == []
