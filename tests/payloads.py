"""Build Alertmanager webhook bodies (version 4) for tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The DWCP sample alerts ship inside the package (bot/samples, copied from the team's
# shared/reference/samples/alertmanager), so tests need nothing outside the repository.
SAMPLES = Path(__file__).resolve().parents[1] / "bot" / "samples"
BASE_TIME = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    """A real payload from ``bot/samples`` (Alertmanager webhooks)."""
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def am_alert(
    fingerprint: str,
    *,
    status: str = "firing",
    alertname: str = "HighErrorRate",
    starts_at: datetime = BASE_TIME,
    ends_at: datetime | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it."""
    return {
        "status": status,
        "labels": {"alertname": alertname, "severity": "critical", **labels},
        "annotations": {"summary": f"{alertname} is firing"},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": ends_at.isoformat().replace("+00:00", "Z") if ends_at else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint,
    }


def am_payload(
    *alerts: dict[str, Any], group_key: str = '{}:{alertname="HighErrorRate"}'
) -> dict[str, Any]:
    """A whole notification; the top-level status follows the alerts like Alertmanager's."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "medic",
        "groupLabels": {"alertname": alerts[0].get("labels", {}).get("alertname", "")},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }
