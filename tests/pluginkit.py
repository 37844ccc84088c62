"""Install a throwaway third-party integration for one test, the way pip would: a module and
a ``*.dist-info`` folder whose ``entry_points.txt`` names it in ``medic.integrations``, on
``sys.path`` (in-process) and in ``PYTHONPATH`` (for a ``python -m bot`` subprocess)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.actions.integration import ENTRY_POINT_GROUP
from bot.integrations import installed_integrations, medic_integrations

InstallPlugin = Callable[[str, str], Path]
"""``install_plugin(name, source)``: see :func:`install_plugin`."""


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugin]:
    """Installs the module ``<name>_mod`` (``source``) as the integration ``name`` (entry
    point ``<name> = <name>_mod:integration``) and returns the folder to put on
    ``PYTHONPATH``. Discovery is cached per process: the caches are cleared on install and
    after the test, and the module is forgotten, so no other test sees the plugin."""

    modules: list[str] = []

    def install(name: str, source: str) -> Path:
        root = tmp_path / f"plugin-{name}"
        info = root / f"{name}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{name} = {name}_mod:integration\n"
        )
        (root / f"{name}_mod.py").write_text(source)
        monkeypatch.syspath_prepend(str(root))
        modules.append(f"{name}_mod")
        _forget_discovery()
        return root

    yield install
    monkeypatch.undo()
    for module in modules:
        sys.modules.pop(module, None)
    _forget_discovery()
    # Discover again now, off any event loop, as the process did at import: a later test
    # that discovers inside its loop would otherwise read the disk there (a blocking call).
    installed_integrations()
    medic_integrations()


def _forget_discovery() -> None:
    installed_integrations.cache_clear()
    medic_integrations.cache_clear()
