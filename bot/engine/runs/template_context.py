"""The template context: alert, labels, annotations, incident, target, steps,
params, now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.models import Alert


def alert_context(alert: Alert | None) -> dict[str, Any]:
    """The triggering alert as templates see it (empty fields for manual runs)."""
    if alert is None:
        return {
            "labels": {},
            "annotations": {},
            "starts_at": None,
            "fingerprint": "",
            "generator_url": "",
            "status": "",
        }
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": alert.starts_at.isoformat(),
        "fingerprint": alert.fingerprint,
        "generator_url": alert.generator_url or "",
        "status": alert.status.value,
    }


def template_context(
    *,
    alert: Alert | None,
    incident: dict[str, Any],
    now: datetime,
    target: str | None = None,
    steps: dict[str, dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a playbook template may name."""
    current = alert_context(alert)
    return {
        "alert": current,
        "labels": current["labels"],
        "annotations": current["annotations"],
        "incident": incident,
        "target": target or "",
        "steps": steps or {},
        "params": params or {},
        "now": now.isoformat(),
    }
