"""Load settings from a YAML file and the environment; report errors as ``file:line: key: reason``.

Reading the file is blocking: it happens once at startup, before the event loop runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings
from bot.errors import ConfigError

CONFIG_ENV = "MEDIC_CONFIG"
_Path = tuple[str | int, ...]


def load_settings(path: str | Path | None = None) -> Settings:
    """Build :class:`Settings` from ``path`` (or ``$MEDIC_CONFIG``, or nothing) plus the env.

    Raises :class:`ConfigError` listing every problem, each as ``file:line: key: reason``.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    lines: dict[_Path, int] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        values, lines = _read_yaml(Path(path))
    try:
        return Settings(**values)
    except ValidationError as err:
        raise ConfigError(_describe(err, source, lines)) from err


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[_Path, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}:0: <file>: cannot read: {err.strerror}"]) from err
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 0
        raise ConfigError([f"{path}:{line}: <yaml>: {err.problem}"]) from err
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: <root>: must be a mapping of sections"])
    lines: dict[_Path, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: _Path, lines: dict[_Path, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines)


def _describe(err: ValidationError, source: str, lines: Mapping[_Path, int]) -> list[str]:
    problems = []
    for error in err.errors(include_input=False, include_url=False):
        loc: _Path = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "<root>"
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        env_name = _env_source(loc)
        if env_name is not None:
            problems.append(f"<env>:0: {key}: {reason} (from {env_name})")
            continue
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), 0)
        problems.append(f"{source}:{line}: {key}: {reason}")
    return problems


def _env_source(loc: _Path) -> str | None:
    """The ``MEDIC_*`` variable that set ``loc`` (or one of its parents), if any."""
    present = {name.upper() for name in os.environ}
    for n in range(len(loc), 0, -1):
        parts = [str(part).upper() for part in loc[:n]]
        name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(parts)
        if name in present:
            return name
    return None
