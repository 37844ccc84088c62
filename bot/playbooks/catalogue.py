"""Where the shipped playbook catalogue lives: in a checkout or inside the installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def catalogue_dir() -> Path:
    """``bot/catalogue`` in a wheel (package data), else ``playbooks/`` of the checkout."""
    installed = _PACKAGE / "catalogue"
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / "playbooks"
