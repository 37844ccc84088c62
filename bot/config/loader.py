"""Load settings from a YAML file and the environment; report errors as ``file:line: key: reason``.

Reading the file is blocking: it happens once at startup, before the event loop runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.secret_files import (
    env_file_names,
    env_file_values,
    merge,
    resolve_yaml_files,
    secret_keys,
)
from bot.config.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, NotJson, Settings
from bot.errors import ConfigError
from bot.yamlsource import KeyPath, Lines, dotted, line_of, read_yaml

CONFIG_ENV = "MEDIC_CONFIG"


def load_settings(
    path: str | Path | None = None, sections: Mapping[str, type[BaseModel]] | None = None
) -> Settings:
    """Build :class:`Settings` from ``path`` (or ``$MEDIC_CONFIG``, or nothing) plus the env.

    ``sections`` are the config models of installed integrations, by section name: their
    top-level sections are validated by them (absent ones take the model's defaults), unknown
    keys refused at every level even where the model would ignore them; any other unknown
    top-level key is an error. Raises :class:`ConfigError` listing every
    problem, each as ``file:line: key: reason``.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    lines: Lines = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        values, lines = _read_yaml(Path(path))
    extra = {
        name: model for name, model in (sections or {}).items() if name not in Settings.model_fields
    }
    keys = list(secret_keys(Settings))
    for name, model in extra.items():
        keys += secret_keys(model, (name,))
    problems = resolve_yaml_files(values, keys, source, lines)
    from_files, env_problems = env_file_values(keys, ENV_PREFIX, ENV_NESTED_DELIMITER)
    if sections is not None:
        env_problems += _unknown_env_sections({*Settings.model_fields, *sections})
    if problems or env_problems:
        raise ConfigError(env_problems + problems)
    values = merge(values, from_files)
    plugin_values = {name: values.pop(name, None) for name in extra}
    file_vars = env_file_names(keys, ENV_PREFIX, ENV_NESTED_DELIMITER)
    settings: Settings | None = None
    try:
        settings = Settings(**values)
    except ValidationError as err:
        problems += _describe(err, source, lines)
    validated: dict[str, BaseModel] = {}
    for name, model in extra.items():
        section = _with_env(name, plugin_values[name], file_vars)
        try:
            # Unknown keys are errors in every section, whatever the integration's model says
            # (DESIGN's own example is a plain BaseModel, which would drop them).
            validated[name] = model.model_validate(section, extra="forbid")
        except ValidationError as err:
            problems += _describe(err, source, lines, prefix=(name,))
    if problems or settings is None:
        raise ConfigError(problems)
    return settings.with_sections(validated).with_origin(source, lines)


def _unknown_env_sections(known: set[str]) -> list[str]:
    """``MEDIC_<SECTION>__…`` variables whose section is none of ``known`` (a misspelt
    ``MEDIC_SEVER__PORT`` would otherwise be ignored, as the settings library reads only the
    sections it knows). Variables without the delimiter (``MEDIC_CONFIG``, ``MEDIC_URL``…)
    name no section and are not looked at."""
    problems = []
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        section, delimiter, _ = upper[len(ENV_PREFIX) :].partition(ENV_NESTED_DELIMITER)
        if delimiter and section.lower() not in known:
            problems.append(f"<env>:0: {section.lower()}: unknown section (from {name})")
    return problems


def problem_at(settings: Settings, loc: KeyPath, reason: str) -> str:
    """A problem with ``loc`` of loaded ``settings``, found by a later check (against the
    installed actions, say), worded as :func:`load_settings` words its own."""
    source, lines = settings.origin
    return _problem(loc, reason, source, lines)


def _with_env(name: str, section: object, file_vars: set[str]) -> object:
    """``section`` (from the YAML) with ``MEDIC_<NAME>__<KEY>`` environment overrides (the
    ``…_FILE`` variables of its secrets were read already)."""
    prefix = f"{ENV_PREFIX}{name.upper()}{ENV_NESTED_DELIMITER}"
    overrides = {
        k: v
        for k, v in os.environ.items()
        if k.upper().startswith(prefix) and k.upper() not in file_vars
    }
    if not overrides:
        return {} if section is None else section
    merged: dict[str, Any] = dict(section) if isinstance(section, dict) else {}
    for key, value in overrides.items():
        parts = key[len(prefix) :].lower().split(ENV_NESTED_DELIMITER)
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[parts[-1]] = _complex_or_text(value)
    return merged


def _complex_or_text(value: str) -> object:
    """A list or mapping written as JSON (``MEDIC_KUBERNETES__NAMESPACES='["shop"]'``), as
    Medic's own sections read them; any other value as the text it is (one that looks like
    JSON but is not, as :class:`NotJson`)."""
    if value.lstrip()[:1] in ("[", "{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return NotJson(value)
        if isinstance(decoded, list | dict):
            return decoded
    return value


def _read_yaml(path: Path) -> tuple[dict[str, Any], Lines]:
    data, lines = read_yaml(path)
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: <root>: must be a mapping of sections"])
    return data, lines


def _describe(
    err: ValidationError, source: str, lines: Mapping[KeyPath, int], prefix: KeyPath = ()
) -> list[str]:
    """Each problem of ``err`` as :func:`_problem` words it. ``prefix``: the section
    validated alone."""
    problems = []
    for error in err.errors(include_url=False):  # the input is looked at, never printed
        reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        reason = NotJson.REASON if isinstance(error["input"], NotJson) else reason
        loc: KeyPath = (*prefix, *error["loc"])
        problems.append(_problem(loc, reason.removeprefix("Value error, "), source, lines))
    return problems


def _problem(loc: KeyPath, reason: str, source: str, lines: Mapping[KeyPath, int]) -> str:
    """``file:line: key: reason``; for a key set by a ``MEDIC_*`` variable,
    ``<env>:0: key: reason (from VARIABLE)``."""
    env_name = _env_source(loc)
    if env_name is not None:
        return f"<env>:0: {dotted(loc)}: {reason} (from {env_name})"
    return f"{source}:{line_of(loc, lines)}: {dotted(loc)}: {reason}"


def _env_source(loc: KeyPath) -> str | None:
    """The ``MEDIC_*`` variable that set ``loc`` (or one of its parents), if any."""
    present = {name.upper() for name in os.environ}
    for n in range(len(loc), 0, -1):
        parts = [str(part).upper() for part in loc[:n]]
        name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(parts)
        for candidate in (name, name + "_FILE"):
            if candidate in present:
                return candidate
    return None
