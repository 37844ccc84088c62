"""Kubernetes responder constants."""

from __future__ import annotations

import re
from datetime import timedelta

SYSTEM = "kubernetes"
DEFAULT_ROLLOUT_TIMEOUT = timedelta(minutes=10)
DEFAULT_DRAIN_TIMEOUT = timedelta(minutes=10)
DEFAULT_TAIL_LINES = 100
MAX_TAIL_LINES = 5000
DEFAULT_EVENT_LIMIT = 50
MAX_EVENT_LIMIT = 500
MAX_REPLICAS = 1000
"""Upper bound for any replica count a playbook may ask for (a typo guard, not policy)."""

QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
"""A Kubernetes resource quantity such as ``500m``, ``2``, ``512Mi`` or ``1.5Gi``."""

RESOURCE_NAME = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
"""A resource name such as ``cpu``, ``memory``, ``ephemeral-storage`` or ``nvidia.com/gpu``."""

INVOLVED_OBJECT = re.compile(r"[A-Za-z][A-Za-z0-9]*/[^/\s]+")
"""``Kind/name`` as in ``Node/worker-17`` or ``deployment/dwcp-v3``."""
