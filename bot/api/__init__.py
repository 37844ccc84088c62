"""The JSON API and the operational endpoints (health, readiness, metrics)."""
