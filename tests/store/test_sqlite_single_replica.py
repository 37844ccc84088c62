"""SQLite is single-replica: a second ``medic serve`` on the same file is refused."""

from __future__ import annotations

from pathlib import Path

from harness.http import get_text
from harness.medic import MedicProcess, serve_refused


def test_a_second_replica_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    """While one ``medic serve`` runs on a SQLite file, a second one on the same file exits
    1 at startup naming the first and pointing at PostgreSQL; the first keeps serving."""
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    with MedicProcess(tmp_path / "first", store_url=url, bearer_token=None).start() as first:
        second = serve_refused(url)
        assert second.returncode == 1
        assert f"already served by medic pid {first.pid}" in second.stderr
        assert "use PostgreSQL" in second.stderr
        assert get_text(f"{first.url}/readyz")


def test_the_lock_dies_with_its_replica(tmp_path: Path) -> None:
    """After the replica holding a SQLite file is killed (-9), a new one starts on it at
    once: no stale lock survives a crash."""
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    medic = MedicProcess(tmp_path, store_url=url, bearer_token=None).start()
    medic.kill()
    with MedicProcess(tmp_path / "next", store_url=url, bearer_token=None).start() as again:
        assert get_text(f"{again.url}/readyz")
