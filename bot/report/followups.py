"""Follow-ups, derived from what happened: failed, interrupted, dry-run and unapproved steps,
escalations, and a small per-playbook hint table (the playbook schema has no follow-ups)."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2.sandbox import SandboxedEnvironment

from bot.report.models import FollowUp, IncidentReport, RunInfo, StepInfo
from bot.store.outcomes import BREAKER_KIND

_ACTIVE = {"pending", "running", "waiting_approval", "paused"}


@dataclass(frozen=True, slots=True)
class PlaybookHint:
    """A follow-up a playbook's own change calls for.

    It applies when a step of the playbook using ``after_action`` really changed the world
    (succeeded, not a dry run); a later successful run of ``done_by`` on the same incident
    marks it done. ``text`` is a sandboxed Jinja template over ``target`` and ``labels`` (the
    run's first alert).
    """

    after_action: str
    text: str
    done_by: str | None = None


PLAYBOOK_HINTS: dict[str, PlaybookHint] = {
    # PLAYBOOKS.md: "after the incident resolves, a follow-up in the report and channel
    # offers the revert (/incident run pool-revert)".
    "pool-exhaustion": PlaybookHint(
        after_action="kubernetes.set_env",
        text=(
            "Revert the connection pool of {{ target }} to the usual DB_POOL_SIZE=100, "
            "DB_POOL_MAX=150 once the peak is over: `/incident run pool-revert "
            "namespace={{ labels.get('namespace', '') }} "
            "deployment={{ labels.get('deployment', '') }}`"
        ),
        done_by="pool-revert",
    ),
}

_HINTS = SandboxedEnvironment(autoescape=False)


def derive_followups(
    report: IncidentReport, hints: dict[str, PlaybookHint] | None = None
) -> list[FollowUp]:
    """Everything a human should still do or check, in run order, then incident-wide ones."""
    table = PLAYBOOK_HINTS if hints is None else hints
    items: list[FollowUp] = []
    for run in report.runs:
        items.extend(_of_run(run))
    items.extend(
        FollowUp(text=f"{event.text} — confirm a human owns the investigation")
        for event in report.timeline
        if event.kind == "incident.escalated"
    )
    items.extend(
        FollowUp(
            text=f"{event.text}: its automatic write steps are held there until a run of it "
            "works — find why it did not, fix that, then `/incident run` it by hand"
        )
        for event in report.timeline
        if event.kind == BREAKER_KIND
    )
    for run in report.runs:
        hint = table.get(run.playbook)
        if hint is not None and _changed_with(run, hint.after_action):
            items.append(_hint(report, run, hint))
    if not report.runs:
        names = ", ".join(sorted({a.name for a in report.alerts})) or "these alerts"
        items.append(FollowUp(text=f"No playbook handled this incident: consider one for {names}"))
    firing = [a.name for a in report.alerts if a.status == "firing"]
    if firing and not report.resolved:
        items.append(FollowUp(text=f"Still firing: {', '.join(firing)}"))
    items.append(
        FollowUp(
            text="Write the root cause, impact and lessons learned, and hold the "
            "post-incident review within 48 hours"
        )
    )
    return items


def _of_run(run: RunInfo) -> list[FollowUp]:
    where = f"{run.id} {run.playbook}"
    items: list[FollowUp] = []
    for step in run.steps:
        if step.status == "failed":
            items.append(
                FollowUp(text=f"`{step.id}` ({step.action}) failed in {where}: {step.error or '?'}")
            )
        elif step.status == "interrupted":
            items.append(
                FollowUp(
                    text=f"`{step.id}` ({step.action}) was interrupted in {where} (Medic stopped "
                    f"mid-step): check {run.target or 'the target'} by hand; Medic does not run "
                    f"it again without `/incident run {run.playbook}`"
                )
            )
    for approval in run.approvals:
        if approval.status == "rejected":
            who = approval.rejected_by or approval.decided_by or "someone"
            items.append(
                FollowUp(
                    text=f"{approval.id} was rejected by {who}: what `{approval.step}` guarded in "
                    f"{where} did not run; decide whether another fix is needed"
                )
            )
        elif approval.status == "expired":
            items.append(
                FollowUp(
                    text=f"{approval.id} expired without a decision: what `{approval.step}` "
                    f"guarded in {where} did not run"
                )
            )
    dry = [s for s in run.steps if _dry_change(s)]
    if dry:
        names = ", ".join(f"`{s.id}` ({s.action})" for s in dry)
        items.append(
            FollowUp(
                text=f"Dry runs only in {where}: {names} changed nothing; apply by hand if still "
                "needed"
            )
        )
    if run.status in _ACTIVE:
        items.append(FollowUp(text=f"{where} is still {run.status}"))
    return items


def _dry_change(step: StepInfo) -> bool:
    return step.dry_run and step.status == "succeeded" and not step.is_approval


def _changed_with(run: RunInfo, action: str) -> bool:
    return any(s.action == action and s.status == "succeeded" and not s.dry_run for s in run.steps)


def _hint(report: IncidentReport, run: RunInfo, hint: PlaybookHint) -> FollowUp:
    labels = report.alerts[0].labels if report.alerts else {}
    text = _HINTS.from_string(hint.text).render(target=run.target or "", labels=labels)
    done = next(
        (
            later
            for later in report.runs
            if later.playbook == hint.done_by
            and later.status == "succeeded"
            and int(later.id.removeprefix("RUN-")) > int(run.id.removeprefix("RUN-"))
        ),
        None,
    )
    if done is not None:
        return FollowUp(text=f"{text} — done by {done.id}", done=True)
    return FollowUp(text=text)
