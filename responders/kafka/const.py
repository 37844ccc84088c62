"""Kafka responder constants."""

from __future__ import annotations

SYSTEM = "kafka"
