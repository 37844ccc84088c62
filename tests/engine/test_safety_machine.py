"""A randomized proof of the safety model: hypothesis drives the real engine and store
(SQLite and PostgreSQL), with Slack on (a fake Slack Web API), through alerts firing and
resolving; decisions by authorized users (approvers and a member of an approver group),
an unauthorized user and repeated users, as signed Slack button clicks (Slack's retries
included) and over the HTTP API (personal tokens, the bridge token, a personal token naming
someone else); pause and resume (over the API and with ``/incident pause|resume``);
limit-tripping bursts; manual runs by humans (over the API and with ``/incident run``); and
crashes (Medic stopped mid-step and started again on the same store). After every step it
checks that:

- no ``write`` step started while the pause was on;
- no ``write`` step started without each approval it needed (its playbook's four-eyes step,
  its limit consent) approved by enough distinct authorized people. A person is their user
  id whichever way they decided: a Slack click, their personal token (``server.api_users``
  is keyed by the same Slack user ids) or the bridge naming them. So one person clicking
  Approve in Slack and approving over the API is one pair of eyes, and a human who started
  a run cannot approve it in Slack either;
- every decision was answered as the rules say (counted, or refused and told so);
- the limit was never exceeded, counting every attempt (consented ones aside);
- no step's effect happened twice, across crashes too: test actions' effects, each approval
  step asking once (and its Slack buttons posted once), each ``incident.set_severity`` (a
  ``control`` step) changing the incident once;
- nothing was escalated, paged or written for an incident after it resolved.

CI runs a few examples: ``MEDIC_SAFETY_EXAMPLES`` (default 10) examples of
``MEDIC_SAFETY_STEPS`` (default 15) rules, on each store. Search longer with, e.g.,
``MEDIC_SAFETY_EXAMPLES=400 MEDIC_SAFETY_STEPS=40 .venv/bin/pytest
tests/engine/test_safety_machine.py --basetemp=/tmp/medic-safety``.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import bot.engine.runs.manager
from bot.actions import ActionKind, ActionParams, ActionRegistry, ActionSpec, StepContext
from bot.actions import StepResult as Result
from bot.app import build_app
from bot.clock import ManualClock
from bot.errors import PermanentError
from bot.integrations import action_registry
from bot.narrator import ConsoleNarrator
from bot.store import Database
from bot.store.safety import read_pause
from bot.store.schema import approval_decisions, approvals, runs

import safetykit
from enginekit import write_playbooks
from fakes.slack import FakeSlack
from harness.waiting import eventually
from medickit import AM_TOKEN, API_TOKEN, fresh_database, make_settings
from payloads import BASE_TIME, am_alert, am_payload
from slackkit import (
    BOT_TOKEN,
    FAST,
    asks_for,
    click_body,
    command,
    send,
    signed,
    slack_section,
)

EXAMPLES = int(os.environ.get("MEDIC_SAFETY_EXAMPLES", "10"))
STEPS = int(os.environ.get("MEDIC_SAFETY_STEPS", "15"))
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
PEOPLE = ["U1", "U2", "U3", "U4"]
TOKENS = {user: f"token-of-{user.lower()}-personal" for user in PEOPLE}
APPROVERS = ["U1", "U2"]
GROUP = {"S0ONCALL": ["U4"]}
AUTHORIZED = {"U1", "U2", "U4"}
"""The approvers, and U4 through the approver group; U3 may not decide."""
LIMIT = 2
TARGETS = ["a", "b", "c"]
NOT_COUNTED = "Not counted"
"""What Slack tells a clicker whose click did not count."""
REPLY_WAIT_S = 30.0
NOWHERE = "C0NOWHERE"
"""The channel of a click on an approval whose message Slack has not shown yet."""


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
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1h, four_eyes: true}
  - id: tell
    uses: test.tell
    with: {name: "{{ labels.n }}"}
  - id: raise
    uses: incident.set_severity
    with: {severity: sev1}
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
    """Medic on one store with Slack, driven through its HTTP API and signed Slack clicks;
    crashes restart it on the same store (Slack stays up)."""

    store_url: str = ""
    tmp: Path = Path()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client: TestClient[Any, Any] | None = None
        self.clicks = itertools.count(1)
        self.pending: list[int] = []
        """The approvals waiting for a decision, as of the last settle."""
        WORLD.reset()
        self.db = Database(self.store_url)
        self.slack = FakeSlack(
            bot_token=BOT_TOKEN,
            users=PEOPLE,
            usergroups=GROUP,
            post_interval_s=FAST.post_interval_s,
        )
        self._run(self.slack.start())
        self._run(self._start())

    def _settings(self) -> Any:
        return make_settings(
            self.store_url,
            playbooks={
                "dirs": [str(write_playbooks(self.tmp / "pb", guarded=GUARDED, plain=PLAIN))]
            },
            server={"api_token": API_TOKEN, "api_users": TOKENS},
            slack=slack_section(
                self.slack,
                approvers=APPROVERS,
                approver_groups=list(GROUP),
                admins=["U1"],
                invite=[],
            ),
            safety={"limits": {"test.effect": {"max": LIMIT, "per": "1h"}}},
        )

    async def _start(self) -> None:
        app = build_app(
            self._settings(),
            narrators=[ConsoleNarrator(io.StringIO())],
            clock=ManualClock(START),
            registry=REGISTRY,
            slack_timing=FAST,
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
        """Wait until every run waits on something outside Medic (a pending approval, the
        pause while it is on, the gate) or has ended: then what the next rule sees does not
        depend on timing."""
        assert self.client is not None
        await (await self.client.get("/api/incidents")).read()  # the engine caught up

        async def quiet() -> bool:
            asking = sa.exists().where(
                approvals.c.run_seq == runs.c.seq, approvals.c.status == "pending"
            )
            async with self.db.connect() as conn:
                paused = await read_pause(conn) is not None
                moving = [runs.c.status.in_(["pending", "running"])]
                moving.append(sa.and_(runs.c.status == "waiting_approval", ~asking))
                if not paused:
                    moving.append(runs.c.status == "paused")
                busy = (await conn.execute(sa.select(runs.c.seq).where(sa.or_(*moving)))).all()
            blocked = {run for run, _ in WORLD.blocked}
            return all(f"RUN-{seq}" in blocked for (seq,) in busy)

        await eventually(quiet, 30, "the engine to settle")
        self.pending = await self._pending_approvals()

    # --- rules ------------------------------------------------------------------------------

    @initialize(where=st.sampled_from(TARGETS))
    def first_alert(self, where: str) -> None:
        """Every example starts with a guarded alert firing (its approval waits)."""
        self.fire("Guarded", where)

    @rule(playbook=st.sampled_from(["Guarded", "Plain"]), where=st.sampled_from(TARGETS))
    def fire(self, playbook: str, where: str) -> None:
        """An alert fires (a new incident or one already open)."""
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

    @precondition(lambda self: self.pending)
    @rule(
        user=st.sampled_from(PEOPLE),
        decision=st.sampled_from(["approve", "approve", "reject"]),
        via=st.sampled_from(["personal", "bridge", "posing"]),
        pick=st.integers(min_value=0, max_value=5),
    )
    def decide(self, user: str, decision: str, via: str, pick: int) -> None:
        """Someone decides on a pending approval over the API: with their own token,
        through the bridge, or with their token while naming someone else (always 403)."""
        approval = self.pending[pick % len(self.pending)]
        counts = self._run(self._would_count(approval, user, decision))
        body: dict[str, str] = {"decision": decision}
        token = TOKENS[user]
        if via == "bridge":
            body["user"], token = user, API_TOKEN
        elif via == "posing":
            body["user"] = "U2" if user != "U2" else "U1"
        status = self._run(self._post(f"/api/approvals/APR-{approval}", body, token))
        if via == "posing":
            assert status == 403
        else:
            assert status in {200, 403, 409}
            assert (status == 200) is counts, (status, user, decision, approval)
        self._run(self._settle())

    @precondition(lambda self: self.pending)
    @rule(
        user=st.sampled_from([*PEOPLE, "U0STRANGER"]),
        approve=st.sampled_from([True, True, False]),
        retried=st.booleans(),
        pick=st.integers(min_value=0, max_value=5),
    )
    def click(self, user: str, approve: bool, retried: bool, pick: int) -> None:
        """Someone clicks Approve or Reject on an approval's Slack message (a signed
        interactivity request); Slack may deliver the same click again (a retry, counted
        once). A click that does not count is answered "Not counted" to the clicker."""
        approval = self.pending[pick % len(self.pending)]
        decision = "approve" if approve else "reject"
        counts = self._run(self._would_count(approval, user, decision))
        key = f"click-{next(self.clicks)}"
        body = click_body(
            f"APR-{approval}",
            user=user,
            channel=self._channel_of(f"APR-{approval}"),
            approve=approve,
            response_url=self.slack.response_url(key),
        )
        deliveries = [signed(body)]
        if retried:
            deliveries.append({**deliveries[0], "X-Slack-Retry-Num": "1"})
        for headers in deliveries:
            assert self.client is not None
            status, _ = self._run(send(self.client, body, headers))
            assert status == 200
        decided = self._run(self._decision_of(approval, user))
        if counts:
            assert decided == decision, (user, decided)
            assert self.slack.responses[key] == []
        else:
            self._run(
                self.slack.wait_for(
                    lambda: self.slack.responses[key], f"{key} told it did not count", REPLY_WAIT_S
                )
            )
            assert all(NOT_COUNTED in r["text"] for r in self.slack.responses[key])
        self._run(self._settle())

    @rule(via=st.sampled_from(["api", "slack"]))
    def pause(self, via: str) -> None:
        """An admin pauses (``POST /api/pause`` or ``/incident pause``)."""
        self._switch("pause freeze", via)

    @rule(via=st.sampled_from(["api", "slack"]))
    def resume(self, via: str) -> None:
        """An admin resumes (``POST /api/resume`` or ``/incident resume``)."""
        self._switch("resume", via)

    def _switch(self, text: str, via: str) -> None:
        assert self.client is not None
        if via == "slack":
            reply = self._run(command(self.client, text, user="U1", channel=NOWHERE))
            assert reply["response_type"] == "in_channel", reply
        else:
            action, _, reason = text.partition(" ")
            body = {"reason": reason} if reason else {}
            assert self._run(self._post(f"/api/{action}", body, TOKENS["U1"])) == 200
        self._run(self._settle())

    @rule()
    def release(self) -> None:
        """Steps in flight finish (writes and notices succeed, checks fail)."""
        gate, WORLD.gate = WORLD.gate, asyncio.Event()
        gate.set()
        self._run(self._settle())

    @rule(
        playbook=st.sampled_from(["plain", "guarded"]),
        user=st.sampled_from(sorted(AUTHORIZED)),
        where=st.sampled_from(TARGETS),
        via=st.sampled_from(["api", "slack"]),
    )
    def manual_run(self, playbook: str, user: str, where: str, via: str) -> None:
        """A human starts a playbook on an open incident, over the API or with
        ``/incident run`` (a guarded run then needs one approver who is not them)."""
        incident = self._run(self._open_incident())
        if incident is None:
            return
        assert self.client is not None
        if via == "slack":
            text = f"run {incident} {playbook} n={where}"
            reply = self._run(command(self.client, text, user=user, channel=NOWHERE))
            assert "started on" in reply["text"], reply
        else:
            body = {"playbook": playbook, "params": {"n": where}}
            path = f"/api/incidents/{incident}/runs"
            assert self._run(self._post(path, body, TOKENS[user])) == 201
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
        asked = Counter(
            value
            for call in self.slack.calls_to("chat.postMessage")
            if call.status == HTTPStatus.OK and not call.args.get("thread_ts")
            for value in _button_values(call.args.get("blocks"))
        )
        assert all(n == 1 for n in asked.values()), f"approval buttons posted twice: {asked}"

    async def _check(self) -> None:
        async with self.db.connect() as conn:
            recorded = await safetykit.read_recorded(conn)
        safetykit.no_write_while_paused(recorded, "test.effect")
        safetykit.writes_had_their_approvals(
            recorded, "test.effect", {"guarded": "approve"}, AUTHORIZED
        )
        safetykit.limit_held(recorded, "test.effect", LIMIT)
        safetykit.nothing_after_resolution(recorded, "test.effect")
        safetykit.approvals_asked_once(recorded)
        safetykit.control_effects_once(recorded, "incident.set_severity", "incident.severity")

    # --- reading the store -----------------------------------------------------------------

    async def _pending_approvals(self) -> list[int]:
        async with self.db.connect() as conn:
            rows = await conn.execute(
                sa.select(approvals.c.seq)
                .where(approvals.c.status == "pending")
                .order_by(approvals.c.seq)
            )
            return [seq for (seq,) in rows]

    async def _would_count(self, approval: int, user: str, decision: str) -> bool:
        """Whether ``user``'s decision on pending ``approval`` counts, by the rules: an
        authorized user who has not decided on it yet (on any surface), approving a
        four-eyes run only if they did not start it."""
        async with self.db.connect() as conn:
            row = (
                (await conn.execute(sa.select(approvals).where(approvals.c.seq == approval)))
                .mappings()
                .one()
            )
            starter = (
                await conn.execute(sa.select(runs.c.started_by).where(runs.c.seq == row["run_seq"]))
            ).scalar_one()
            decided = await self._decision_of(approval, user, conn)
        return (
            row["status"] == "pending"
            and user in AUTHORIZED
            and decided is None
            and not (row["four_eyes"] and decision == "approve" and starter == user)
        )

    async def _decision_of(self, approval: int, user: str, conn: Any = None) -> str | None:
        """``user``'s recorded decision on ``approval``, if any."""
        query = sa.select(approval_decisions.c.decision).where(
            approval_decisions.c.approval_seq == approval, approval_decisions.c.user == user
        )
        if conn is not None:
            found: str | None = (await conn.execute(query)).scalar_one_or_none()
            return found
        async with self.db.connect() as fresh:
            decided: str | None = (await fresh.execute(query)).scalar_one_or_none()
        return decided

    def _channel_of(self, approval: str) -> str:
        """The channel of the Slack message asking for ``approval`` (clicked there)."""
        for channel in self.slack.channels.values():
            if any(m.thread_ts is None and asks_for(m, approval) for m in channel.messages):
                return channel.id
        return NOWHERE

    async def _open_incident(self) -> str | None:
        async with self.db.connect() as conn:
            found = await conn.execute(
                sa.text("SELECT seq FROM incidents WHERE status != 'resolved' ORDER BY seq")
            )
            first = found.first()
        return None if first is None else f"INC-{first[0]}"

    def teardown(self) -> None:
        """Stop Medic and the fake Slack, close the loop."""
        if self.client is not None:
            self._run(self.client.close())
        self._run(self.slack.close())
        self._run(self.db.close())
        self.loop.close()


def _button_values(blocks: Any) -> set[str]:
    """The approvals a posted Slack message has buttons for."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return {
        element["value"]
        for block in blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if "value" in element
    }


@pytest.mark.timeout(max(900, EXAMPLES * STEPS * 4))  # a longer search gets longer
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_safety_model_holds_under_random_interleavings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules above in random orders; the invariants after every step (see the module)."""
    monkeypatch.setattr(bot.engine.runs.manager, "STOP_GRACE_S", 0.0)  # a stop is a crash here
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
