"""``medic simulate ALERT.json``: the playbooks an alert would run, with their rendered steps.

The file is an Alertmanager webhook body or a single alert object (``labels``,
``annotations``, optional ``status`` and ``startsAt``). Nothing is touched: no store, no
HTTP server, no network. Templates are rendered with the alert's context as the engine
would; what depends on earlier steps' output cannot be known and says so.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bot.actions import ActionRegistry
from bot.engine.intake.grouping import title_of
from bot.engine.runs.template_context import template_context
from bot.errors import ConfigError
from bot.ingress.alertmanager_models import AlertmanagerAlert, AlertmanagerWebhook
from bot.models import Alert, AlertStatus
from bot.playbooks.models import OnFailure, StepSpec, Then
from bot.playbooks.playbook import Playbook, PlaybookSet
from bot.playbooks.templates import TemplateError, evaluate, render, render_value
from bot.yamlsource import Lines, read_yaml, validation_problems

EXIT_OK = 0
EXIT_INVALID = 1
INCIDENT_ID = "INC-?"  # not known before the store assigns it
SINGLE_ALERT_GROUP_KEY = "{}:simulate"


def simulate_file(
    path: Path, playbooks: PlaybookSet, registry: ActionRegistry, out: TextIO | None = None
) -> int:
    """Print what each alert of ``path`` would do; 1 with ``file:line: key: reason`` when the
    file is invalid."""
    stream = out if out is not None else sys.stdout
    try:
        alerts = read_alerts(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    now = datetime.now(UTC)
    for index, alert in enumerate(alerts, 1):
        header = f"Alert {index} of {len(alerts)}: "
        stream.write(header + describe_alert(alert, playbooks, registry, now) + "\n")
    return EXIT_OK


def read_alerts(path: Path) -> list[Alert]:
    """The alerts of a webhook body or of one alert object; ConfigError when invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([f"{path}:0: <file>: cannot read: {err}"]) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError([f"{path}:{err.lineno}: <json>: {err.msg}"]) from err
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{path}:1: <root>: must be an Alertmanager webhook body or one alert object"]
        )
    try:
        return _webhook(data).to_alerts()
    except ValidationError as err:
        raise ConfigError(validation_problems(err, str(path), _lines(path))) from err


def _webhook(data: dict[str, Any]) -> AlertmanagerWebhook:
    """``data`` as a webhook body; a single alert (no ``alerts`` key) is wrapped in one."""
    if "alerts" in data:
        return AlertmanagerWebhook.model_validate(data)
    defaults = {"status": "firing", "startsAt": datetime.now(UTC).isoformat()}
    alert = AlertmanagerAlert.model_validate({**defaults, **data})
    return AlertmanagerWebhook(
        version="4", group_key=SINGLE_ALERT_GROUP_KEY, status=alert.status, alerts=[alert]
    )


def _lines(path: Path) -> Lines:
    """The line of each key (JSON read as YAML), or none when YAML cannot read it."""
    try:
        return read_yaml(path)[1]
    except ConfigError:
        return {}


def describe_alert(
    alert: Alert, playbooks: PlaybookSet, registry: ActionRegistry, now: datetime
) -> str:
    """The alert, the playbooks it selects (priority order), the incident key and each
    playbook's rendered target and steps."""
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items())
    lines = [
        f"{alert.labels.get('alertname', 'alert')} {alert.status} "
        f"(fingerprint {alert.fingerprint})",
        f"  labels: {labels}",
    ]
    if alert.status is AlertStatus.RESOLVED:
        lines.append(
            "  resolved: updates the open incident holding this alert (resolving it when its "
            "last alert resolves); it never opens an incident or starts a run"
        )
    selection = playbooks.select(alert.labels)
    leader = selection.leader
    if selection.ignored_by is not None:
        lines.append(
            f"  ignored: playbook {selection.ignored_by.name} says so; the alert is journaled, "
            "opens no incident and runs nothing"
        )
        return "\n".join(lines) + "\n"
    if leader is None:
        lines.append("  matches: no playbook, not even a fallback: an incident without runs")
        lines.append(f"  incident key: {alert.group_key} (Alertmanager's groupKey)")
        return "\n".join(lines) + "\n"
    fallback = " (fallback: no regular playbook matches)" if leader.spec.fallback else ""
    names = ", ".join(f"{p.name} (priority {p.spec.priority})" for p in selection.playbooks)
    lines.append(f"  matches: {names}{fallback}")
    lines.append(f"  incident key: {leader.incident_key(alert.labels)}")
    incident = {
        "id": INCIDENT_ID,
        "title": title_of(alert),
        "severity": leader.spec.severity.value,
        "status": "open",
    }
    lines.append(f"  incident: {incident['title']} ({incident['severity']})")
    for playbook in selection.playbooks:
        lines += describe_playbook(playbook, alert, incident, registry, now)
    return "\n".join(lines) + "\n"


