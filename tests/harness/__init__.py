"""Start and stop the real servers the tests talk to (PostgreSQL, Alertmanager, Prometheus)."""
