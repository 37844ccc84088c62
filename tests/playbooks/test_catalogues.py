"""``playbooks.catalogues`` and ``playbooks.dirs``: the shipped catalogues load
by name, the user's own directories are added after them (a playbook of the same name
replaces the shipped one), ``[]`` turns the shipped ones off; ``ignore`` playbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.models import PlaybooksConfig
from bot.errors import ConfigError
from bot.integrations import action_registry
from bot.playbooks.catalogue import CATALOGUES, catalogue_dir, catalogue_root
from bot.playbooks.loader import load_configured, load_playbooks

REGISTRY = action_registry()
MINE = (
    "name: {name}\n"
    "match: ['alertname=\"Mine\"']\n"
    "steps:\n"
    "  - id: say\n"
    "    uses: incident.note\n"
    "    with: {{text: mine}}\n"
)


def own_dir(tmp_path: Path, *names: str) -> Path:
    """A user's playbook directory with one playbook per name."""
    folder = tmp_path / "own"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.yaml").write_text(MINE.format(name=name))
    return folder


def names_in(catalogue: str) -> set[str]:
    """The playbook names of one shipped catalogue."""
    return {p.name for p in load_playbooks([catalogue_dir(catalogue)], REGISTRY)}


def test_the_shipped_catalogues_are_the_folders_of_the_root() -> None:
    """Every folder of the catalogue root is a catalogue the config can name, and back."""
    folders = {p.name for p in catalogue_root().iterdir() if p.is_dir()}
    assert folders == set(CATALOGUES)
    assert set(PlaybooksConfig().catalogues) == folders


def test_default_loads_both_catalogues() -> None:
    """The default config loads dwcp and kubernetes: the union of their playbooks."""
    loaded = load_configured(PlaybooksConfig(), REGISTRY)
    assert {p.name for p in loaded} == names_in("dwcp") | names_in("kubernetes")
    assert "auto-rollback" in names_in("dwcp")
    assert "ignore-heartbeats" in names_in("kubernetes")


@pytest.mark.parametrize("catalogue", CATALOGUES)
def test_one_catalogue_alone(catalogue: str) -> None:
    """Naming one catalogue loads exactly its playbooks."""
    loaded = load_configured(PlaybooksConfig(catalogues=[catalogue]), REGISTRY)
    assert {p.name for p in loaded} == names_in(catalogue)


def test_dirs_are_added_after_the_catalogues(tmp_path: Path) -> None:
    """``playbooks.dirs`` adds the user's playbooks to the shipped ones."""
    config = PlaybooksConfig(dirs=[str(own_dir(tmp_path, "mine"))])
    loaded = {p.name for p in load_configured(config, REGISTRY)}
    assert loaded == names_in("dwcp") | names_in("kubernetes") | {"mine"}


def test_no_catalogue_leaves_only_the_users_playbooks(tmp_path: Path) -> None:
    """``catalogues: []`` turns every shipped catalogue off."""
    config = PlaybooksConfig(catalogues=[], dirs=[str(own_dir(tmp_path, "mine"))])
    assert {p.name for p in load_configured(config, REGISTRY)} == {"mine"}


def test_a_users_playbook_replaces_the_shipped_one_of_its_name(tmp_path: Path) -> None:
    """A ``fallback`` of the user's own replaces the DWCP catalogue's (to page, say)."""
    folder = own_dir(tmp_path, "fallback")
    loaded = load_configured(PlaybooksConfig(dirs=[str(folder)]), REGISTRY)
    fallback = loaded.get("fallback")
    assert fallback is not None
    assert fallback.source == folder / "fallback.yaml"
    assert len(loaded) == len(names_in("dwcp") | names_in("kubernetes"))


def test_duplicate_names_among_the_users_dirs_are_still_errors(tmp_path: Path) -> None:
    """Two of the user's own playbooks with one name: ``file:1: name: …`` as before."""
    first = own_dir(tmp_path, "mine")
    second = tmp_path / "more"
    second.mkdir()
    (second / "again.yaml").write_text(MINE.format(name="mine"))
    with pytest.raises(ConfigError) as caught:
        load_configured(PlaybooksConfig(dirs=[str(first), str(second)]), REGISTRY)
    assert caught.value.problems == [
        f"{second / 'again.yaml'}:1: name: playbook 'mine' is also defined in {first / 'mine.yaml'}"
    ]


@pytest.mark.parametrize(
    ("labels", "ignored"),
    [
        ({"alertname": "Watchdog", "severity": "none"}, True),
        ({"alertname": "InfoInhibitor", "severity": "none", "namespace": "x"}, True),
        ({"alertname": "KubePodCrashLooping", "severity": "warning"}, False),
    ],
)
def test_heartbeat_alerts_are_ignored(labels: dict[str, str], ignored: bool) -> None:
    """Watchdog and InfoInhibitor select the kubernetes catalogue's ignore playbook: no
    playbook to run, nothing to lead an incident."""
    selection = load_configured(PlaybooksConfig(), REGISTRY).select(labels)
    assert (selection.ignored_by is not None) is ignored
    if ignored:
        assert selection.playbooks == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "name: x\nmatch: ['a=\"b\"']\nignore: true\nsteps:\n  - {id: s, uses: incident.note,"
            " with: {text: t}}\n",
            "<root>: ignore: true takes match and no steps (nor fallback)",
        ),
        ("name: x\nignore: true\n", "<root>: ignore: true takes match and no steps (nor fallback)"),
        (
            "name: x\nmatch: ['a=\"b\"']\n",
            "<root>: steps: a playbook needs at least one step (or ignore: true)",
        ),
    ],
    ids=["ignore-with-steps", "ignore-without-match", "no-steps"],
)
def test_ignore_playbooks_are_checked(tmp_path: Path, text: str, problem: str) -> None:
    """An ``ignore`` playbook has matchers and no steps; any other playbook has steps."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_playbooks([folder], REGISTRY)
    assert [p.split(":", 2)[2].strip() for p in caught.value.problems] == [problem]


def test_a_key_written_twice_in_a_playbook_is_refused(tmp_path: Path) -> None:
    """YAML would keep the last of two equal keys silently (a second ``with`` dropping the
    first's parameters): the loader refuses it as ``file:line: key: duplicate key``."""
    folder = tmp_path / "own"
    folder.mkdir()
    path = folder / "twice.yaml"
    path.write_text(
        "name: twice\n"
        "match: ['alertname=\"Mine\"']\n"
        "steps:\n"
        "  - id: say\n"
        "    uses: incident.note\n"
        "    with: {text: first}\n"
        "    with: {text: second}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_playbooks([folder], REGISTRY)
    assert caught.value.problems == [f"{path}:7: steps.0.with: duplicate key (first at line 6)"]
