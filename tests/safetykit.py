"""The safety model's promises as checks over what the store recorded (audit events, steps,
runs, approvals and decisions), for the randomized safety test: each raises
``AssertionError`` saying which promise broke and where."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import approval_decisions, approvals, audit_events, runs, steps

Row = Mapping[str, Any]
VIAS = {"slack", "api_user", "bridge"}
"""How a decision may arrive."""
STARTED = {"running", "succeeded", "failed", "interrupted"}
"""Step statuses that mean the step started (it may have reached the world)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """Everything the store recorded, read in one go."""

    events: Sequence[Row]
    steps: Sequence[Row]
    runs: Mapping[int, Row]
    approvals: Sequence[Row]
    decisions: Sequence[Row]


async def read_recorded(conn: AsyncConnection) -> Recorded:
    """The store's audit trail, steps, runs, approvals and decisions."""
    ordered = sa.select(audit_events).order_by(audit_events.c.seq)
    return Recorded(
        events=(await conn.execute(ordered)).mappings().all(),
        steps=(await conn.execute(sa.select(steps))).mappings().all(),
        runs={r["seq"]: r for r in (await conn.execute(sa.select(runs))).mappings()},
        approvals=(await conn.execute(sa.select(approvals))).mappings().all(),
        decisions=(await conn.execute(sa.select(approval_decisions))).mappings().all(),
    )


def no_write_while_paused(recorded: Recorded, write_action: str) -> None:
    """No step of ``write_action`` started between a pause and the next resume."""
    paused = False
    for event in recorded.events:
        if event["incident_seq"] is None and event["kind"] == "safety.paused":
            paused = True
        elif event["incident_seq"] is None and event["kind"] == "safety.resumed":
            paused = False
        elif event["kind"] == "step.running" and event["detail"].get("action") == write_action:
            assert not paused, f"a write started while paused: {event['text']}"


def approvals_needed(
    recorded: Recorded, run_seq: int, step_id: str, guard: str | None
) -> list[Row]:
    """The approvals a write step ``step_id`` of run ``run_seq`` waited for: its limit
    consent (an approval of the step itself), and the guarding approval step ``guard``."""
    wanted = {step_id} if guard is None else {step_id, guard}
    return [a for a in recorded.approvals if a["run_seq"] == run_seq and a["step_id"] in wanted]


def writes_had_their_approvals(
    recorded: Recorded,
    write_action: str,
    guards: Mapping[str, str],
    authorized: Collection[str],
) -> None:
    """Every started step of ``write_action`` had each approval it needed (its playbook's
    guarding step, ``guards[playbook]``, and any limit consent) approved by enough distinct
    authorized people: a person is their user id whichever way the decision arrived (a
    Slack click, a personal token, the bridge naming them), so one person's decisions on two
    surfaces count once. Four eyes means two people when Medic started the run, and one who
    is not the starter when a human did."""
    for step in recorded.steps:
        if step["action"] != write_action or step["status"] not in STARTED:
            continue
        run = recorded.runs[step["run_seq"]]
        guard = guards.get(run["playbook"])
        needed = approvals_needed(recorded, run["seq"], step["step_id"], guard)
        if guard is not None:
            assert any(a["step_id"] == guard for a in needed), f"RUN-{run['seq']}: no {guard}"
        for approval in needed:
            _approved_by_enough(recorded, run, approval, authorized)


def _approved_by_enough(
    recorded: Recorded, run: Row, approval: Row, authorized: Collection[str]
) -> None:
    name = f"APR-{approval['seq']}"
    label = f"{name} of RUN-{run['seq']}"
    assert approval["status"] == "approved", f"{label} is {approval['status']}"
    approved = [
        e
        for e in recorded.events
        if e["kind"] == "approval.approve"
        and e["detail"].get("approval") == f"APR-{approval['seq']}"
    ]
    people = [e["actor"] for e in approved]
    assert {e["detail"].get("via") for e in approved} <= VIAS, approved
    assert len(people) == len(set(people)), f"{label}: one person counted twice: {people}"
    assert set(people) <= set(authorized), f"{label}: approved by {people}"
    stored = {d["user"] for d in recorded.decisions if d["approval_seq"] == approval["seq"]}
    assert set(people) <= stored, (people, stored)
    if approval["four_eyes"] and run["started_by"] == "medic":
        assert len(set(people)) >= 2, f"{label}: four eyes by {people}"
    elif approval["four_eyes"]:
        assert run["started_by"] not in people, f"{label}: approved by its starter"
    assert people, f"{label}: approved by nobody"


def limit_held(recorded: Recorded, write_action: str, limit: int) -> None:
    """At most ``limit`` attempts of ``write_action`` (every start counts, consented ones
    aside), dry runs and real ones counted apart."""
    consented = {
        (a["run_seq"], a["step_id"]) for a in recorded.approvals if a["status"] == "approved"
    }
    attempts = [
        s
        for s in recorded.steps
        if s["action"] == write_action
        and s["status"] in STARTED
        and (s["run_seq"], s["step_id"]) not in consented
    ]
    for dry_run in (True, False):
        assert len([s for s in attempts if s["dry_run"] is dry_run]) <= limit, attempts


def nothing_after_resolution(recorded: Recorded, write_action: str) -> None:
    """No escalation, no page and no step of ``write_action`` starting for an incident after
    it resolved."""
    resolved: set[int] = set()
    for event in recorded.events:
        seq = event["incident_seq"]
        if event["kind"] == "incident.resolved":
            resolved.add(seq)
        elif event["kind"] in {"incident.escalated", "pagerduty.paging"}:
            assert seq not in resolved, event["text"]
        elif event["kind"] == "step.running" and event["detail"].get("action") == write_action:
            assert seq not in resolved, f"a write started after resolution: {event['text']}"


def approvals_asked_once(recorded: Recorded) -> None:
    """Each approval step asked once (one approval, requested once), crashes included."""
    per_step = Counter((a["run_seq"], a["step_id"]) for a in recorded.approvals)
    assert all(n == 1 for n in per_step.values()), per_step
    requested = Counter(
        e["text"].split(" ", 1)[0] for e in recorded.events if e["kind"] == "approval.requested"
    )
    assert all(n == 1 for n in requested.values()), requested


def control_effects_once(recorded: Recorded, control_action: str, effect_kind: str) -> None:
    """Per incident, one ``effect_kind`` audit event for each succeeded step of
    ``control_action`` (its effect committed with its outcome: never twice, never
    without it)."""
    effects = Counter(e["incident_seq"] for e in recorded.events if e["kind"] == effect_kind)
    succeeded = Counter(
        recorded.runs[s["run_seq"]]["incident_seq"]
        for s in recorded.steps
        if s["action"] == control_action and s["status"] == "succeeded"
    )
    assert effects == succeeded, (effects, succeeded)
