"""The RBAC manifests Medic needs, generated from ``ALL_CALLS`` (one source of truth):
``deploy/rbac.yaml`` and the Helm chart's ``files/rbac-rules.yaml``.

``python -m responders.kubernetes.rbac`` rewrites both; a test checks they are current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from responders.kubernetes.calls import ALL_CALLS, rbac_rules

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = Path("deploy/rbac.yaml")
CHART_RULES = Path("deploy/helm/medic/files/rbac-rules.yaml")

_MANIFEST_HEADER = """\
# Medic's access to Kubernetes: exactly the API calls of responders/kubernetes/calls.py,
# no wildcard (tests/responders/kubernetes/test_kubernetes_rbac.py checks both ways).
# Generated with the Helm chart's rules by `python -m responders.kubernetes.rbac`: do not
# edit by hand. Which namespaces Medic may touch is decided by `kubernetes.namespaces` in its
# config; to also enforce it here, bind the same ClusterRole with a RoleBinding per
# namespace instead (the node actions and the cluster view still need the nodes rule
# cluster-wide).
"""
_RULES_HEADER = """\
# The Helm chart's ClusterRole rules: generated with deploy/rbac.yaml from
# responders/kubernetes/calls.py by `python -m responders.kubernetes.rbac`.
"""


def rules() -> list[dict[str, Any]]:
    """One rule per (API group, resource), verbs sorted; in a stable order."""
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
        for (group, resource), verbs in sorted(rbac_rules(ALL_CALLS).items())
    ]


def _dump(documents: list[Any]) -> str:
    return "---\n".join(
        yaml.safe_dump(doc, sort_keys=False, default_flow_style=None) for doc in documents
    )


def manifest_text() -> str:
    """``deploy/rbac.yaml``: ServiceAccount ``medic/medic``, ClusterRole, binding."""
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "medic", "namespace": "medic"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "medic"},
            "rules": rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "medic"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "medic",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "medic", "namespace": "medic"}],
        },
    ]
    return _MANIFEST_HEADER + _dump(documents)


def chart_rules_text() -> str:
    """The chart's ``files/rbac-rules.yaml``: the rules alone, a YAML list."""
    return _RULES_HEADER + _dump([rules()])


def generated() -> dict[Path, str]:
    """Each generated file (relative to the repository) and its content."""
    return {MANIFEST: manifest_text(), CHART_RULES: chart_rules_text()}


def main() -> int:
    """Write the generated files into the checkout."""
    for path, text in generated().items():
        (ROOT / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
