"""Helpers for engine tests: a narrator that records (and lets tests wait for) events,
test playbooks written to a directory, the decision API, and a served Medic's webhook and
store file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.actions import (
    ActionKind,
    ActionParams,
    ActionRegistry,
    ActionSpec,
    StepContext,
    StepResult,
)
from bot.events import ApprovalEvent, IncidentChange, RunEvent, StepEvent
from bot.integrations import action_registry

from harness.http import post_json
from harness.medic import MedicProcess
from medickit import AM_TOKEN, API_TOKEN

WAIT_S = 20.0


class RecordingNarrator:
    """A narration target (like a chat) that keeps every event it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def _add(self, kind: str, event: Any) -> None:
        async with self._changed:
            self.events.append((kind, event))
            self._changed.notify_all()

    async def incident_changed(self, change: IncidentChange) -> None:
        """Record."""
        await self._add("incident", change)

    async def step_started(self, event: StepEvent) -> None:
        """Record."""
        await self._add("step_started", event)

    async def step_finished(self, event: StepEvent) -> None:
        """Record."""
        await self._add("step_finished", event)

    async def approval_requested(self, event: ApprovalEvent) -> None:
        """Record."""
        await self._add("approval_requested", event)

    async def approval_decided(self, event: ApprovalEvent) -> None:
        """Record."""
        await self._add("approval_decided", event)

    async def run_finished(self, event: RunEvent) -> None:
        """Record."""
        await self._add("run_finished", event)

    def of(self, kind: str) -> list[Any]:
        """Events of one kind."""
        return [e for k, e in self.events if k == kind]

    async def wait_for(self, kind: str, predicate: Callable[[Any], bool] = lambda _e: True) -> Any:
        """The first event of ``kind`` matching ``predicate``, waiting (bounded) for it."""
        async with asyncio.timeout(WAIT_S), self._changed:
            while True:
                for event in self.of(kind):
                    if predicate(event):
                        return event
                await self._changed.wait()

    async def run_end(self, run_id: str, status: str | None = None) -> RunEvent:
        """Wait for ``run_id`` to reach a final (or the given) status."""
        final = {"succeeded", "failed", "aborted", "skipped", "interrupted"}
        event: RunEvent = await self.wait_for(
            "run_finished",
            lambda e: e.run_id == run_id and (e.status == status if status else e.status in final),
        )
        return event


def write_playbooks(directory: Path, **playbooks: str) -> Path:
    """Write each YAML text as ``<name>.yaml``; return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in playbooks.items():
        (directory / f"{name.replace('_', '-')}.yaml").write_text(text)
    return directory


def api(token: str = API_TOKEN) -> dict[str, str]:
    """The decision API's Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def decide(client: TestClient[Any, Any], approval: str, user: str, decision: str) -> Any:
    """POST /api/approvals/{id}; returns (status, body)."""
    response = await client.post(
        f"/api/approvals/{approval}", json={"decision": decision, "user": user}, headers=api()
    )
    return response.status, await response.json()


async def detail(client: TestClient[Any, Any], incident: str = "INC-1") -> Any:
    """GET /api/incidents/{id}."""
    return await (await client.get(f"/api/incidents/{incident}")).json()


def post_alertmanager(medic: MedicProcess, body: dict[str, Any]) -> None:
    """Deliver one Alertmanager notification to a served Medic; it must be accepted."""
    status, answer = post_json(
        f"{medic.url}/webhooks/alertmanager", body, {"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert status == 200, answer


def store_file(medic: MedicProcess) -> Path:
    """The SQLite file behind a served Medic."""
    return Path(medic.store_url.removeprefix("sqlite:///"))


class HoldParams(ActionParams):
    """``test.hold``: a write step of the tests' own that lasts until the test opens
    ``HOLD_GATE["release"]`` (create a fresh event in each test)."""

    name: str


HOLD_GATE: dict[str, asyncio.Event] = {}


async def hold(ctx: StepContext, params: HoldParams) -> StepResult:
    """Last until the test opens the gate."""
    await HOLD_GATE["release"].wait()
    return StepResult(output={"held": params.name})


HOLD_REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.hold", ActionKind.WRITE, HoldParams, hold, None, None),
    ]
)
