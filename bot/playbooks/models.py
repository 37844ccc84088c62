"""The playbook schema, as written in YAML."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.config import Duration
from bot.models import Severity

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class OnFailure(StrEnum):
    """What a failed step does to its run."""

    ABORT = "abort"
    CONTINUE = "continue"
    ESCALATE = "escalate"


class Then(StrEnum):
    """What happens after a step that ran."""

    CONTINUE = "continue"
    STOP = "stop"


class OnResolved(StrEnum):
    """What the incident resolving does to runs still waiting."""

    CANCEL_PENDING = "cancel_pending"
    CONTINUE = "continue"


class StepSpec(BaseModel):
    """One step: an action with its (templated) parameters and its control fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    uses: str = Field(min_length=1)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    unless: str | None = None
    on_failure: OnFailure = OnFailure.ABORT
    then: Then = Then.CONTINUE
    timeout: Duration | None = None


class PlaybookSpec(BaseModel):
    """A whole playbook. No ``match`` means manual only (``/incident run <name>``);
    ``ignore: true`` (no steps) means the alerts it matches open no incident at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    priority: int = 0
    fallback: bool = False
    match: list[str] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)
    severity: Severity = Severity.SEV3
    target: str | None = None
    cooldown: Duration = timedelta(0)
    on_resolved: OnResolved = OnResolved.CANCEL_PENDING
    ignore: bool = False
    steps: list[StepSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _steps_unless_ignoring(self) -> Self:
        if self.ignore:
            if self.steps or self.fallback or not self.match:
                raise ValueError("ignore: true takes match and no steps (nor fallback)")
        elif not self.steps:
            raise ValueError("steps: a playbook needs at least one step (or ignore: true)")
        return self

    @field_validator("group_by")
    @classmethod
    def _label_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.replace("_", "a").isalnum() or name[0].isdigit():
                raise ValueError(f"{name!r} is not a label name")
        return names
