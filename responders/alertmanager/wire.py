"""Alertmanager API v2 bodies Medic sends and reads (only the fields it uses)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from responders.alertmanager.models import Matcher


class WireMatcher(BaseModel):
    """A matcher in a silence body."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    value: str
    is_regex: bool = Field(alias="isRegex")
    is_equal: bool = Field(alias="isEqual")

    @classmethod
    def of(cls, matcher: Matcher) -> WireMatcher:
        """The wire form of a parsed matcher."""
        return cls(
            name=matcher.name,
            value=matcher.value,
            is_regex=matcher.is_regex,
            is_equal=matcher.is_equal,
        )


class PostableSilence(BaseModel):
    """``POST /api/v2/silences``."""

    model_config = ConfigDict(populate_by_name=True)

    matchers: list[WireMatcher]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(alias="createdBy")
    comment: str


class SilenceCreated(BaseModel):
    """The answer to a new silence."""

    model_config = ConfigDict(populate_by_name=True)

    silence_id: str = Field(alias="silenceID", min_length=1)


class AlertState(BaseModel):
    """``status`` of an alert: ``active``, ``suppressed`` (silenced/inhibited) or
    ``unprocessed``."""

    state: str


class GettableAlert(BaseModel):
    """One alert of ``GET /api/v2/alerts``."""

    model_config = ConfigDict(populate_by_name=True)

    fingerprint: str
    labels: dict[str, str]
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    status: AlertState


class ApiError(BaseModel):
    """An error body of the generated handlers (422 and some 4xx)."""

    code: int | None = None
    message: str