def describe_playbook(
    playbook: Playbook,
    alert: Alert,
    incident: dict[str, Any],
    registry: ActionRegistry,
    now: datetime,
) -> list[str]:
    """The playbook's rendered target and each step's lines."""
    context = template_context(alert=alert, incident=incident, now=now)
    target = ""
    target_text = "(none)"
    if playbook.spec.target is not None:
        try:
            target = target_text = render(playbook.spec.target, context)
        except TemplateError as err:
            target_text = f"(would fail: {err})"
    lines = ["", f"  playbook {playbook.name} ({playbook.source})", f"    target: {target_text}"]
    context = template_context(alert=alert, incident=incident, now=now, target=target)
    for number, step in enumerate(playbook.spec.steps, 1):
        lines += describe_step(number, step, context, registry)
    return lines


def describe_step(
    number: int, step: StepSpec, context: dict[str, Any], registry: ActionRegistry
) -> list[str]:
    """``N. id  action  [kind]`` then the rendered ``with:`` and the control fields."""
    guards, skipped = step_guards(step, context)
    params = "(not rendered: the step would be skipped)" if skipped else None
    lines = [
        f"    {number}. {step.id}  {step.uses}  [{action_kind(step.uses, registry)}]",
        f"         with: {params or rendered_with(step, context, registry)}",
        *guards,
    ]
    controls = {
        "on_failure": None if step.on_failure is OnFailure.ABORT else step.on_failure.value,
        "then": None if step.then is Then.CONTINUE else step.then.value,
        "timeout": None if step.timeout is None else str(step.timeout),
    }
    lines += [f"         {key}: {value}" for key, value in controls.items() if value is not None]
    return lines


def step_guards(step: StepSpec, context: dict[str, Any]) -> tuple[list[str], bool]:
    """``when`` / ``unless`` as written, each with its value for this alert when it can be
    known; True when the step would be skipped."""
    lines: list[str] = []
    skipped = False
    for name, expression, skip_when in (("when", step.when, False), ("unless", step.unless, True)):
        if expression is None:
            continue
        try:
            value = evaluate(expression, context)
        except TemplateError as err:
            lines.append(f"         {name}: {expression}  → {_unknown(expression, err)}")
            continue
        skipped = skipped or value is skip_when
        lines.append(f"         {name}: {expression}  → {str(value).lower()}")
    return lines, skipped


def _unknown(source: str, err: TemplateError) -> str:
    """Why a template cannot be rendered here: earlier steps' output, or a real failure."""
    if "steps." in source:
        return f"(depends on earlier steps: {err})"
    return f"(would fail: {err})"


def action_kind(uses: str, registry: ActionRegistry) -> str:
    """``approval``, or the action's kind: ``read``, ``write`` or ``control`` (incident.*)."""
    if uses == "approval":
        return "approval"
    spec = registry.get(uses)
    return "unknown" if spec is None else spec.kind.value


def rendered_with(step: StepSpec, context: dict[str, Any], registry: ActionRegistry) -> str:
    """``with:`` rendered and checked against the action's params, as compact JSON."""
    try:
        params = render_value(step.with_, context)
    except TemplateError as err:
        return _unknown(json.dumps(step.with_, default=str), err)
    text = json.dumps(params, ensure_ascii=False, default=str)
    spec = registry.get(step.uses)
    try:
        if spec is not None:
            spec.params.model_validate(params)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{text}  (would fail: {where}: {first['msg']})"
    return text
