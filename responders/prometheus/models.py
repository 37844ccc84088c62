"""Prometheus params models, HTTP API answers and typed samples."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.actions.contract import ActionOutput, ActionParams
from bot.config import Duration
from responders.common import NonEmptyStr
from responders.prometheus.condition import ConditionField, format_number
from responders.prometheus.const import (
    DEFAULT_WAIT_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    DESCRIBED_VALUES,
)


class QueryParams(ActionParams):
    """``prometheus.query``: one instant query; ``expect`` (e.g. ``"> 0"``) checks every sample."""

    query: NonEmptyStr
    expect: ConditionField | None = None


class WaitParams(ActionParams):
    """``prometheus.wait``: poll ``query`` until every sample satisfies ``condition``."""

    query: NonEmptyStr
    condition: ConditionField
    timeout: Duration = DEFAULT_WAIT_TIMEOUT
    interval: Duration = DEFAULT_WAIT_INTERVAL

    @model_validator(mode="after")
    def _positive_and_ordered(self) -> Self:
        if self.timeout.total_seconds() <= 0:
            raise ValueError("timeout must be longer than 0s")
        if self.interval.total_seconds() <= 0:
            raise ValueError("interval must be longer than 0s")
        if self.interval > self.timeout:
            raise ValueError("interval must not be longer than timeout")
        return self


# --- The HTTP API's answers (GET /api/v1/query) -------------------------------------------


class _Api(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class VectorItem(_Api):
    """One series of an instant vector: its labels and ``[timestamp, "value"]``."""

    metric: dict[str, str] = Field(default_factory=dict)
    value: tuple[float, str]


class VectorData(_Api):
    """``resultType: vector``."""

    result_type: Literal["vector"] = Field(alias="resultType")
    result: list[VectorItem]


class ScalarData(_Api):
    """``resultType: scalar``: ``result`` is ``[timestamp, "value"]``."""

    result_type: Literal["scalar"] = Field(alias="resultType")
    result: tuple[float, str]


class MatrixItem(_Api):
    """One series of a range vector: its labels and ``[[timestamp, "value"], …]``."""

    metric: dict[str, str] = Field(default_factory=dict)
    values: list[tuple[float, str]] = Field(default_factory=list)


class MatrixData(_Api):
    """``resultType: matrix`` (a range query, or a range selector in an instant query)."""

    result_type: Literal["matrix"] = Field(alias="resultType")
    result: list[MatrixItem]


class OtherData(_Api):
    """``string``: not something a condition can be checked against."""

    result_type: Literal["string"] = Field(alias="resultType")
    result: Any = None


QueryData = Annotated[
    VectorData | ScalarData | MatrixData | OtherData, Field(discriminator="result_type")
]


class ApiResponse(_Api):
    """The envelope of every Prometheus HTTP API answer."""

    status: Literal["success", "error"]
    data: QueryData | None = None
    error_type: str | None = Field(default=None, alias="errorType")
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)


# --- What the responder hands on ---------------------------------------------------------


class Sample(BaseModel):
    """One value of a query result (a scalar has no labels)."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    value: float

    def output(self) -> dict[str, Any]:
        """As step output: JSON has no NaN or infinities, so those become ``None``."""
        return {
            "labels": dict(self.labels),
            "value": self.value if math.isfinite(self.value) else None,
        }

    def __str__(self) -> str:
        value = format_number(self.value)
        name = self.labels.get("__name__", "")
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()) if k != "__name__")
        if not inner:
            return f"{name} {value}" if name else value
        return f"{name}{{{inner}}} {value}"


class QueryResult(BaseModel):
    """An instant query's typed result."""

    model_config = ConfigDict(frozen=True)

    result_type: Literal["vector", "scalar"]
    samples: list[Sample]

    @property
    def first_value(self) -> float | None:
        """The first sample's value, or None when the result is empty."""
        return self.samples[0].value if self.samples else None

    def describe_values(self) -> str:
        """``name{a="b"} 0.5, …`` (at most a few), or ``no samples``."""
        if not self.samples:
            return "no samples"
        shown = ", ".join(str(sample) for sample in self.samples[:DESCRIBED_VALUES])
        rest = len(self.samples) - DESCRIBED_VALUES
        return f"{shown} and {rest} more" if rest > 0 else shown


class Series(BaseModel):
    """One series of a range query: its labels and its points (unix seconds, value)."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    points: list[tuple[float, float]]


class RangeResult(BaseModel):
    """A range query's typed result: one entry per series."""

    model_config = ConfigDict(frozen=True)

    series: list[Series]


class QueryOutput(ActionOutput):
    """``prometheus.query``: the samples, the first value, and whether ``expect`` held
    (None without ``expect``)."""

    query: str = ""
    result_type: str = ""
    samples: list[dict[str, Any]] = Field(default_factory=list)
    value: float | None = None
    expectation_met: bool | None = None


class WaitOutput(ActionOutput):
    """``prometheus.wait``: the samples that satisfied ``condition`` and the polls it took."""

    satisfied: bool = False
    query: str = ""
    condition: str = ""
    samples: list[dict[str, Any]] = Field(default_factory=list)
    polls: int = 0
