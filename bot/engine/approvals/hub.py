"""Human decisions on approvals: one service for the API now and Slack buttons next.

Rules: only ``slack.approvers`` may decide; a four-eyes approval needs two
different approvers when Medic started the run, and one who is not the starter when a human
did; the first valid decision wins exactly once (a conditional update on ``pending``); the
decision is committed before it is acknowledged, then the waiting run is woken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.clock import Clock
from bot.config import Settings
from bot.engine.approvals.directory import GroupDirectory, NoGroups
from bot.errors import DecisionRefused
from bot.events import ApprovalEvent
from bot.models import ApprovalStatus, Identity, parse_seq
from bot.narrator import NarrationDispatcher
from bot.store import Database
from bot.store import runs as run_store
from bot.store.audit import record_event

APPROVAL_PREFIX = "APR-"


class Decision(StrEnum):
    """What a human says."""

    APPROVE = "approve"
    REJECT = "reject"


_PAST = {Decision.APPROVE: "approved", Decision.REJECT: "rejected"}


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """The approval after a decision."""

    approval_id: str
    status: ApprovalStatus
    decided_by: str | None
    approvals: int
    required: int


ShownCheck = Callable[[int], Awaitable[bool]]
"""Whether an approval's request reached the people who decide (a chat message)."""


class ApprovalHub:
    """In-process wake-ups for runs waiting on an approval, and (when a chat narrates
    approvals) the check whether a request was ever shown to anyone."""

    def __init__(self, shown: ShownCheck | None = None) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self.shown = shown

    def event(self, approval_seq: int) -> asyncio.Event:
        """The event a waiting run sleeps on."""
        return self._events.setdefault(approval_seq, asyncio.Event())

    def notify(self, approval_seq: int) -> None:
        """Something changed for this approval: wake its run."""
        self.event(approval_seq).set()

    def waiting(self) -> list[int]:
        """The approvals some run of this process waits on."""
        return list(self._events)

    def forget(self, approval_seq: int) -> None:
        """The approval is closed."""
        self._events.pop(approval_seq, None)


def parse_approval_id(text: str) -> int | None:
    """The number inside ``APR-<n>``."""
    return parse_seq(text, APPROVAL_PREFIX)


class ApprovalService:
    """Decide approvals."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        hub: ApprovalHub,
        narration: NarrationDispatcher,
        clock: Clock,
        directory: GroupDirectory | None = None,
    ) -> None:
        self._directory: GroupDirectory = directory or NoGroups()
        self._db = db
        self._settings = settings
        self._hub = hub
        self._narration = narration
        self._clock = clock

    async def authorized(self, user: str) -> bool:
        """``slack.approvers``, or a member of one of ``slack.approver_groups``."""
        slack = self._settings.slack
        if user in slack.approvers:
            return True
        for group in slack.approver_groups:
            if user in await self._directory.members(group):
                return True
        return False

    async def decide(self, approval_id: str, who: Identity, decision: Decision) -> DecisionOutcome:
        """Record ``who``'s decision; raise :class:`DecisionRefused` when it cannot count.

        Four eyes counts distinct users: a second decision by the same user is refused, so
        two decisions need two identities (a personal API token can only ever be its user).
        """
        user = who.user
        seq = parse_approval_id(approval_id)
        if seq is None:
            raise DecisionRefused("not_found", f"no approval {approval_id!r} (ids look like APR-3)")
        authorized = await self.authorized(user)  # may ask Slack: outside the transaction
        async with self._db.begin() as conn:
            now = self._clock.now()
            row = await run_store.get_approval(conn, seq, for_update=True)
            if row is None:
                raise DecisionRefused("not_found", f"no approval {approval_id}")
            if row.status is not ApprovalStatus.PENDING:
                by = f" by {row.decided_by}" if row.decided_by else ""
                raise DecisionRefused("conflict", f"{approval_id} is already {row.status}{by}")
            if _window_closed(row, now):
                raise DecisionRefused(
                    "conflict", f"{approval_id} expired at {row.expires_at:%H:%M:%S} UTC"
                )
            if not authorized:
                raise DecisionRefused(
                    "forbidden", f"{user} is not in slack.approvers nor slack.approver_groups"
                )
            run = await run_store.get_run(conn, row.run_seq)
            if run is None:
                raise DecisionRefused("not_found", f"the run of {approval_id} is gone")
            if row.four_eyes and run.started_by == user and decision is Decision.APPROVE:
                raise DecisionRefused(
                    "forbidden", f"four eyes: {user} started RUN-{run.seq} and cannot approve it"
                )
            if not await run_store.record_decision(conn, seq, user, decision.value, now):
                raise DecisionRefused("conflict", f"{user} already decided on {approval_id}")
            approvers = await run_store.approvers(conn, seq)
            status, decided_by = ApprovalStatus.PENDING, None
            if decision is Decision.REJECT:
                status, decided_by = ApprovalStatus.REJECTED, user
            elif len(approvers) >= row.required:
                status, decided_by = ApprovalStatus.APPROVED, ",".join(approvers)
            if status is not ApprovalStatus.PENDING and not await run_store.finish_approval(
                conn, seq, status, decided_by, now
            ):
                raise DecisionRefused("conflict", f"{approval_id} was decided by someone else")
            await record_event(
                conn,
                at=now,
                actor=user,
                kind=f"approval.{decision.value}",
                incident_seq=run.incident_seq,
                text=_decision_text(user, decision, approval_id, len(approvers), row.required),
                detail={"approval": approval_id, "decision": decision.value, "via": who.via.value},
            )
        self._hub.notify(seq)
        if status is not ApprovalStatus.PENDING:
            self._narration.approval_decided(
                ApprovalEvent(
                    incident_seq=run.incident_seq,
                    run_id=f"RUN-{run.seq}",
                    approval_id=approval_id,
                    step_id=row.step_id,
                    mode=row.mode,
                    status=status.value,
                    decided_by=decided_by,
                )
            )
        return DecisionOutcome(
            approval_id=approval_id,
            status=status,
            decided_by=decided_by,
            approvals=len(approvers),
            required=row.required,
        )


def _window_closed(row: run_store.ApprovalRow, now: datetime) -> bool:
    """Past its deadline an approval takes no decision, unless it escalated and keeps
    waiting (``on_timeout: escalate``, or a veto window nobody was shown)."""
    if row.expires_at is None or now < row.expires_at:
        return False
    return not (row.escalated or (row.mode == "consent" and row.on_timeout == "escalate"))


def _decision_text(
    user: str, decision: Decision, approval_id: str, approvals: int, required: int
) -> str:
    text = f"{user} {_PAST[decision]} {approval_id}"
    if decision is Decision.APPROVE and approvals < required:
        text += f" ({approvals} of {required} approvals)"
    return text
