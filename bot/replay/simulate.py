"""The replay itself: each alert, in order, through the current playbooks as the engine
would take it — ignored, grouped into an incident (reopened when it flaps), runs started
unless a cooldown skips them, each step with its approval and the rate limit it would
trip. Step outputs are unknown, so what depends on them says so. Pure: no store, no
network."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.actions import ActionKind, ActionRegistry
from bot.config import Settings, format_duration
from bot.engine.incidents.builtin_actions import APPROVAL, ApprovalParams
from bot.engine.intake.grouping import incident_key, severity_of, title_of
from bot.engine.runs.template_context import template_context
from bot.models import AlertStatus
from bot.playbooks.models import StepSpec
from bot.playbooks.playbook import Playbook, PlaybookSet
from bot.playbooks.templates import TemplateError, evaluate, render
from bot.replay.report import IncidentPlan, ReplayReport, RunPlan, StepPlan
from bot.replay.sources import ReplayedAlert


@dataclass
class _Open:
    plan: IncidentPlan
    firing: set[str] = field(default_factory=set)
    ran: set[str] = field(default_factory=set)


@dataclass
class Replay:
    """The state a replay carries from one alert to the next."""

    playbooks: PlaybookSet
    registry: ActionRegistry
    settings: Settings
    report: ReplayReport
    _open: dict[str, _Open] = field(default_factory=dict)
    _resolved: dict[str, _Open] = field(default_factory=dict)
    _last_run: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    _attempts: dict[str, list[datetime]] = field(default_factory=dict)

    def take(self, item: ReplayedAlert) -> None:
        """One alert."""
        summary = self.report.summary
        summary.alerts += 1
        selection = self.playbooks.select(item.alert.labels)
        if selection.ignored_by is not None:
            summary.ignored += 1
            return
        key = incident_key(selection, item.alert)
        if item.alert.status is AlertStatus.RESOLVED:
            self._resolve(key, item)
            return
        incident = self._open.get(key) or self._reopen(key, item.at) or self._new(key, item)
        incident.firing.add(item.alert.fingerprint)
        if item.alert.fingerprint not in incident.plan.alerts:
            incident.plan.alerts.append(item.alert.fingerprint)
        for playbook in selection.playbooks:
            if playbook.name not in incident.ran:
                incident.ran.add(playbook.name)
                incident.plan.runs.append(self._run(playbook, item, incident.plan))

    def _new(self, key: str, item: ReplayedAlert) -> _Open:
        leader = self.playbooks.select(item.alert.labels).leader
        previous = self._resolved.get(key)
        plan = IncidentPlan(
            id=f"R-{len(self.report.incidents) + 1}",
            key=key,
            title=title_of(item.alert),
            severity=(severity_of(item.alert) if leader is None else leader.spec.severity).value,
            opened_at=item.at,
            previous=None if previous is None else previous.plan.id,
        )
        self.report.incidents.append(plan)
        self.report.summary.incidents += 1
        self._open[key] = _Open(plan)
        return self._open[key]

    def _reopen(self, key: str, at: datetime) -> _Open | None:
        window = self.playbooks.flap_window
        found = self._resolved.get(key)
        resolved_at = None if found is None else found.plan.resolved_at
        if found is None or resolved_at is None or window.total_seconds() <= 0:
            return None
        if at - resolved_at > window:
            return None
        found.plan.resolved_at = None
        found.plan.reopened += 1
        self.report.summary.reopened += 1
        self._open[key] = self._resolved.pop(key)
        return found

    def _resolve(self, key: str, item: ReplayedAlert) -> None:
        incident = self._open.get(key)
        if incident is None:
            return
        incident.firing.discard(item.alert.fingerprint)
        if not incident.firing:
            incident.plan.resolved_at = item.at
            self._resolved[key] = self._open.pop(key)

    def _run(self, playbook: Playbook, item: ReplayedAlert, incident: IncidentPlan) -> RunPlan:
        summary = self.report.summary
        context = template_context(
            alert=item.alert, incident=_incident_context(incident), now=item.at
        )
        try:
            target = None if playbook.spec.target is None else render(playbook.spec.target, context)
        except TemplateError as err:
            return RunPlan(
                playbook=playbook.name, target=None, at=item.at, outcome="fails", reason=str(err)
            )
        run = RunPlan(playbook=playbook.name, target=target, at=item.at, outcome="runs")
        last = self._last_run.get((playbook.name, target))
        cooldown = playbook.spec.cooldown
        if last is not None and item.at - last < cooldown:
            run.outcome = "skipped"
            run.reason = f"cooldown {format_duration(cooldown)} (it ran at {last:%Y-%m-%d %H:%M}Z)"
            summary.skipped_runs += 1
            return run
        self._last_run[(playbook.name, target)] = item.at
        summary.runs += 1
        summary.by_playbook[playbook.name] = summary.by_playbook.get(playbook.name, 0) + 1
        context["target"] = target or ""
        uncertain = False  # a `then: stop` before this step may or may not have stopped
        for step in playbook.spec.steps:
            plan = self._step(step, context, item.at, uncertain)
            uncertain = uncertain or (plan.runs == "depends" and step.then.value == "stop")
            run.steps.append(plan)
        return run

    def _step(
        self, step: StepSpec, context: dict[str, object], at: datetime, uncertain: bool
    ) -> StepPlan:
        runs = _would_run(step, context)
        runs = "depends" if uncertain and runs == "yes" else runs
        kind = _kind(step.uses, self.registry)
        plan = StepPlan(id=step.id, action=step.uses, kind=kind, runs=runs)
        if runs == "no":
            return plan
        if step.uses == APPROVAL:
            params = ApprovalParams.model_validate(
                {k: v for k, v in step.with_.items() if not isinstance(v, str) or "{{" not in v}
            )
            eyes = ", four eyes" if params.four_eyes else ""
            plan.approval = f"{params.mode} {format_duration(params.window())}{eyes}"
            self.report.summary.approvals += 1
        elif kind == ActionKind.WRITE.value:
            self.report.summary.write_steps += 1
            plan.limit = self._limit(step.uses, at, certain=runs == "yes")
        return plan

    def _limit(self, action: str, at: datetime, *, certain: bool) -> str | None:
        """The ``safety.limits`` entry this attempt would trip. Only attempts that surely
        happen count (as the engine counts every attempt); one that depends on earlier
        steps says whether it would trip if it ran."""
        limit = self.settings.safety.limits.get(action)
        attempts = self._attempts.setdefault(action, [])
        tripped = None
        if limit is not None:
            recent = [t for t in attempts if at - t < limit.per]
            if len(recent) >= limit.max:
                tripped = (
                    f"limit {action} ({limit.max} per {format_duration(limit.per)}) trips: "
                    "a four-eyes consent"
                ) + ("" if certain else " (if it runs)")
                self.report.summary.limits_tripped += int(certain)
        if certain:
            attempts.append(at)
        return tripped


def _incident_context(incident: IncidentPlan) -> dict[str, str]:
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": "open",
    }


def _would_run(step: StepSpec, context: dict[str, object]) -> str:
    """``yes``, ``no``, or ``depends`` when ``when``/``unless`` reads earlier outputs."""
    try:
        allowed = step.when is None or bool(evaluate(step.when, context))
        vetoed = step.unless is not None and bool(evaluate(step.unless, context))
    except TemplateError:
        return "depends"
    return "yes" if allowed and not vetoed else "no"


def _kind(uses: str, registry: ActionRegistry) -> str:
    if uses == APPROVAL:
        return "approval"
    spec = registry.get(uses)
    return "unknown" if spec is None else spec.kind.value


def replay(
    alerts: list[ReplayedAlert],
    playbooks: PlaybookSet,
    registry: ActionRegistry,
    settings: Settings,
    source: str,
) -> ReplayReport:
    """Replay ``alerts`` in order; the report of what would have happened."""
    report = ReplayReport(
        source=source,
        playbooks=sorted(p.name for p in playbooks),
        dry_run=settings.safety.dry_run,
    )
    state = Replay(playbooks, registry, settings, report)
    for item in alerts:
        state.take(item)
    return report
