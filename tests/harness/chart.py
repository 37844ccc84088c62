"""Render deploy/helm/medic with Helm's own Go SDK (PyPI ``helm-python-sdk``, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import yaml

CHART = Path(__file__).parents[2] / "deploy" / "helm" / "medic"
RELEASE = "medic"
SECRETS_DIR = "/etc/medic/secrets"

# Collection paths of the kinds the chart makes, for applying them to a real API server.
_PATHS = {
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Service": "/api/v1/namespaces/{ns}/services",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


def render(
    values: dict[str, Any] | None = None, *, name: str = RELEASE, namespace: str = "medic"
) -> dict[str, str]:
    """Every template of the chart rendered with ``values`` (template path -> text).
    HelmValuesError when the schema rejects the values, HelmRenderError on ``fail``."""
    chart = helm_python.Chart.load(CHART)
    try:
        return chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    finally:
        chart.close()


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a rendering (NOTES.txt and empty templates left out)."""
    found = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def one(rendered: dict[str, str], kind: str) -> dict[str, Any]:
    """The single object of ``kind``."""
    (found,) = [o for o in objects(rendered) if o["kind"] == kind]
    return found


def notes(rendered: dict[str, str]) -> str:
    """The NOTES.txt Helm prints after an install."""
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def medic_config(rendered: dict[str, str]) -> dict[str, Any]:
    """The medic.yaml of the chart's ConfigMap."""
    data: dict[str, Any] = yaml.safe_load(config_map(rendered)["data"]["medic.yaml"])
    return data


def config_map(rendered: dict[str, str]) -> dict[str, Any]:
    """The ConfigMap holding medic.yaml (the dashboard's is another)."""
    (found,) = [
        o for o in objects(rendered) if o["kind"] == "ConfigMap" and "medic.yaml" in o["data"]
    ]
    return found


def collection_path(kind: str, namespace: str) -> str:
    """Where objects of ``kind`` are created."""
    return _PATHS[kind].format(ns=namespace)
