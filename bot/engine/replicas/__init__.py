"""Replicas sharing a store: run leases and what keeps them in step."""
