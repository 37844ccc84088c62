"""Loaded playbooks and how alerts select them (matching and grouping)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.matchers import Matcher, MatchOp, matches_all
from bot.playbooks.models import PlaybookSpec


@dataclass(frozen=True, slots=True)
class Playbook:
    """A validated playbook with its parsed matchers and the file it came from."""

    spec: PlaybookSpec
    matchers: tuple[Matcher, ...]
    source: Path

    @property
    def name(self) -> str:
        """The playbook's name."""
        return self.spec.name

    @property
    def manual_only(self) -> bool:
        """A playbook without matchers only runs when a human asks."""
        return not self.matchers

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every matcher holds (manual-only playbooks never match)."""
        return bool(self.matchers) and matches_all(self.matchers, labels)

    def incident_key(self, labels: Mapping[str, str]) -> str:
        """``<name>:<group_by values>``: alerts with the same key share an incident."""
        values = {name: labels.get(name, "") for name in self.spec.group_by}
        return f"{self.name}:{json.dumps(values, sort_keys=True, separators=(',', ':'))}"


@dataclass(frozen=True, slots=True)
class Selection:
    """The playbooks an alert triggers; the first fixes the incident key. ``ignored_by``:
    an ``ignore`` playbook matched, so the alert opens no incident and runs nothing."""

    playbooks: tuple[Playbook, ...]
    ignored_by: Playbook | None = None

    @property
    def leader(self) -> Playbook | None:
        """Highest priority, then name."""
        return self.playbooks[0] if self.playbooks else None


class _Candidates:
    """Playbooks in priority order, indexed by the label most of them match with ``=``
    (``alertname``, usually): an alert is only checked against the playbooks that name
    its value and those that do not pin that label at all, in the same order. Every alert
    is selected once, and a catalogue has dozens of playbooks."""

    def __init__(self, ordered: list[Playbook]) -> None:
        pinned = Counter(m.name for p in ordered for m in set(p.matchers) if m.op is MatchOp.EQ)
        self._label = pinned.most_common(1)[0][0] if pinned else ""
        self._unpinned = [p for p in ordered if self._pin(p) is None]
        self._by_value: dict[str, list[Playbook]] = {}
        for value in {v for p in ordered if (v := self._pin(p)) is not None}:
            self._by_value[value] = [p for p in ordered if self._pin(p) in (None, value)]

    def _pin(self, playbook: Playbook) -> str | None:
        """The value ``playbook`` requires of the indexed label (None: any value)."""
        return next(
            (m.value for m in playbook.matchers if m.name == self._label and m.op is MatchOp.EQ),
            None,
        )

    def of(self, labels: Mapping[str, str]) -> list[Playbook]:
        """The playbooks that may match ``labels``, in priority order."""
        return self._by_value.get(labels.get(self._label, ""), self._unpinned)


class PlaybookSet:
    """All loaded playbooks, with the grouping rule that comes with them: an alert firing
    again within ``flap_window`` of its incident resolving reopens it (0: never)."""

    def __init__(self, playbooks: list[Playbook], *, flap_window: timedelta = timedelta(0)) -> None:
        self.flap_window = flap_window
        self._by_name = {p.name: p for p in playbooks}
        ordered = sorted(playbooks, key=lambda p: (-p.spec.priority, p.name))
        self._ignore = _Candidates([p for p in ordered if p.spec.ignore])
        self._regular = _Candidates(
            [p for p in ordered if not p.spec.fallback and not p.spec.ignore]
        )
        self._fallback = _Candidates([p for p in ordered if p.spec.fallback])

    def select(self, labels: Mapping[str, str]) -> Selection:
        """Nothing when an ``ignore`` playbook matches; else every matching regular
        playbook, and the matching fallbacks only when none did."""
        ignoring = next((p for p in self._ignore.of(labels) if p.matches(labels)), None)
        if ignoring is not None:
            return Selection((), ignored_by=ignoring)
        chosen = [p for p in self._regular.of(labels) if p.matches(labels)]
        if not chosen:
            chosen = [p for p in self._fallback.of(labels) if p.matches(labels)]
        return Selection(tuple(chosen))

    def get(self, name: str) -> Playbook | None:
        """The playbook called ``name``."""
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Playbook]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
