"""The shipped catalogues are package data: a wheel built from the checkout carries every
catalogue folder under ``bot/catalogue/``, and Medic run from that wheel (not from the
checkout) finds and loads them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The wheel ``pip wheel`` builds from the checkout, unpacked; and its file names."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("medic-*.whl")
    target = out / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
        names = archive.namelist()
    return target, names


def test_every_catalogue_file_is_in_the_wheel(unpacked_wheel: tuple[Path, list[str]]) -> None:
    """Each playbook of ``playbooks/<catalogue>/`` is ``bot/catalogue/<catalogue>/`` in the
    wheel."""
    _, names = unpacked_wheel
    shipped = {
        f"bot/catalogue/{p.relative_to(ROOT / 'playbooks')}"
        for p in (ROOT / "playbooks").glob("*/*.yaml")
    }
    assert shipped
    assert shipped <= set(names)


def test_medic_from_the_wheel_loads_both_catalogues(
    unpacked_wheel: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """``medic check`` importing Medic from the unpacked wheel (no checkout on its path)
    loads every playbook of both catalogues from the package data."""
    target, _ = unpacked_wheel
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env["PYTHONPATH"] = str(target)
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.playbooks.catalogue import catalogue_root as r; print(r())",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(target / "bot" / "catalogue")
    checked = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    count = len(list((ROOT / "playbooks").glob("*/*.yaml")))
    assert f"configuration OK; {count} playbooks OK" in checked.stdout
