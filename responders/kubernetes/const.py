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

PATCH_JSON = "application/json-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
REQUEST_TIMEOUT_S = 30.0
"""Bound on one API request (a wait is many requests)."""
TOKEN_REFRESH_S = 60.0
"""How often the in-cluster ServiceAccount token file is read again."""
ERROR_TEXT_LIMIT = 300

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
POD_TEMPLATE_HASH = "pod-template-hash"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"

LOG_LINE_LIMIT = 2000
"""Characters kept of one log line."""
LOG_TEXT_LIMIT = 64_000
"""Characters of log text kept in a step output (newest kept)."""
MAX_LOG_PODS = 10
"""Pods whose logs one ``kubernetes.logs`` step reads."""
PATCH_MERGE = "application/merge-patch+json"
