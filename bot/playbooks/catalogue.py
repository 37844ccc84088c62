"""Where the shipped playbook catalogues live: in a checkout or inside the installed wheel.

Each catalogue is a folder of the catalogue root (``playbooks/<name>/`` in a checkout,
``bot/catalogue/<name>/`` in a wheel, as package data); ``playbooks.catalogues`` names the
ones to load, ``playbooks.dirs`` adds the user's own after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent

CATALOGUES = ("dwcp", "kubernetes")
"""Every shipped catalogue, in load order."""


def catalogue_root() -> Path:
    """``bot/catalogue`` in a wheel (package data), else ``playbooks/`` of the checkout."""
    installed = _PACKAGE / "catalogue"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "playbooks"


def catalogue_dir(name: str) -> Path:
    """The folder of the shipped catalogue ``name``."""
    return catalogue_root() / name


def catalogue_dirs(names: Sequence[str]) -> list[Path]:
    """The folders of the catalogues ``names``, in the order given."""
    return [catalogue_dir(name) for name in names]
