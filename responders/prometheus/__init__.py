"""Prometheus: instant queries for evidence (``prometheus.query``) and verification (``.wait``)."""
