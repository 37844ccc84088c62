"""A randomized proof of the safety model (issue 13): hypothesis drives the real engine and
store (SQLite and PostgreSQL) through alerts firing and resolving, approvals by authorized,
unauthorized and repeated users (personal API tokens and the bridge token), pause and
resume, limit-tripping bursts, manual runs, and crashes (Medic stopped mid-step and started
again on the same store), and after every step checks that:

- no ``write`` step started while the pause was on;
- no guarded ``write`` step started without a four-eyes approval by two distinct
  authorized users;
- the limit was never exceeded, counting every attempt (consented ones aside);
- no step's effect happened twice, across crashes too;
- nothing was escalated after its incident resolved.

CI runs a few examples (``MEDIC_SAFETY_EXAMPLES``, default 6, and
``MEDIC_SAFETY_STEPS``, default 12 rules per example); set them higher to search longer.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import bot.engine.runner
from bot.actions import ActionKind, ActionParams, ActionRegistry, ActionSpec, StepContext
from bot.actions import StepResult as Result
from bot.app import build_app
from bot.clock import ManualClock
from bot.errors import PermanentError
from bot.integrations import action_registry
from bot.narrator import ConsoleNarrator
from bot.store import Database
from bot.store.schema import approval_decisions, approvals, audit_events, runs, steps

from conftest import AM_TOKEN, API_TOKEN, fresh_database, make_settings
from enginekit import write_playbooks
from harness.waiting import eventually
from payloads import BASE_TIME, am_alert, am_payload

EXAMPLES = int(os.environ.get("MEDIC_SAFETY_EXAMPLES", "6"))
STEPS = int(os.environ.get("MEDIC_SAFETY_STEPS", "12"))
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TOKENS = {"U1": "token-of-u1-personal", "U2": "token-of-u2-personal", "U3": "token-of-u3-x"}
APPROVERS = ["U1", "U2"]
LIMIT = 2
TARGETS = ["a", "b", "c"]


class GatedParams(ActionParams):
    """The test actions' parameters."""

    name: str


class World:
    """What the test actions did, and the gate they wait at (a step in flight)."""

    def __init__(self) -> None:
        self.effects: Counter[tuple[str, str]] = Counter()
        self.blocked: set[tuple[str, str]] = set()
        self.gate = asyncio.Event()

    def reset(self) -> None:
        """A new example: nothing happened yet."""
        self.effects.clear()
        self.blocked.clear()
        self.gate = asyncio.Event()

    async def wait_gate(self, ctx: StepContext) -> None:
        key = (ctx.run_id, ctx.step_id)
        self.blocked.add(key)
        try:
            await self.gate.wait()
        finally:
            self.blocked.discard(key)


WORLD = World()


async def effect(ctx: StepContext, params: GatedParams) -> Result:
    """``test.effect`` (write): acts on the world, then stays in flight until released."""
    WORLD.effects[(ctx.run_id, ctx.step_id)] += 1
    await WORLD.wait_gate(ctx)
    return Result(output={"changed": params.name}, dry_run=ctx.dry_run)


async def tell(ctx: StepContext, params: GatedParams) -> Result:
    """``test.tell`` (notify): tells someone, then stays in flight until released."""
    WORLD.effects[(ctx.run_id, ctx.step_id)] += 1
    await WORLD.wait_gate(ctx)
    return Result(output={"told": params.name})


async def check(ctx: StepContext, params: GatedParams) -> Result:
    """``test.check`` (read): waits until released, then fails (a failed verification)."""
    await WORLD.wait_gate(ctx)
    raise PermanentError(f"{params.name} did not recover")


REGISTRY = ActionRegistry(
    [
        *action_registry(),
        ActionSpec("test.effect", ActionKind.WRITE, GatedParams, effect, None, None),
        ActionSpec("test.tell", ActionKind.NOTIFY, GatedParams, tell, None, None),
        ActionSpec("test.check", ActionKind.READ, GatedParams, check, None, None),
    ]
)
GUARDED = """
name: guarded
match: ['alertname="Guarded"']
group_by: [n]
target: "guarded/{{ labels.n }}"
steps:
  - id: tell
    uses: test.tell
    with: {name: "{{ labels.n }}"}
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h, four_eyes: true}
  - id: change
    uses: test.effect
    with: {name: "{{ labels.n }}"}
"""
PLAIN = """
name: plain
match: ['alertname="Plain"']
group_by: [n]
target: "plain/{{ labels.n }}"
steps:
  - id: change
    uses: test.effect
    with: {name: "{{ labels.n }}"}
  - id: verify
    uses: test.check
    with: {name: "{{ labels.n }}"}
    on_failure: escalate
"""


