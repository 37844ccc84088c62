"""Approvals a step waits for: requesting one, and waiting until humans or its window decide.

(The pause and the limits are checked where a write step starts:
:mod:`bot.engine.safety.write_gate`.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.engine.deps import EngineDeps, slot_released
from bot.engine.incidents.ops import IncidentOps
from bot.events import ApprovalEvent
from bot.models import ApprovalStatus, RunStatus
from bot.store import runs as run_store
from bot.store.audit import record_event
from bot.store.runs import ApprovalRow, RunRow
from bot.tasks import cancel_all


def approval_event(run: RunRow, row: ApprovalRow, status: str | None = None) -> ApprovalEvent:
    """The narration of an approval."""
    return ApprovalEvent(
        incident_seq=run.incident_seq,
        run_id=f"RUN-{run.seq}",
        approval_id=f"APR-{row.seq}",
        step_id=row.step_id,
        mode=row.mode,
        status=status or row.status.value,
        prompt=row.prompt,
        reason=row.reason,
        required=row.required,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
    )


async def request_approval(
    deps: EngineDeps,
    run: RunRow,
    *,
    step_id: str,
    mode: str,
    four_eyes: bool,
    prompt: str,
    reason: str | None,
    on_timeout: str,
    expires_at: datetime,
) -> ApprovalRow:
    """Create the approval, move the run to ``waiting_approval``, announce it."""
    now = deps.clock.now()
    required = 2 if four_eyes and run.started_by == "medic" else 1
    async with deps.db.begin() as conn:
        row = await run_store.create_approval(
            conn,
            run_seq=run.seq,
            step_id=step_id,
            mode=mode,
            required=required,
            four_eyes=four_eyes,
            prompt=prompt,
            reason=reason,
            on_timeout=on_timeout,
            at=now,
            expires_at=expires_at,
        )
        if not await run_store.set_run_status(conn, run.seq, RunStatus.WAITING_APPROVAL, now):
            # The run ended meanwhile (its incident resolved): nobody is asked.
            await run_store.finish_approval(conn, row.seq, ApprovalStatus.CANCELLED, None, now)
            return replace(row, status=ApprovalStatus.CANCELLED)
        text = f"APR-{row.seq} ({mode}{', four eyes' if four_eyes else ''}) requested: {prompt}"

        if reason:
            text += f" [{reason}]"
        await record_event(
            conn,
            at=now,
            actor="medic",
            kind="approval.requested",
            text=text,
            incident_seq=run.incident_seq,
        )
    deps.narration.approval_requested(approval_event(run, row))
    return row


async def await_decision(deps: EngineDeps, run: RunRow, row: ApprovalRow) -> ApprovalRow:
    """Wait until the approval is closed: by humans, by its window, or by cancellation."""
    event = deps.hub.event(row.seq)
    while True:
        async with deps.db.connect() as conn:
            current = await run_store.get_approval(conn, row.seq)
        if current is None or current.status is not ApprovalStatus.PENDING:
            deps.hub.forget(row.seq)
            return current or row
        deadline = None if current.escalated else current.expires_at
        async with slot_released(deps, run.seq):
            woken = await _woken_before(deps, event, deadline)
        if woken:
            event.clear()
            continue
        await _window_passed(deps, run, current)


async def _woken_before(deps: EngineDeps, event: asyncio.Event, deadline: datetime | None) -> bool:
    """True when ``event`` fired; False when the deadline passed first."""
    waiter = asyncio.create_task(event.wait())
    waits: set[asyncio.Task[Any]] = {waiter}
    timer = None
    if deadline is not None:
        timer = asyncio.create_task(deps.clock.sleep_until(deadline))
        waits.add(timer)
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_all(waits)
    return waiter in done


async def _window_passed(deps: EngineDeps, run: RunRow, row: ApprovalRow) -> None:
    """Veto: proceed (approved by medic), unless the chat never showed it to anyone: then
    escalate and wait for an explicit decision. Consent: expire, or escalate and keep
    waiting."""
    now = deps.clock.now()
    if row.mode == "veto" and deps.hub.shown is not None and not await deps.hub.shown(row.seq):
        async with deps.db.begin() as conn:
            await run_store.mark_escalated(conn, row.seq)
        await IncidentOps(deps, run.incident_seq).escalate(
            f"APR-{row.seq}'s veto window passed but Slack never showed it: not proceeding "
            f"without an explicit decision: {row.prompt}"
        )
        return
    if row.mode == "consent" and row.on_timeout == "escalate":
        async with deps.db.begin() as conn:
            await run_store.mark_escalated(conn, row.seq)
        await IncidentOps(deps, run.incident_seq).escalate(
            f"APR-{row.seq} got no decision in time: {row.prompt}"
        )
        return
    status = ApprovalStatus.APPROVED if row.mode == "veto" else ApprovalStatus.EXPIRED
    decided_by = "medic" if row.mode == "veto" else None
    async with deps.db.begin() as conn:
        closed = await run_store.finish_approval(conn, row.seq, status, decided_by, now)
        if closed:
            text = (
                f"APR-{row.seq} veto window passed unrejected: proceeding"
                if status is ApprovalStatus.APPROVED
                else f"APR-{row.seq} expired without a decision"
            )
            await record_event(
                conn,
                at=now,
                actor="medic",
                kind=f"approval.{status}",
                text=text,
                incident_seq=run.incident_seq,
            )
    if closed:
        deps.narration.approval_decided(
            approval_event(run, row, status.value).model_copy(update={"decided_by": decided_by})
        )
