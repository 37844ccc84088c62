"""Every Kubernetes API call the responders make, one constant each.

The client only sends requests named by an ``ApiCall``, so this module is the complete list:
``deploy/rbac.yaml`` grants exactly ``rbac_rules(ALL_CALLS)`` (a test checks both ways).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

Verb = Literal["get", "list", "patch", "create", "delete"]
Method = Literal["GET", "PATCH", "POST", "DELETE"]
_METHODS: dict[str, Method] = {
    "get": "GET",
    "list": "GET",
    "patch": "PATCH",
    "create": "POST",
    "delete": "DELETE",
}


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One kind of request: ``verb`` on ``resource`` (``/subresource``) of ``group/version``."""

    verb: Verb
    group: str
    version: str
    resource: str
    subresource: str | None = None
    namespaced: bool = True

    @property
    def method(self) -> Method:
        """The HTTP method."""
        return _METHODS[self.verb]

    @property
    def rbac_resource(self) -> str:
        """``resource`` or ``resource/subresource`` as RBAC rules name it."""
        return self.resource if self.subresource is None else f"{self.resource}/{self.subresource}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The request path (``namespace`` None on a namespaced list: every namespace)."""
        base = "/api/v1" if self.group == "" else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.resource}"
        if name is not None:
            base += f"/{name}"
        if self.subresource is not None:
            base += f"/{self.subresource}"
        return base


GET_DEPLOYMENT = ApiCall("get", "apps", "v1", "deployments")
PATCH_DEPLOYMENT = ApiCall("patch", "apps", "v1", "deployments")
PATCH_DEPLOYMENT_SCALE = ApiCall("patch", "apps", "v1", "deployments", "scale")
LIST_REPLICASETS = ApiCall("list", "apps", "v1", "replicasets")
GET_REPLICASET = ApiCall("get", "apps", "v1", "replicasets")
GET_STATEFULSET = ApiCall("get", "apps", "v1", "statefulsets")
GET_DAEMONSET = ApiCall("get", "apps", "v1", "daemonsets")
GET_JOB = ApiCall("get", "batch", "v1", "jobs")
GET_HPA = ApiCall("get", "autoscaling", "v1", "horizontalpodautoscalers")
GET_PVC = ApiCall("get", "", "v1", "persistentvolumeclaims")
GET_NODE = ApiCall("get", "", "v1", "nodes", namespaced=False)
LIST_NODES = ApiCall("list", "", "v1", "nodes", namespaced=False)
PATCH_NODE = ApiCall("patch", "", "v1", "nodes", namespaced=False)
DELETE_NODE = ApiCall("delete", "", "v1", "nodes", namespaced=False)
GET_POD = ApiCall("get", "", "v1", "pods")
LIST_PODS = ApiCall("list", "", "v1", "pods")
GET_POD_LOG = ApiCall("get", "", "v1", "pods", "log")
CREATE_EVICTION = ApiCall("create", "", "v1", "pods", "eviction")
LIST_EVENTS = ApiCall("list", "", "v1", "events")

ALL_CALLS: tuple[ApiCall, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, ApiCall)
)
"""Every call above (collected, so a new constant cannot be forgotten here)."""


def rbac_rules(calls: tuple[ApiCall, ...] | set[ApiCall]) -> dict[tuple[str, str], set[str]]:
    """``{(api group, resource): verbs}`` that ``calls`` need."""
    rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    for call in calls:
        rules[(call.group, call.rbac_resource)].add(call.verb)
    return dict(rules)
