"""Load and validate playbooks; every problem reported as ``file:line: key: reason``.

Checked at load (startup and ``medic check``): the schema, matcher syntax, unknown actions
(with a suggestion), each step's ``with:`` against its action's params model (templated
values are checked again once rendered), template and expression syntax, each
``steps.<id>.output.<field>`` against the output model of that earlier step's action,
duplicate step ids and duplicate playbook names; and, with them, that each
``safety.limits`` entry names a registered action (:func:`limit_problems`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.actions import ActionRegistry
from bot.config.loader import problem_at
from bot.config.models import PlaybooksConfig
from bot.config.settings import Settings
from bot.errors import ConfigError
from bot.matchers import Matcher, MatcherSyntaxError, parse_matcher
from bot.playbooks.catalogue import catalogue_dirs
from bot.playbooks.models import PlaybookSpec, StepSpec
from bot.playbooks.outputs import problems as output_problems
from bot.playbooks.playbook import Playbook, PlaybookSet
from bot.playbooks.templates import check_expression, check_template
from bot.yamlsource import KeyPath, dotted, line_of, read_yaml, validation_problems

SUFFIXES = (".yaml", ".yml")


def playbook_files(dirs: Iterable[Path]) -> list[Path]:
    """The playbook files of ``dirs``, sorted within each directory."""
    return [p for d in dirs for p in sorted(d.iterdir()) if p.suffix in SUFFIXES and p.is_file()]


def load_playbooks(
    dirs: Sequence[Path],
    registry: ActionRegistry,
    *,
    shipped: Sequence[Path] = (),
    flap_window: timedelta = timedelta(0),
) -> PlaybookSet:
    """Every playbook of the ``shipped`` catalogue folders, then of ``dirs``; a playbook of
    ``dirs`` replaces the shipped one of the same name (a user's own ``fallback``, say).
    Raises :class:`ConfigError` listing all problems."""
    problems = [
        f"{directory}:0: playbooks.dirs: not a directory"
        for directory in [*shipped, *dirs]
        if not directory.is_dir()
    ]
    if problems:
        raise ConfigError(problems)
    catalogue = _load_all(playbook_files(shipped), registry, problems)
    own = _load_all(playbook_files(dirs), registry, problems)
    if problems:
        raise ConfigError(problems)
    return PlaybookSet(list({**catalogue, **own}.values()), flap_window=flap_window)


def _load_all(
    files: list[Path], registry: ActionRegistry, problems: list[str]
) -> dict[str, Playbook]:
    """The playbooks of ``files`` by name; problems (and duplicate names) appended."""
    playbooks: dict[str, Playbook] = {}
    for path in files:
        try:
            playbook = _load_file(path, registry)
        except ConfigError as err:
            problems += err.problems
            continue
        if playbook.name in playbooks:
            first = playbooks[playbook.name].source
            problems.append(
                f"{path}:1: name: playbook {playbook.name!r} is also defined in {first}"
            )
            continue
        playbooks[playbook.name] = playbook
    return playbooks


def _load_file(path: Path, registry: ActionRegistry) -> Playbook:
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: <root>: a playbook is a mapping (name, match, steps…)"])
    try:
        spec = PlaybookSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(validation_problems(err, str(path), lines)) from err
    checker = _Checker(path, lines)
    matchers = checker.matchers(spec.match)
    if spec.target is not None:
        checker.template(spec.target, ("target",))
    checker.steps(spec.steps, registry)
    if checker.problems:
        raise ConfigError(checker.problems)
    return Playbook(spec=spec, matchers=tuple(matchers), source=path)


class _Checker:
    """Collects the problems of one file."""

    def __init__(self, path: Path, lines: Mapping[KeyPath, int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[str] = []

    def report(self, loc: KeyPath, reason: str) -> None:
        self.problems.append(f"{self.path}:{line_of(loc, self.lines)}: {dotted(loc)}: {reason}")

    def matchers(self, texts: list[str]) -> list[Matcher]:
        found = []
        for index, text in enumerate(texts):
            try:
                found.append(parse_matcher(text))
            except MatcherSyntaxError as err:
                self.report(("match", index), str(err))
        return found

    def template(self, value: Any, loc: KeyPath) -> None:
        if isinstance(value, str):
            error = check_template(value)
            if error is not None:
                self.report(loc, f"template syntax: {error}")
        elif isinstance(value, dict):
            for key, item in value.items():
                self.template(item, (*loc, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.template(item, (*loc, index))

    def steps(self, steps: list[StepSpec], registry: ActionRegistry) -> None:
        earlier: dict[str, tuple[str, type[BaseModel] | None]] = {}
        for index, step in enumerate(steps):
            loc: KeyPath = ("steps", index)
            if step.id in earlier:
                self.report((*loc, "id"), f"duplicate step id {step.id!r}")
            for field in ("when", "unless"):
                expression = getattr(step, field)
                error = None if expression is None else check_expression(expression)
                if error is not None:
                    self.report((*loc, field), f"expression syntax: {error}")
                elif expression is not None:
                    for problem in output_problems(expression, expression=True, earlier=earlier):
                        self.report((*loc, field), problem)
            self.template(step.with_, (*loc, "with"))
            self.outputs(step.with_, (*loc, "with"), earlier)
            self.params(step, registry, loc)
            spec = registry.get(step.uses)
            earlier[step.id] = (step.uses, spec.output if spec is not None else None)

    def outputs(
        self, value: Any, loc: KeyPath, earlier: Mapping[str, tuple[str, type[BaseModel] | None]]
    ) -> None:
        """Report output references in the templates of ``value`` that cannot hold."""
        if isinstance(value, str):
            for problem in output_problems(value, expression=False, earlier=earlier):
                self.report(loc, problem)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.outputs(item, (*loc, str(key)), earlier)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.outputs(item, (*loc, index), earlier)

    def params(self, step: StepSpec, registry: ActionRegistry, loc: KeyPath) -> None:
        spec = registry.get(step.uses)
        if spec is None:
            self.report((*loc, "uses"), registry.unknown(step.uses))
            return
        fields = set(spec.params.model_fields) | {
            f.alias for f in spec.params.model_fields.values() if f.alias
        }
        templated = {key for key, value in step.with_.items() if has_template(value)}
        for key in sorted(templated - fields):
            self.report((*loc, "with", key), "unknown key")
        concrete = {k: v for k, v in step.with_.items() if k not in templated}
        try:
            spec.params.model_validate(concrete)
        except ValidationError as err:
            for error in err.errors(include_input=False, include_url=False):
                if templated and (not error["loc"] or error["loc"][0] in templated):
                    continue  # depends on templated values: checked once rendered, at run time
                reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
                self.report((*loc, "with", *error["loc"]), reason.removeprefix("Value error, "))


def has_template(value: Any) -> bool:
    """True when ``value`` holds a Jinja template anywhere."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


def limit_problems(settings: Settings, registry: ActionRegistry) -> list[str]:
    """A ``safety.limits`` entry for an action ``registry`` does not hold (a typo) would
    limit nothing: each as ``file:line: safety.limits.<name>: unknown action …``."""
    return [
        problem_at(settings, ("safety", "limits", name), registry.unknown(name))
        for name in settings.safety.limits
        if name not in registry
    ]


def missing_dirs(settings: Settings) -> list[str]:
    """``playbooks.dirs`` entries that are no directory, each blamed on its config line as
    ``file:line: playbooks.dirs.<i>: not a directory: <path>``."""
    return [
        problem_at(settings, ("playbooks", "dirs", index), f"not a directory: {directory}")
        for index, directory in enumerate(settings.playbooks.dirs)
        if not Path(directory).is_dir()
    ]


def load_configured(config: PlaybooksConfig, registry: ActionRegistry) -> PlaybookSet:
    """``playbooks.catalogues`` (shipped), then ``playbooks.dirs`` (the user's own), with
    ``playbooks.flap_window``."""
    return load_playbooks(
        [Path(d) for d in config.dirs],
        registry,
        shipped=catalogue_dirs(config.catalogues),
        flap_window=config.flap_window,
    )