class SafetyMachine(RuleBasedStateMachine):
    """Medic on one store, driven through its HTTP API; crashes restart it on the store."""

    store_url: str = ""
    tmp: Path = Path()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client: TestClient[Any, Any] | None = None
        self.fired = 0
        WORLD.reset()
        self.db = Database(self.store_url)
        self.loop.run_until_complete(self._start())

    def _settings(self) -> Any:
        return make_settings(
            self.store_url,
            playbooks={
                "dirs": [str(write_playbooks(self.tmp / "pb", guarded=GUARDED, plain=PLAIN))]
            },
            server={"api_token": API_TOKEN, "api_users": TOKENS},
            slack={"approvers": APPROVERS, "admins": ["U1"]},
            safety={"limits": {"test.effect": {"max": LIMIT, "per": "1h"}}},
        )

    async def _start(self) -> None:
        app = build_app(
            self._settings(),
            narrators=[ConsoleNarrator(io.StringIO())],
            clock=ManualClock(START),
            registry=REGISTRY,
        )
        self.client = TestClient(TestServer(app))
        await self.client.start_server()

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _post(self, path: str, body: Any, token: str = AM_TOKEN) -> int:
        assert self.client is not None
        response = await self.client.post(
            path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        await response.read()
        return response.status

    async def _settle(self) -> None:
        """Wait until every run waits on something outside Medic (a human, the pause, the
        gate) or has ended."""
        assert self.client is not None
        await (await self.client.get("/api/incidents")).read()  # the engine caught up

        async def quiet() -> bool:
            async with self.db.connect() as conn:
                busy = (
                    await conn.execute(
                        sa.select(runs.c.seq).where(runs.c.status.in_(["pending", "running"]))
                    )
                ).all()
            blocked = {run for run, _ in WORLD.blocked}
            return all(f"RUN-{seq}" in blocked for (seq,) in busy)

        await eventually(quiet, 30, "the engine to settle")

    # --- rules ------------------------------------------------------------------------------

    @rule(playbook=st.sampled_from(["Guarded", "Plain"]), where=st.sampled_from(TARGETS))
    def fire(self, playbook: str, where: str) -> None:
        """An alert fires (a new incident or one already open)."""
        self.fired += 1
        alert = am_alert(f"{playbook}-{where}", alertname=playbook, n=where)
        assert self._run(self._post("/webhooks/alertmanager", am_payload(alert))) == 200
        self._run(self._settle())

    @rule(playbook=st.sampled_from(["Guarded", "Plain"]), where=st.sampled_from(TARGETS))
    def resolve(self, playbook: str, where: str) -> None:
        """The alert resolves (its incident resolves; runs in flight stop)."""
        alert = am_alert(
            f"{playbook}-{where}",
            alertname=playbook,
            n=where,
            status="resolved",
            ends_at=BASE_TIME,
        )
        assert self._run(self._post("/webhooks/alertmanager", am_payload(alert))) == 200
        self._run(self._settle())

    @rule(
        user=st.sampled_from(["U1", "U2", "U3"]),
        decision=st.sampled_from(["approve", "approve", "reject"]),
        via=st.sampled_from(["personal", "bridge", "posing"]),
        pick=st.integers(min_value=0, max_value=5),
    )
    def decide(self, user: str, decision: str, via: str, pick: int) -> None:
        """Someone decides on a pending approval: with their own token, through the bridge,
        or with their token while naming someone else."""
        pending = self._run(self._pending_approvals())
        if not pending:
            return
        approval = pending[pick % len(pending)]
        body: dict[str, str] = {"decision": decision}
        token = TOKENS[user]
        if via == "bridge":
            body["user"], token = user, API_TOKEN
        elif via == "posing":
            body["user"] = "U2" if user != "U2" else "U1"
        status = self._run(self._post(f"/api/approvals/APR-{approval}", body, token))
        assert status in {200, 403, 409}
        if via == "posing":
            assert status == 403
        self._run(self._settle())

    @rule()
    def pause(self) -> None:
        """An admin pauses."""
        assert self._run(self._post("/api/pause", {"reason": "freeze"}, TOKENS["U1"])) == 200
        self._run(self._settle())

    @rule()
    def resume(self) -> None:
        """An admin resumes."""
        assert self._run(self._post("/api/resume", {}, TOKENS["U1"])) == 200
        self._run(self._settle())

    @rule()
    def release(self) -> None:
        """Steps in flight finish (writes and notices succeed, checks fail)."""
        gate, WORLD.gate = WORLD.gate, asyncio.Event()
        gate.set()
        self._run(self._settle())

    @rule(where=st.sampled_from(TARGETS))
    def manual_run(self, where: str) -> None:
        """A human starts the plain playbook on an open incident."""
        incident = self._run(self._open_incident())
        if incident is None:
            return
        body = {"playbook": "plain", "params": {"n": where}}
        assert self._run(self._post(f"/api/incidents/{incident}/runs", body, TOKENS["U1"])) in {
            201,
            404,
        }
        self._run(self._settle())

    @rule()
    def crash(self) -> None:
        """Medic stops mid-step (no grace: whatever was in flight is cut off) and starts
        again on the same store."""
        assert self.client is not None
        self._run(self.client.close())
        self._run(self._start())
        self._run(self._settle())

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def safety_holds(self) -> None:
        """Every promise of the safety model, read from the store."""
        self._run(self._check())
        assert all(count == 1 for count in WORLD.effects.values()), WORLD.effects

    async def _check(self) -> None:
        async with self.db.connect() as conn:
            events = (
                (await conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)))
                .mappings()
                .all()
            )
            step_rows = (await conn.execute(sa.select(steps))).mappings().all()
            run_rows = {r["seq"]: r for r in (await conn.execute(sa.select(runs))).mappings()}
            approval_rows = (await conn.execute(sa.select(approvals))).mappings().all()
            decisions = (await conn.execute(sa.select(approval_decisions))).mappings().all()
        _no_write_while_paused(events)
        _guarded_writes_had_four_eyes(step_rows, run_rows, approval_rows, decisions)
        _limit_held(step_rows, approval_rows)
        _no_escalation_after_resolution(events)

    async def _pending_approvals(self) -> list[int]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                sa.select(approvals.c.seq).where(approvals.c.status == "pending")
            )
            return [seq for (seq,) in rows]

    async def _open_incident(self) -> str | None:
        async with self.db.connect() as conn:
            found = await conn.execute(
                sa.text("SELECT seq FROM incidents WHERE status != 'resolved' ORDER BY seq")
            )
            first = found.first()
        return None if first is None else f"INC-{first[0]}"

    def teardown(self) -> None:
        """Stop Medic and close the loop."""
        if self.client is not None:
            self._run(self.client.close())
        self._run(self.db.close())
        self.loop.close()


