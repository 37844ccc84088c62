"""Each incident carries its alert count and how many of its alerts still fire, kept by the
intake as it files every notification instead of counted again each time: whatever the
order of firing, resolved, repeated and flapping notifications, both equal a recount of
the incident's alerts, and the API shows the same count.

``MEDIC_COUNT_EXAMPLES`` (default 25) sets how many sequences hypothesis tries."""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enginekit import post_alertmanager, store_file
from harness.http import get_json
from harness.medic import MedicProcess
from medickit import AM_TOKEN
from payloads import BASE_TIME, am_alert, am_payload

EXAMPLES = int(os.environ.get("MEDIC_COUNT_EXAMPLES", "25"))

# One notification: its group (of two) and up to four alerts, each (fingerprint of five,
# firing?, episode: which of two firings of that alert it speaks of).
ALERT = st.tuples(st.integers(0, 4), st.booleans(), st.integers(0, 1))
NOTIFICATION = st.tuples(
    st.integers(0, 1), st.lists(ALERT, min_size=1, max_size=4, unique_by=lambda a: a[0])
)


def _deliver(
    medic: MedicProcess, tag: str, group: int, alerts: list[tuple[int, bool, int]]
) -> None:
    body = am_payload(
        *[
            am_alert(
                f"{tag}-{fingerprint}",
                alertname=f"CountCheck{tag}",
                status="firing" if firing else "resolved",
                starts_at=BASE_TIME + timedelta(minutes=10 * episode),
                ends_at=None if firing else BASE_TIME + timedelta(minutes=10 * episode + 5),
            )
            for fingerprint, firing, episode in alerts
        ],
        group_key=f'{{}}:{{check="{tag}-{group}"}}',
    )
    post_alertmanager(medic, body)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(notifications=st.lists(NOTIFICATION, min_size=1, max_size=8))
def test_kept_counts_equal_a_recount(
    served_medic: MedicProcess, notifications: list[tuple[int, list[tuple[int, bool, int]]]]
) -> None:
    """After any sequence of notifications, every incident they touched shows as many
    alerts (API and store) and as many firing alerts (store) as a recount finds."""
    medic = served_medic
    tag = uuid.uuid4().hex[:12]
    for group, alerts in notifications:
        _deliver(medic, tag, group, alerts)
    listed = {
        i["id"]: i["alert_count"] for i in get_json(f"{medic.url}/api/incidents")["incidents"]
    }  # answers once the intake has taken every acknowledged alert
    with sqlite3.connect(store_file(medic)) as db:
        rows = db.execute(
            "SELECT i.seq, i.alert_count, i.firing_count, count(*),"
            " sum(CASE WHEN a.status = 'firing' THEN 1 ELSE 0 END)"
            " FROM incidents i JOIN incident_alerts a ON a.incident_seq = i.seq"
            " WHERE i.seq IN (SELECT incident_seq FROM incident_alerts WHERE fingerprint LIKE ?)"
            " GROUP BY i.seq",
            (f"{tag}-%",),
        ).fetchall()
    for seq, alert_count, firing_count, recounted, recounted_firing in rows:
        assert (alert_count, firing_count) == (recounted, recounted_firing), f"INC-{seq}"
        assert listed[f"INC-{seq}"] == recounted


def _incident(medic: MedicProcess, incident_id: str) -> dict[str, Any]:
    summary: dict[str, Any] = get_json(f"{medic.url}/api/incidents/{incident_id}")["incident"]
    return summary


def _set_counts(medic: MedicProcess, alert_count: int, firing_count: int) -> None:
    """Write counts into the store as a release that did not keep them would leave them."""
    with sqlite3.connect(store_file(medic)) as db:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute(
            "UPDATE incidents SET alert_count = ?, firing_count = ?", (alert_count, firing_count)
        )


def _two_alerts_then(tmp_path: Path) -> MedicProcess:
    medic = MedicProcess(
        tmp_path, store_url=f"sqlite:///{tmp_path / 'medic.db'}", bearer_token=AM_TOKEN
    ).start()
    for fingerprint in ("1", "2"):
        _deliver(medic, "kept", 0, [(int(fingerprint), True, 0)])
    assert _incident(medic, "INC-1")["alert_count"] == 2
    return medic


def test_a_count_too_low_never_resolves_an_incident_whose_alerts_fire(tmp_path: Path) -> None:
    """An incident whose kept firing count says one alert fires while two do (a replica of
    an older release filed the other): the first resolution leaves it open, because the
    store's rows are counted before an incident resolves; the second resolves it."""
    with _two_alerts_then(tmp_path) as medic:
        _set_counts(medic, 1, 1)
        _deliver(medic, "kept", 0, [(1, False, 0)])
        assert _incident(medic, "INC-1")["status"] == "open"
        _deliver(medic, "kept", 0, [(2, False, 0)])
        assert _incident(medic, "INC-1")["status"] == "resolved"


def test_counts_left_wrong_are_counted_afresh_on_start(tmp_path: Path) -> None:
    """Counts another release left wrong (too high: the incident could never resolve) are
    counted afresh when Medic starts: the listing shows the true count, and resolving both
    alerts resolves the incident."""
    with _two_alerts_then(tmp_path) as medic:
        medic.stop()
        _set_counts(medic, 9, 9)
        medic.start(timeout=90)
        assert _incident(medic, "INC-1")["alert_count"] == 2
        _deliver(medic, "kept", 0, [(1, False, 0), (2, False, 0)])
        assert _incident(medic, "INC-1")["status"] == "resolved"
