"""How often the waiting actions ask the API server again (tests shorten these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacing:
    """Intervals, in seconds, of the actions that wait for the cluster.

    ``eviction_retry_s``: before evicting again a pod a PodDisruptionBudget protects (429);
    ``rollout_poll_s``: between reads of a rolling-out deployment; ``gone_poll_s``: between
    checks that evicted pods are gone.
    """

    eviction_retry_s: float = 5.0
    rollout_poll_s: float = 1.0
    gone_poll_s: float = 1.0
