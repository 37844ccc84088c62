"""A ``medic serve`` of its own per test module, for the engine tests that drive it through
its webhooks and read its store back (see ``enginekit.post_alertmanager``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.medic import MedicProcess
from medickit import AM_TOKEN


@pytest.fixture(scope="module")
def served_medic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedicProcess]:
    """``medic serve`` on its embedded defaults and a SQLite store, for the whole module."""
    tmp = tmp_path_factory.mktemp("served")
    with MedicProcess(tmp, store_url=f"sqlite:///{tmp / 'medic.db'}", bearer_token=AM_TOKEN) as m:
        m.start(timeout=90)
        yield m
