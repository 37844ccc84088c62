"""Secrets from files: ``<key>_file: /path`` in YAML, ``MEDIC_<SECTION>__<KEY>_FILE`` in the env.

Every key whose type holds a :class:`~pydantic.SecretStr` (found by walking the settings
model, so a new secret key is covered without being listed anywhere) may be given as a file
instead, e.g. a Kubernetes Secret mounted as files. A single secret is the file's text
without its trailing newline; a mapping or list of secrets (``pagerduty.routing_keys``,
``pagerduty.webhook_secrets``, ``server.api_users``) is the file's YAML (or JSON).

Reading is blocking: it happens once at startup, before the event loop runs.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr

from bot.yamlsource import KeyPath, Lines, dotted, line_of

FILE_SUFFIX = "_file"


@dataclass(frozen=True, slots=True)
class SecretKey:
    """A secret setting: where it lives and whether its file holds YAML or plain text."""

    path: tuple[str, ...]
    structured: bool

    def env_name(self, prefix: str, delimiter: str) -> str:
        """``MEDIC_SLACK__BOT_TOKEN_FILE`` for ``slack.bot_token``."""
        return prefix + delimiter.join(p.upper() for p in self.path) + FILE_SUFFIX.upper()


def secret_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[SecretKey]:
    """Every secret key of ``model`` and of the sections nested in it."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = _model_of(annotation)
        if nested is not None:
            yield from secret_keys(nested, (*prefix, name))
        elif _holds_secret(annotation):
            yield SecretKey((*prefix, name), structured=_is_collection(annotation))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_holds_secret(arg) for arg in get_args(annotation))


def _is_collection(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in {Union, types.UnionType}:
        return any(_is_collection(arg) for arg in get_args(annotation) if arg is not type(None))
    return origin in {dict, list, Mapping}


def resolve_yaml_files(
    values: dict[str, Any], keys: list[SecretKey], source: str, lines: Lines
) -> list[str]:
    """Replace each ``<key>_file`` in ``values`` by the file's secret, in place; problems as
    ``file:line: key: reason``."""
    problems: list[str] = []
    for key in keys:
        section = _parent(values, key.path)
        if section is None:
            continue
        file_key = key.path[-1] + FILE_SUFFIX
        if file_key not in section:
            continue
        loc: KeyPath = (*key.path[:-1], file_key)
        where = f"{source}:{line_of(loc, lines)}: {dotted(loc)}"
        if section.get(key.path[-1]) is not None:
            problems.append(f"{where}: set either {key.path[-1]} or {file_key}, not both")
            continue
        path = section.pop(file_key)
        if not isinstance(path, str) or not path:
            problems.append(f"{where}: must be a file path")
            continue
        value, reason = read_secret(Path(path), structured=key.structured)
        if reason is not None:
            problems.append(f"{where}: {reason}")
            continue
        section[key.path[-1]] = value
    return problems


def env_file_values(
    keys: list[SecretKey], prefix: str, delimiter: str, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The secrets named by ``MEDIC_…_FILE`` variables, as nested values; and problems as
    ``<env>:0: key: reason (from VARIABLE)``."""
    env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key in keys:
        name = key.env_name(prefix, delimiter)
        if name not in env:
            continue
        plain = name.removesuffix(FILE_SUFFIX.upper())
        if plain in env:
            problems.append(f"<env>:0: {dotted(key.path)}: set either {plain} or {name}, not both")
            continue
        value, reason = read_secret(Path(env[name]), structured=key.structured)
        if reason is not None:
            problems.append(f"<env>:0: {dotted(key.path)}: {reason} (from {name})")
            continue
        target = values
        for part in key.path[:-1]:
            target = target.setdefault(part, {})
        target[key.path[-1]] = value
    return values, problems


def env_file_names(keys: list[SecretKey], prefix: str, delimiter: str) -> set[str]:
    """The ``MEDIC_…_FILE`` variable names (upper case) the settings understand."""
    return {key.env_name(prefix, delimiter) for key in keys}


def read_secret(path: Path, *, structured: bool) -> tuple[Any, str | None]:
    """The secret in ``path`` (text without the trailing newline, or parsed YAML), or a
    reason it cannot be used. The reason never quotes the file's content."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        return None, f"cannot read {path}: {err.strerror}"
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text"
    if not structured:
        secret = text.rstrip("\r\n")
        if not secret:
            return None, f"{path} is empty"
        return secret, None
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        return None, f"{path} is not valid YAML or JSON{line}"


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, nested mappings merged key by key."""
    merged = dict(base)
    for name, value in override.items():
        current = merged.get(name)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[name] = merge(current, value)
        else:
            merged[name] = value
    return merged


def _parent(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = values
    for part in path[:-1]:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, dict) else None
