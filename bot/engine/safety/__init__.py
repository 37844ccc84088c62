"""Safety gates: the pause, limits, locks, the breaker and the cluster guard."""
