"""Alertmanager responder constants."""

from __future__ import annotations

SYSTEM = "alertmanager"
CREATED_BY = "medic"