def _no_write_while_paused(events: list[Any]) -> None:
    paused = False
    for event in events:
        if event["incident_seq"] is None and event["kind"] == "safety.paused":
            paused = True
        elif event["incident_seq"] is None and event["kind"] == "safety.resumed":
            paused = False
        elif event["kind"] == "step.running" and event["detail"].get("action") == "test.effect":
            assert not paused, f"a write started while paused: {event['text']}"


def _guarded_writes_had_four_eyes(
    step_rows: list[Any], run_rows: dict[int, Any], approval_rows: list[Any], decisions: list[Any]
) -> None:
    for step in step_rows:
        run = run_rows[step["run_seq"]]
        if run["playbook"] != "guarded" or step["step_id"] != "change" or not step["started_at"]:
            continue
        (approval,) = [
            a for a in approval_rows if a["run_seq"] == run["seq"] and a["step_id"] == "approve"
        ]
        approvers = {
            d["user"]
            for d in decisions
            if d["approval_seq"] == approval["seq"] and d["decision"] == "approve"
        }
        assert approval["status"] == "approved", approval
        assert len(approvers) >= 2, approvers
        assert approvers <= set(APPROVERS), approvers


def _limit_held(step_rows: list[Any], approval_rows: list[Any]) -> None:
    consented = {(a["run_seq"], a["step_id"]) for a in approval_rows if a["status"] == "approved"}
    attempts = [
        s
        for s in step_rows
        if s["action"] == "test.effect"
        and s["status"] in {"running", "succeeded", "failed", "interrupted"}
        and (s["run_seq"], s["step_id"]) not in consented
    ]
    for dry_run in (True, False):
        assert len([s for s in attempts if s["dry_run"] is dry_run]) <= LIMIT, attempts


def _no_escalation_after_resolution(events: list[Any]) -> None:
    resolved: set[int] = set()
    for event in events:
        seq = event["incident_seq"]
        if event["kind"] == "incident.resolved":
            resolved.add(seq)
        elif event["kind"] in {"incident.escalated", "pagerduty.paging"}:
            assert seq not in resolved, event["text"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_safety_model_holds_under_random_interleavings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules above in random orders; the invariants after every step (see the module)."""
    monkeypatch.setattr(bot.engine.runner, "STOP_GRACE_S", 0.0)  # a stop is a crash here
    counter = iter(range(1_000_000))

    class Machine(SafetyMachine):
        def __init__(self) -> None:
            n = next(counter)
            if backend == "sqlite":
                Machine.store_url = f"sqlite:///{tmp_path / f'm{n}.db'}"
            else:
                Machine.store_url = fresh_database(request.getfixturevalue("postgres"))
            Machine.tmp = tmp_path / f"m{n}"
            super().__init__()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
