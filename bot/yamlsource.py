"""Read YAML keeping the line of every key, so errors can say ``file:line: key: reason``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.errors import ConfigError

# libyaml's SafeLoader when PyYAML was built with it: ten times faster (`medic check` starts
# fast); the same documents, nodes and marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ``<<: *base`` merges a mapping in; its keys may be overridden, and it is no key itself.
_MERGE_TAG = "tag:yaml.org,2002:merge"

KeyPath = tuple[str | int, ...]
Lines = dict[KeyPath, int]


def read_yaml(path: Path) -> tuple[Any, Lines]:
    """Parse ``path``; return the data and the 1-based line of each key path.

    Raises :class:`ConfigError` with ``file:line: <yaml>: reason`` on unreadable files or
    syntax errors, and ``file:line: key: duplicate key (first at line N)`` for a key written
    twice in one mapping (YAML would keep the last one silently).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}:0: <file>: cannot read: {err.strerror}"]) from err
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 -- a SafeLoader (libyaml's when built)
    except yaml.YAMLError:
        # Parse again with the pure-Python loader: its messages are the ones users see.
        try:
            yaml.compose(text, Loader=yaml.SafeLoader)
            yaml.safe_load(text)
        except yaml.MarkedYAMLError as err:
            line = err.problem_mark.line + 1 if err.problem_mark else 0
            raise ConfigError([f"{path}:{line}: <yaml>: {err.problem}"]) from err
        raise
    lines: Lines = {}
    duplicates: list[tuple[KeyPath, int, int]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates)
    if duplicates:
        raise ConfigError(
            [
                f"{path}:{line}: {dotted(loc)}: duplicate key (first at line {first})"
                for loc, line, first in duplicates
            ]
        )
    return data, lines


def _index_lines(
    node: yaml.Node, path: KeyPath, lines: Lines, duplicates: list[tuple[KeyPath, int, int]]
) -> None:
    """Record the line of every key path under ``node``; append ``(key path, line, first
    line)`` to ``duplicates`` for each key a mapping holds twice."""
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                key = (key_node.tag, key_node.value)
                if key in first:
                    duplicates.append((child, line, first[key]))
                first.setdefault(key, line)
            lines[child] = line
            _index_lines(value_node, child, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines, duplicates)


def line_of(loc: KeyPath, lines: Mapping[KeyPath, int]) -> int:
    """The line of ``loc``, or of its nearest ancestor that has one (0 when none)."""
    return next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), 0)


def dotted(loc: KeyPath) -> str:
    """``steps.2.with.namespace`` from a key path."""
    return ".".join(str(part) for part in loc) or "<root>"


def validation_problems(
    err: ValidationError, source: str, lines: Mapping[KeyPath, int], prefix: KeyPath = ()
) -> list[str]:
    """Each pydantic error as ``file:line: key: reason``."""
    problems = []
    for error in err.errors(include_input=False, include_url=False):
        loc: KeyPath = (*prefix, *error["loc"])
        reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        reason = reason.removeprefix("Value error, ")
        problems.append(f"{source}:{line_of(loc, lines)}: {dotted(loc)}: {reason}")
    return problems
