"""docs/ holds the reference generated from the models (`medic docs`): the committed pages
equal what the code generates now, so they cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.actions import ActionKind
from bot.cli import main
from bot.reference import DOCS, render_docs

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_committed_page_is_what_the_code_generates(name: str) -> None:
    """Each generated page in docs/ is up to date (else: run `medic docs`)."""
    committed = (DOCS_DIR / name).read_text(encoding="utf-8")
    assert committed == render_docs()[name], f"docs/{name} is stale: run `medic docs`"


def test_medic_docs_writes_every_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`medic docs DIR` writes every page and names each file it wrote."""
    assert main(["docs", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DOCS)
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / name) for name in DOCS]


def test_the_reference_covers_every_action_and_section() -> None:
    """Every action Medic ships and every top-level config section has its own heading."""
    pages = render_docs()
    for action in ("approval", "kubernetes.drain", "pagerduty.page", "slack.notify"):
        assert f"### `{action}`" in pages["actions.md"]
    for section in ("server", "safety", "slack", "pagerduty", "kubernetes", "kafka"):
        assert f"## `{section}`" in pages["configuration.md"]
    assert "echo.say" not in pages["actions.md"]  # installed here, but not Medic's own


def test_the_action_reference_says_what_each_kind_does() -> None:
    """The action reference has a row per action kind saying what the pause, dry run and
    limits do to it and what happens to one found ``running`` after a crash; each action
    then names its kind."""
    page = render_docs()["actions.md"]
    rows = {
        line.split("|")[1].strip(): line
        for line in page.splitlines()
        if line.startswith("| `") and line.split("|")[1].strip().strip("`") in set(ActionKind)
    }
    assert sorted(rows) == sorted(f"`{kind.value}`" for kind in ActionKind)
    assert "waits" in rows["`write`"]
    assert "counted" in rows["`write`"]
    assert "runs again" in rows["`control`"]
    assert "committed with" in rows["`control`"]
    assert "`interrupted`" in rows["`notify`"]
