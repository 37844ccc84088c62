"""Params models of the ``alertmanager.*`` actions and Alertmanager matchers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from bot.actions.contract import ActionOutput, ActionParams
from bot.config import Duration
from bot.matchers import MatcherSyntaxError
from bot.matchers import parse_matcher as parse_playbook_matcher
from responders.common import NonEmptyStr, is_template

_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}
_OPERATORS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}


@dataclass(frozen=True, slots=True)
class Matcher:
    """One Alertmanager matcher, as the silences API v2 wants it."""

    name: str
    value: str
    is_regex: bool
    is_equal: bool

    def text(self) -> str:
        """The matcher as Alertmanager parses it (``name=~"value"``), value quoted."""
        op = _OPERATORS[self.is_regex, self.is_equal]
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{op}"{escaped}"'

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` matches (a missing label is the empty string;
        a regex matches the whole value, as in Alertmanager)."""
        value = labels.get(self.name, "")
        if not self.is_regex:
            return (value == self.value) == self.is_equal
        try:
            hit = re.fullmatch(self.value, value) is not None
        except re.error:
            return False  # Alertmanager refuses such a silence: it matches nothing
        return hit == self.is_equal


def parse_matcher(text: str) -> Matcher:
    """Parse ``name="value"``, ``name!=value``, ``name=~"re"`` or ``name!~"re"``.

    Raises ValueError naming what is wrong.
    """
    match = _MATCHER.fullmatch(text)
    if match is None:
        raise ValueError(
            f'{text!r} is not a matcher such as alertname="X" (operators =, !=, =~, !~)'
        )
    name, op, raw = match.groups()
    return Matcher(name, _unquote(raw, text), is_regex="~" in op, is_equal=op[0] == "=")


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise ValueError(f"{text!r}: stray quote in an unquoted value")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise ValueError(f"{text!r}: unterminated quoted value")
    value: list[str] = []
    chars = iter(raw[1:-1])
    for char in chars:
        if char == '"':
            raise ValueError(f"{text!r}: unescaped quote inside the value")
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise ValueError(f"{text!r}: unknown escape \\{escaped}")
            char = _ESCAPES[escaped]  # noqa: PLW2901 -- the escaped character replaces the pair
        value.append(char)
    return "".join(value)


def _check_matcher(text: str) -> str:
    """Parse now, as Alertmanager's silences API wants it and as a playbook's ``match:`` is
    parsed (valid label name, a regex that compiles), unless the whole matcher is still a
    template (checked again once rendered)."""
    if not text.strip():
        raise ValueError("must not be empty")
    try:
        parse_matcher(text)
        parse_playbook_matcher(text)
    except (ValueError, MatcherSyntaxError) as err:
        if not is_template(text):
            raise ValueError(str(err)) from err
    return text


MatcherText = Annotated[str, AfterValidator(_check_matcher)]


class SilenceParams(ActionParams):
    """``alertmanager.silence``: silence alerts matching every matcher for ``duration``.

    ``comment`` None: a comment naming the Medic incident.
    """

    matchers: list[MatcherText] = Field(min_length=1)
    duration: Duration
    comment: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.duration.total_seconds() <= 0:
            raise ValueError("duration must be longer than 0s")
        return self


class ExpireSilenceParams(ActionParams):
    """``alertmanager.expire_silence``: expire one silence (e.g. one this run created)."""

    silence_id: NonEmptyStr


class SilenceOutput(ActionOutput):
    """``alertmanager.silence``: the silence's id (None in a dry run) and what it mutes."""

    silence_id: str | None = None
    matchers: list[str] = Field(default_factory=list)
    starts_at: str | None = None
    ends_at: str | None = None
    comment: str = ""


class ExpireSilenceOutput(ActionOutput):
    """``alertmanager.expire_silence``: the silence, and whether it was expired."""

    silence_id: str = ""
    expired: bool = False
