"""``medic check`` resolves ``steps.<id>.output.<field>`` in ``when``, ``unless`` and
templates against the output model of that earlier step's action: a typo fails at load,
``file:line: key: reason``, not at 3 a.m."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

from enginekit import write_playbooks

HEAD = """\
name: typed
match: ['alertname="X"']
steps:
  - id: history
    uses: kubernetes.rollout_history
    with: {namespace: shop, deployment: cart}
"""
FIELDS = "current_revision, deployment, images, last_change_age_s, namespace, revisions"


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            '    when: "steps.history.output.last_change_age > 60"\n',
            "typed.yaml:10: steps.1.when: steps.history.output.last_change_age: "
            "kubernetes.rollout_history has no output field 'last_change_age' "
            f"(it has: {FIELDS})",
        ),
        (
            "    unless: \"steps.history.output.get('revision') == 3\"\n",
            "typed.yaml:10: steps.1.unless: steps.history.output.revision: "
            "kubernetes.rollout_history has no output field 'revision'",
        ),
        (
            '    when: "steps.histroy.output.current_revision"\n',
            "typed.yaml:10: steps.1.when: steps.histroy.output: no earlier step 'histroy'",
        ),
    ],
)
def test_an_unknown_output_field_in_when_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, problem: str
) -> None:
    """A misspelt field (attribute, ``.get``) or step id in ``when``/``unless`` is reported
    with the file, the line, the key and the fields the action's output has."""
    note = "  - id: note\n    uses: incident.note\n    with: {text: hi}\n"
    directory = write_playbooks(tmp_path, typed=HEAD + note + step)
    assert main(["check", str(directory)]) == 1
    assert problem in capsys.readouterr().err


def test_an_unknown_output_field_in_a_template_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same check holds inside a ``with:`` template, at the key's line."""
    step = (
        "  - id: note\n    uses: incident.note\n    with:\n"
        '      text: "at revision {{ steps.history.output.curent_revision }}"\n'
    )
    directory = write_playbooks(tmp_path, typed=HEAD + step)
    assert main(["check", str(directory)]) == 1
    err = capsys.readouterr().err
    assert "typed.yaml:10: steps.1.with.text: steps.history.output.curent_revision: " in err


def test_known_fields_and_dry_run_fields_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Declared fields (by attribute, item or ``.get``), the dry-run fields ``would`` and
    ``params``, and the whole output pass."""
    step = (
        "  - id: note\n    uses: incident.note\n    with:\n"
        "      text: \"{{ steps.history.output['images'] }} {{ steps.history.output.would }}"
        ' {{ steps.history.output | tojson }}"\n'
        "    when: \"steps.history.output.get('current_revision') and "
        '(steps.history.output.last_change_age_s or 0) > 60"\n'
        '  - id: after\n    uses: incident.note\n    with: {text: "{{ steps.note.output.text }}"}\n'
    )
    directory = write_playbooks(tmp_path, typed=HEAD + step)
    assert main(["check", str(directory)]) == 0, capsys.readouterr().err
