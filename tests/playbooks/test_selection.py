"""Which playbooks an alert selects does not depend on how the set finds its candidates:
the set only checks the playbooks that could match an alert's ``alertname`` (or whichever
label most of them pin with ``=``), and must choose exactly what checking every playbook in
priority order chooses."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.matchers import Matcher, MatchOp
from bot.playbooks.models import PlaybookSpec
from bot.playbooks.playbook import Playbook, PlaybookSet

LABELS = ("alertname", "team", "severity")
VALUES = ("", "a", "b", "c")

MATCHERS = st.lists(
    st.builds(
        Matcher,
        name=st.sampled_from(LABELS),
        op=st.sampled_from(list(MatchOp)),
        value=st.sampled_from([*VALUES, "a|b", ".*"]),
    ),
    max_size=3,
)


@st.composite
def playbooks(draw: st.DrawFn) -> list[Playbook]:
    """Up to eight playbooks: regular, fallback or ignore, with any priority and matchers
    (none: manual only)."""
    found = []
    for index in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["regular", "fallback", "ignore"]))
        spec = PlaybookSpec.model_construct(
            name=f"p{index}",
            priority=draw(st.integers(-1, 1)),
            fallback=kind == "fallback",
            ignore=kind == "ignore",
        )
        found.append(Playbook(spec, tuple(draw(MATCHERS)), Path(f"p{index}.yaml")))
    return found


def _every_playbook_in_order(
    candidates: list[Playbook], labels: dict[str, str]
) -> tuple[tuple[str, ...], str | None]:
    ordered = sorted(candidates, key=lambda p: (-p.spec.priority, p.name))
    for playbook in ordered:
        if playbook.spec.ignore and playbook.matches(labels):
            return (), playbook.name
    regular = [p for p in ordered if not p.spec.fallback and not p.spec.ignore]
    chosen = [p.name for p in regular if p.matches(labels)]
    if not chosen:
        chosen = [p.name for p in ordered if p.spec.fallback and p.matches(labels)]
    return tuple(chosen), None


@given(
    candidates=playbooks(),
    labels=st.dictionaries(st.sampled_from(LABELS), st.sampled_from(VALUES), max_size=3),
)
def test_selection_is_that_of_checking_every_playbook(
    candidates: list[Playbook], labels: dict[str, str]
) -> None:
    """For any playbooks and labels, the set selects the same playbooks, in the same order,
    and the same ``ignore`` playbook, as checking every one of them in priority order."""
    selection = PlaybookSet(candidates).select(labels)
    ignored_by = None if selection.ignored_by is None else selection.ignored_by.name
    assert (tuple(p.name for p in selection.playbooks), ignored_by) == _every_playbook_in_order(
        candidates, labels
    )
