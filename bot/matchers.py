"""Alertmanager label matchers: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"``.

Semantics follow Alertmanager: a missing label matches as the empty string, and
regular expressions are anchored at both ends (``=~"foo"`` does not match ``foobar``).

One parser for every matcher Medic reads: a playbook's ``match:`` and the matchers of an
``alertmanager.silence`` step (checked when playbooks load), hence outside ``bot.playbooks``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import PermanentError

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


class MatcherSyntaxError(PermanentError):
    """A matcher's text or regular expression is invalid."""


class MatchOp(StrEnum):
    """The four Alertmanager matcher operators."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


# Longest first, so ``=~`` is not read as ``=`` followed by a value starting with ``~``.
_OPS = (MatchOp.RE, MatchOp.NRE, MatchOp.NE, MatchOp.EQ)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; regular expressions are compiled once, anchored, at construction."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        """Check the label name and compile the regular expression, if any."""
        if not _NAME.fullmatch(self.name):
            raise MatcherSyntaxError(f"invalid label name {self.name!r}")
        if self.op not in _OPS:
            raise MatcherSyntaxError(f"unknown operator {self.op!r}")
        object.__setattr__(self, "op", MatchOp(self.op))
        if self.op in (MatchOp.RE, MatchOp.NRE):
            object.__setattr__(self, "_regex", _compile(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher; a missing label is the empty string."""
        actual = labels.get(self.name, "")
        if self._regex is None:
            return (actual == self.value) == (self.op is MatchOp.EQ)
        return (self._regex.fullmatch(actual) is not None) == (self.op is MatchOp.RE)

    def __str__(self) -> str:
        """Canonical text, e.g. ``alertname=~"High.*"``; parses back to an equal matcher."""
        return f"{self.name}{self.op}{quote(self.value)}"


def quote(value: str) -> str:
    """``value`` as a double-quoted matcher value, escaping ``\\``, ``"`` and newlines."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _compile(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` anchored at both ends, as Alertmanager does."""
    try:
        # Compiled alone first: ``a)|(b`` must not close the anchoring group early.
        re.compile(pattern)
        return re.compile(rf"(?:{pattern})\Z")
    except re.error as err:
        raise MatcherSyntaxError(f"invalid regular expression {pattern!r}: {err}") from err


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher in Alertmanager's syntax, e.g. ``severity=~"critical|page"``.

    Values are double-quoted (escapes ``\\"``, ``\\\\``, ``\\n``; any other backslash is
    kept, so regex escapes such as ``\\.`` survive) or unquoted (the rest of the text,
    trimmed, with the same escapes).
    """
    pos = _skip_space(text, 0)
    name = _NAME.match(text, pos)
    if name is None:
        raise MatcherSyntaxError(f"{text!r}: expected a label name at position {pos}")
    pos = _skip_space(text, name.end())
    op = next((op for op in _OPS if text.startswith(op, pos)), None)
    if op is None:
        raise MatcherSyntaxError(
            f"{text!r}: expected one of =, !=, =~, !~ after {name.group()!r}, "
            f"got {text[pos : pos + 2]!r}"
        )
    rest = text[pos + len(op) :].strip()
    value = _unquote(text, rest) if rest.startswith('"') else _unescape(text, rest)
    return Matcher(name.group(), op, value)


def _skip_space(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not whitespace."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _unquote(text: str, rest: str) -> str:
    """The value of the quoted string at the start of ``rest``; nothing may follow it."""
    end = 1
    while end < len(rest):
        if rest[end] == "\\":
            end += 2
        elif rest[end] == '"':
            break
        else:
            end += 1
    if end >= len(rest):
        raise MatcherSyntaxError(f"{text!r}: unterminated quoted value")
    if rest[end + 1 :]:
        raise MatcherSyntaxError(f"{text!r}: unexpected {rest[end + 1 :]!r} after the quoted value")
    return _unescape(text, rest[1:end])


def _unescape(text: str, raw: str) -> str:
    """Resolve ``\\"``, ``\\\\`` and ``\\n`` in ``raw``; other backslashes stay literal."""
    out: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == '"':
            raise MatcherSyntaxError(f"{text!r}: unescaped double quote in the value")
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_UNESCAPES.get(following, "\\" + following))
    return "".join(out)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher holds for ``labels`` (true for no matchers)."""
    return all(matcher.matches(labels) for matcher in matchers)
