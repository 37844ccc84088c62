"""The import contracts in pyproject.toml (import-linter) hold, and break when an integration
imports the engine: the check `make test` runs is a real gate, shown on a copy of the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_of_the_code(directory: Path) -> Path:
    """``bot``, ``responders`` and ``pyproject.toml`` copied into ``directory``."""
    for package in ("bot", "responders"):
        shutil.copytree(
            ROOT / package, directory / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", directory / "pyproject.toml")
    return directory


def lint_imports(directory: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the code in ``directory`` (imported from there, not the venv)."""
    env = {**os.environ, "PYTHONPATH": str(directory)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_contract(tmp_path: Path) -> None:
    """The code as it is keeps every contract."""
    result = lint_imports(copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        (
            "responders/kafka/const.py",
            "import bot.engine.runs.manager",
            "Integrations know the action contract, never the engine",
        ),
        ("bot/store/audit.py", "import bot.engine.deps", "The store knows nothing above it"),
        (
            "bot/narrator/base.py",
            "import bot.engine.runs.manager",
            "Narration is told what happened",
        ),
        (
            "bot/engine/intake/after_commit.py",
            "import responders.pagerduty.sync",
            "The core reaches integrations only through their hooks",
        ),
        ("bot/engine/deps.py", "import sqlalchemy", "Only the store speaks SQL"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    """Adding an import that runs the wrong way makes ``lint-imports`` fail, naming the
    contract and the offending import."""
    code = copy_of_the_code(tmp_path)
    target = code / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")
    result = lint_imports(code)
    assert result.returncode == 1
    assert f"{contract}" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {forbidden.removeprefix('import ')}" in result.stdout
