"""Kafka: consumer-group lag as evidence (the alert bus lives in ``bot/bus``)."""
