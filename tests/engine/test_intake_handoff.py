"""The intake takes the alerts this process journaled without reading them back from the
journal: what it files into incidents must still be exactly what the journal holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.http import get_json, post_json
from harness.medic import MedicProcess
from payloads import am_alert, am_payload

TOKEN = "handoff-check-token"


@pytest.fixture(scope="module")
def medic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedicProcess]:
    """``medic serve`` on its embedded defaults and a SQLite store."""
    tmp = tmp_path_factory.mktemp("handoff")
    with MedicProcess(tmp, store_url=f"sqlite:///{tmp / 'medic.db'}", bearer_token=TOKEN) as m:
        m.start(timeout=90)
        yield m


def _deliver(medic: MedicProcess, *alerts: dict[str, object], group: str) -> None:
    body = am_payload(*alerts, group_key=f'{{}}:{{check="{group}"}}')
    status, answer = post_json(
        f"{medic.url}/webhooks/alertmanager", body, {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, answer


def _journal_and_incident_rows(
    medic: MedicProcess, fingerprint: str
) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    with sqlite3.connect(Path(medic.store_url.removeprefix("sqlite:///"))) as db:
        journal = db.execute(
            "SELECT labels, annotations, starts_at FROM alerts WHERE fingerprint = ?",
            (fingerprint,),
        ).fetchall()
        kept = db.execute(
            "SELECT labels, annotations, starts_at FROM incident_alerts WHERE fingerprint = ?",
            (fingerprint,),
        ).fetchall()
    assert len(journal) == 1
    assert len(kept) == 1
    return journal[0], kept[0]


def test_of_two_copies_in_one_delivery_the_incident_takes_the_one_journaled(
    medic: MedicProcess,
) -> None:
    """One delivery carrying the same alert twice (same fingerprint, start and status,
    different summaries) is journaled once, with the later copy's values; the incident it
    opens is titled, and keeps the alert, as that row says."""
    first = am_alert("handoff-dup", alertname="HandoffDup")
    second = am_alert("handoff-dup", alertname="HandoffDup")
    first["annotations"] = {"summary": "first copy"}
    second["annotations"] = {"summary": "second copy"}
    _deliver(medic, first, second, group="dup")
    titles = {i["title"] for i in get_json(f"{medic.url}/api/incidents")["incidents"]}
    journal, kept = _journal_and_incident_rows(medic, "handoff-dup")
    assert "second copy" in journal[1]
    assert "second copy" in titles
    assert "first copy" not in titles
    assert kept == journal
