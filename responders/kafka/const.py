"""Kafka responder constants."""

from __future__ import annotations

SYSTEM = "kafka"

TIMEOUT_S = 10.0
"""How long one lag reading may take, connecting included (a down broker fails it then)."""

CLIENT_ID = "medic"
"""``client.id`` Medic's Kafka connections announce."""

INTERNAL_TOPIC_PREFIX = "__"
"""Kafka's own topics (``__consumer_offsets``...): never part of a group's lag."""
