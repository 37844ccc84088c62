"""The shipped kubernetes catalogue (playbooks/kubernetes): kube-prometheus-stack's alerts by
their upstream names and labels, evidence first, remediation only with a human's consent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bot
from bot.actions import ActionKind
from bot.config.models import PlaybooksConfig
from bot.integrations import action_registry
from bot.playbooks.catalogue import catalogue_dir
from bot.playbooks.loader import load_configured, load_playbooks
from bot.playbooks.playbook import PlaybookSet

REGISTRY = action_registry()
SAMPLES = Path(bot.__file__).parent / "samples" / "kubernetes"
ALERTS = {
    "KubePodCrashLooping",
    "KubePodNotReady",
    "KubeContainerWaiting",
    "KubeDeploymentReplicasMismatch",
    "KubeDeploymentRolloutStuck",
    "KubeStatefulSetReplicasMismatch",
    "KubeJobFailed",
    "KubeNodeNotReady",
    "KubeNodeUnreachable",
    "KubePersistentVolumeFillingUp",
    "KubeHpaMaxedOut",
    "CPUThrottlingHigh",
    "TargetDown",
}


@pytest.fixture(scope="module")
def kubernetes() -> PlaybookSet:
    """The kubernetes catalogue alone."""
    return load_playbooks([catalogue_dir("kubernetes")], REGISTRY)


def sample_labels() -> dict[str, dict[str, str]]:
    """Sample name -> its alert's labels."""
    return {
        path.stem: json.loads(path.read_text())["alerts"][0]["labels"]
        for path in sorted(SAMPLES.glob("*.json"))
    }


def kind(uses: str) -> Any:
    """The action's kind (approval for approval steps)."""
    spec = REGISTRY.get(uses)
    assert spec is not None, uses
    return spec.kind


def test_every_listed_alert_has_a_sample_that_selects_a_playbook(kubernetes: PlaybookSet) -> None:
    """The issue's list of kube-prometheus-stack alerts: each has a sample in
    bot/samples/kubernetes that selects one playbook; Watchdog and InfoInhibitor are
    ignored."""
    selected = {
        labels["alertname"]: kubernetes.select(labels) for labels in sample_labels().values()
    }
    assert set(selected) == ALERTS | {"Watchdog", "InfoInhibitor"}
    assert {name for name, s in selected.items() if len(s.playbooks) == 1} == ALERTS
    assert {name for name, s in selected.items() if s.ignored_by is not None} == {
        "Watchdog",
        "InfoInhibitor",
    }


def test_no_dwcp_playbook_takes_a_kubernetes_alert() -> None:
    """With both catalogues loaded, every kube-prometheus-stack sample selects only its
    kubernetes playbook: the DWCP catalogue (and its fallback) stays out."""
    both = load_configured(PlaybooksConfig(), REGISTRY)
    dwcp = {p.name for p in load_playbooks([catalogue_dir("dwcp")], REGISTRY)}
    for name, labels in sample_labels().items():
        chosen = {p.name for p in both.select(labels).playbooks}
        assert not chosen & dwcp, name


def unguarded_writes(playbook: Any) -> list[str]:
    """Write steps with no consent approval since the previous write step."""
    found, guarded = [], False
    for step in playbook.spec.steps:
        if step.uses == "approval":
            guarded = step.with_.get("mode") == "consent"
        elif kind(step.uses) is ActionKind.WRITE:
            found += [] if guarded else [step.id]
            guarded = False
    return found


def test_every_write_waits_for_a_humans_consent(kubernetes: PlaybookSet) -> None:
    """Remediation is offered, never automatic: every write step has a consent approval
    (never a veto window) between it and the previous write step."""
    assert {p.name: unguarded_writes(p) for p in kubernetes} == {p.name: [] for p in kubernetes}


@pytest.mark.parametrize(
    ("playbook", "writes"),
    [
        ("kube-pod-crashlooping", ["kubernetes.rollback"]),
        ("kube-pod-not-ready", ["kubernetes.restart"]),
        ("kube-deployment-replicas", ["kubernetes.restart"]),
        ("kube-rollout-stuck", ["kubernetes.rollback"]),
        ("kube-node-not-ready", ["kubernetes.cordon"]),
        ("kube-container-waiting", []),
        ("kube-statefulset-replicas", []),
        ("kube-job-failed", []),
        ("kube-pvc-filling-up", []),
        ("kube-hpa-maxed-out", []),
        ("kube-cpu-throttling", []),
        ("kube-target-down", []),
    ],
)
def test_what_each_playbook_may_change(
    kubernetes: PlaybookSet, playbook: str, writes: list[str]
) -> None:
    """Only rollbacks, restarts and a cordon; the rest is evidence only."""
    found = kubernetes.get(playbook)
    assert found is not None
    assert [s.uses for s in found.spec.steps if kind(s.uses) is ActionKind.WRITE] == writes


def test_the_node_cordon_carries_the_quorum_guard(kubernetes: PlaybookSet) -> None:
    """The cordon names the control-plane nodes for the quorum guard (the engine adds the
    max_cordoned_fraction guard)."""
    found = kubernetes.get("kube-node-not-ready")
    assert found is not None
    cordon = next(s for s in found.spec.steps if s.uses == "kubernetes.cordon")
    assert cordon.with_["consensus_selector"] == "node-role.kubernetes.io/control-plane"
