"""The Alertmanager webhook (version 4) body, validated at the edge; unknown fields accepted."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.http.body import NUL_FREE
from bot.http.text import unstorable
from bot.models import Alert, AlertSource, AlertStatus
from bot.timestamps import UtcTime, in_utc_range

# Alertmanager's "no end" value: Go's zero time, 0001-01-01T00:00:00Z.
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _is_go_zero_time(value: datetime) -> bool:
    """True when ``value`` is the instant of Go's zero time, whatever its offset
    (``0001-01-01T05:00:00+05:00`` is; ``0001-01-01T01:00:00+05:00`` is earlier)."""
    offset = value.utcoffset() or timedelta(0)
    try:
        return value.replace(tzinfo=UTC) == _GO_ZERO_TIME + offset  # its local time, compared
    except OverflowError:  # a negative offset: that local time would be in year 0
        return False


def _first_unstorable(texts: Iterable[str]) -> str | None:
    """Why the first of ``texts`` that no store can keep is refused, if one is."""
    for text in texts:
        reason = unstorable(text)
        if reason is not None:
            return reason
    return None


class AlertmanagerAlert(BaseModel):
    """One alert of a webhook notification."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcTime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str | None = Field(default=None, min_length=1, max_length=256)

    @field_validator("ends_at")
    @classmethod
    def _no_end_or_in_range(cls, value: datetime | None) -> datetime | None:
        """Alertmanager's "no end" (Go's zero time, in any offset) is None; any other end
        is a storable UTC time."""
        if value is None or _is_go_zero_time(value):
            return None
        return in_utc_range(value)


class AlertmanagerWebhook(BaseModel):
    """A whole notification: one group of alerts."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)

    @model_validator(mode="after")
    def _only_storable_text(self, info: ValidationInfo) -> AlertmanagerWebhook:
        """Text no store can keep (:mod:`bot.http.text`): a 400, not an endless 503.
        (Skipped for a body :func:`~bot.http.body.validate_json` already found NUL-free:
        its parser refuses lone surrogates.)"""
        if info.context == NUL_FREE:
            return self
        reason = unstorable(self.group_key)
        if reason is not None:
            raise ValueError(f"groupKey: {reason}")
        for index, item in enumerate(self.alerts):
            texts = [*item.labels.items(), *item.annotations.items(), ("", item.fingerprint or "")]
            reason = _first_unstorable(text for pair in texts for text in pair)
            if reason is not None:
                raise ValueError(f"alerts.{index}: {reason}")
        return self

    def to_alerts(self) -> list[Alert]:
        """Normalise every alert; status is taken per alert, not from the group."""
        return [
            Alert.model_construct(  # already validated above: no second validation pass
                source=AlertSource.ALERTMANAGER,
                fingerprint=item.fingerprint or label_fingerprint(item.labels),
                status=AlertStatus(item.status),
                labels=item.labels,
                annotations=item.annotations,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
                generator_url=item.generator_url or None,
                group_key=self.group_key,
            )
            for item in self.alerts
        ]


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable fingerprint from the label set, for senders that omit one."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
