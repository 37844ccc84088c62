"""What every action sees and returns. Responders depend on this, never on the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from bot.config import Settings


class ActionKind(StrEnum):
    """``read`` gathers evidence; ``notify`` tells humans (pages, chat posts) and changes
    nothing in the systems being repaired; ``write`` changes the world (dry-run, locks,
    limits apply); ``control`` is Medic's own bookkeeping (approval, incident.*)."""

    READ = "read"
    NOTIFY = "notify"
    WRITE = "write"
    CONTROL = "control"


class ActionParams(BaseModel):
    """Base of every action's ``with:`` model: unknown keys are errors at load time."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ActionOutput(BaseModel):
    """Base of an action's output model, what later steps read as ``steps.<id>.output``.

    Every field has a default: later steps read the defaults for what a step did not set
    (recorded as a dry run because its integration is disabled, skipped, failed), so
    templates and ``when`` read the same fields whether or not the step really ran.
    """

    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)


class StepResult(BaseModel):
    """What an action did. ``output`` is exposed to later steps as ``steps.<id>.output``."""

    output: dict[str, Any] = Field(default_factory=dict)
    dry_run: bool = False
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Escalation:
    """What :meth:`IncidentControl.escalate` did: escalated (said loudly) or not (the
    incident had resolved), and whether a pager was reached."""

    escalated: bool
    paged: bool


class IncidentControl(Protocol):
    """What Medic's own ``incident.*`` actions may do to the incident; the engine implements it."""

    async def note(self, text: str) -> None:
        """Add a note to the timeline."""

    async def set_severity(self, severity: str) -> str:
        """Change the severity; returns the previous one."""

    async def escalate(self, reason: str, *, page: bool = True) -> Escalation:
        """Escalate loudly (paging only when ``page``); an incident already resolved is not
        escalated."""

    async def resolve(self, summary: str) -> None:
        """Resolve the incident."""


@dataclass(frozen=True, slots=True)
class StepContext:
    """Everything an action may use; built by the engine for each step.

    ``clients`` holds the shared client of each enabled integration, by config section name
    (created once per process, e.g. ``clients["pagerduty"]``); ``install_id`` identifies this
    Medic installation (stable across restarts); the links name the incident's PagerDuty
    incident and Slack channel when it has them; ``open_incident_channel`` (while Slack
    narrates) opens the incident's channel now if it has none yet and returns its id.
    """

    settings: Settings
    http: aiohttp.ClientSession
    incident_id: str
    run_id: str
    step_id: str
    target: str | None
    dry_run: bool
    now: Callable[[], datetime]
    incident: IncidentControl | None = None
    clients: Mapping[str, object] = field(default_factory=dict)
    install_id: str = ""
    pagerduty_incident_id: str | None = None
    slack_channel: str | None = None
    open_incident_channel: Callable[[], Awaitable[str]] | None = None


ActionFunction = Callable[[StepContext, Any], Awaitable[StepResult]]
DryRunDescriber = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """A registered action.

    ``integration`` names the config section whose system the action talks to; while that
    integration is disabled (or not yet built), the engine records a dry run from
    ``describe(params)`` instead of calling ``run``. ``output`` is the model of what the
    action returns as ``steps.<id>.output``; ``idempotent`` names the key by which the other
    system makes a repeated call harmless (None: a repeat may act twice).
    """

    name: str
    kind: ActionKind
    params: type[ActionParams]
    run: ActionFunction
    integration: str | None
    describe: DryRunDescriber | None
    output: type[BaseModel] | None = None
    idempotent: str | None = None

    def complete_output(self, output: Mapping[str, Any]) -> dict[str, Any]:
        """``output`` with the output model's defaults for the fields it lacks."""
        if self.output is None:
            return dict(output)
        return self.output().model_dump(mode="json") | dict(output)
