"""The intake takes the alerts this process journaled without reading them back from the
journal: what it files into incidents must still be exactly what the journal holds."""

from __future__ import annotations

import sqlite3

from enginekit import post_alertmanager, store_file
from harness.http import get_json
from harness.medic import MedicProcess
from payloads import am_alert, am_payload


def _journal_and_incident_rows(
    medic: MedicProcess, fingerprint: str
) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    with sqlite3.connect(store_file(medic)) as db:
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
    served_medic: MedicProcess,
) -> None:
    """One delivery carrying the same alert twice (same fingerprint, start and status,
    different summaries) is journaled once, with the later copy's values; the incident it
    opens is titled, and keeps the alert, as that row says."""
    first = am_alert("handoff-dup", alertname="HandoffDup")
    second = am_alert("handoff-dup", alertname="HandoffDup")
    first["annotations"] = {"summary": "first copy"}
    second["annotations"] = {"summary": "second copy"}
    post_alertmanager(served_medic, am_payload(first, second, group_key='{}:{check="dup"}'))
    titles = {i["title"] for i in get_json(f"{served_medic.url}/api/incidents")["incidents"]}
    journal, kept = _journal_and_incident_rows(served_medic, "handoff-dup")
    assert "second copy" in journal[1]
    assert "second copy" in titles
    assert "first copy" not in titles
    assert kept == journal
