"""``medic simulate``: the playbooks an alert selects and their rendered steps, touching
nothing."""

import json
from pathlib import Path

import pytest

import bot
from bot.cli import main

SAMPLES = Path(bot.__file__).parent / "samples"
CORDON = (
    "3. cordon  kubernetes.cordon  [write]\n"
    '         with: {"node": "worker-17", "consensus_selector": "dwcp.io/consensus=true"}\n'
)


def write_json(path: Path, data: object) -> Path:
    """``data`` as an indented JSON file."""
    path.write_text(json.dumps(data, indent=2))
    return path


def test_byzantine_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """The webhook sample selects byzantine-isolation on node worker-17, rendered."""
    assert main(["simulate", str(SAMPLES / "byzantine-node-detected.json")]) == 0
    out = capsys.readouterr().out
    assert "matches: byzantine-isolation (priority 200)\n" in out
    assert 'incident key: byzantine-isolation:{"node":"worker-17"}\n' in out
    assert "target: node/worker-17\n" in out
    assert CORDON in out
    assert "7. approve_drain  approval  [approval]" in out
    assert "6. pod_events  kubernetes.events  [read]" in out


def test_single_alert_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One alert (no webhook around it, no startsAt): auto-rollback; what needs earlier
    steps' output says so."""
    alert = {
        "labels": {
            "alertname": "SLAAvailabilityViolation",
            "severity": "critical",
            "namespace": "shop",
            "deployment": "dwcp-cart",
            "team": "sre",
        },
        "annotations": {"summary": "cart availability low"},
    }
    assert main(["simulate", str(write_json(tmp_path / "alert.json", alert))]) == 0
    out = capsys.readouterr().out
    assert "Alert 1 of 1: SLAAvailabilityViolation firing" in out
    assert "matches: auto-rollback (priority 100)\n" in out
    assert "target: deployment/shop/dwcp-cart\n" in out
    assert '"namespace": "shop", "deployment": "dwcp-cart"' in out
    assert "→ (depends on earlier steps: " in out


def test_skipped_steps_are_not_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    """A ``when`` that is false for this alert is shown evaluated; its step is not rendered."""
    assert main(["simulate", str(SAMPLES / "certificate-expiring.json")]) == 0
    out = capsys.readouterr().out
    assert 'when: labels.alertname == "DiskSpaceLow"  → false' in out
    assert "with: (not rendered: the step would be skipped)" in out
    assert "would fail" not in out


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"severity": "critical", "team": "sre"},
            "matches: fallback (priority 0) (fallback: no regular playbook matches)\n",
        ),
        (
            {"severity": "warning", "team": "sre"},
            "matches: no playbook, not even a fallback: an incident without runs\n",
        ),
        (
            {"severity": "critical"},
            "matches: no playbook, not even a fallback: an incident without runs\n",
        ),
    ],
    ids=["dwcp-critical", "dwcp-warning", "other-critical"],
)
def test_alert_matching_no_playbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], labels: dict[str, str], expected: str
) -> None:
    """Nothing matches: the fallback playbook for critical DWCP alerts, else no playbook."""
    alert = {"labels": {"alertname": "SomethingNew", **labels}}
    assert main(["simulate", str(write_json(tmp_path / "alert.json", alert))]) == 0
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{\n  "labels": ', ":2: <json>: Expecting value"),
        ("[1, 2]", ":1: <root>: must be an Alertmanager webhook body or one alert object"),
        ('{\n  "labels": {},\n  "status": "bogus"\n}\n', ":3: status: Input should be"),
        ('{\n  "labels": {}\n}\n', ":2: labels: Dictionary should have at least 1 item"),
        (
            '{"version": "4", "groupKey": "g", "status": "firing",\n'
            ' "alerts": [{"status": "firing", "labels": {"a": "b"}}]}',
            ":2: alerts.0.startsAt: Field required",
        ),
    ],
    ids=["not-json", "not-an-object", "bad-status", "no-labels", "webhook-without-startsAt"],
)
def test_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    """An invalid file: exit 1 with ``file:line: key: reason`` on stderr."""
    path = tmp_path / "alert.json"
    path.write_text(text)
    assert main(["simulate", str(path)]) == 1
    assert f"{path}{problem}" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read: exit 1, said as ``file:0: <file>: reason``."""
    path = tmp_path / "absent.json"
    assert main(["simulate", str(path)]) == 1
    assert f"{path}:0: <file>: cannot read" in capsys.readouterr().err


def test_playbook_dirs_replace_the_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DIR arguments are the playbooks used, instead of the shipped catalogues."""
    dirs = tmp_path / "playbooks"
    dirs.mkdir()
    (dirs / "mine.yaml").write_text(
        "name: mine\n"
        "match: ['alertname=\"ByzantineNodeDetected\"']\n"
        "target: 'host/{{ labels.node }}'\n"
        "steps:\n"
        "  - id: say\n"
        "    uses: incident.note\n"
        "    with: {text: 'node {{ labels.node }} in {{ incident.id }}'}\n"
    )
    sample = str(SAMPLES / "byzantine-node-detected.json")
    assert main(["simulate", sample, str(dirs)]) == 0
    out = capsys.readouterr().out
    assert "matches: mine (priority 0)\n" in out
    assert "target: host/worker-17\n" in out
    assert (
        '1. say  incident.note  [notify]\n         with: {"text": "node worker-17 in INC-?"}' in out
    )
    assert "byzantine-isolation" not in out


def test_playbooks_that_fail_to_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Playbooks that do not load: exit 1 with their problems, nothing simulated."""
    missing = tmp_path / "nowhere"
    assert main(["simulate", str(SAMPLES / "service-down.json"), str(missing)]) == 1
    captured = capsys.readouterr()
    assert f"{missing}:0: playbooks.dirs: not a directory" in captured.err
    assert captured.out == ""


FIRING_SAMPLES = {
    "all-replicas-down": ("v1-fallback", "deployment/dwcp-v3-production/dwcp-v3", "scale_v1"),
    "byzantine-node-detected": ("byzantine-isolation", "node/worker-17", "cordon"),
    "certificate-expiring": ("diagnose-only", None, "certificate_days"),
    "db-pool-exhausted": ("pool-exhaustion", "deployment/production/dwcp-api", "raise_pool"),
    "disk-space-low": ("diagnose-only", None, "disk"),
    "high-error-rate": ("auto-rollback", "deployment/production/dwcp-api", "rollback"),
    "high-latency-warning": ("diagnose-only", None, "latency_p99"),
    "message-queue-backlog": ("queue-backlog", "deployment/production/dwcp-workers", "scale"),
    "node-high-memory": ("node-pressure", "node/worker-09", "drain"),
    "service-down": ("service-restart", "deployment/production/dwcp-api", "restart"),
    "sla-availability-violation": (
        "auto-rollback",
        "deployment/dwcp-v3-production/dwcp-v3",
        "rollback",
    ),
    "sla-latency-violation": (
        "auto-rollback",
        "deployment/dwcp-v3-production/dwcp-v3",
        "rollback",
    ),
}


@pytest.mark.parametrize("name", sorted(FIRING_SAMPLES))
def test_every_firing_sample_selects_its_catalogue_playbook(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each firing sample alert of bot/samples selects the playbook its PLAYBOOKS.md row
    names, with its target and its characteristic step rendered."""
    playbook, target, step = FIRING_SAMPLES[name]
    assert main(["simulate", str(SAMPLES / f"{name}.json")]) == 0
    out = capsys.readouterr().out
    assert f"matches: {playbook} (priority " in out or f"fallback: {playbook}" in out, out
    assert f"  playbook {playbook} (" in out
    if target is not None:
        assert f"target: {target}\n" in out
    assert f". {step}  " in out


def test_the_table_above_covers_every_firing_sample() -> None:
    """No firing sample alert in bot/samples is left out of the simulate check."""
    firing = {
        path.stem
        for path in SAMPLES.glob("*.json")
        if json.loads(path.read_text()).get("status") == "firing"
    }
    assert firing == {*FIRING_SAMPLES, "real-am-0.25-firing"}


def test_a_real_alertmanager_capture_selects_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """The real Alertmanager 0.25 capture (a critical AlwaysFiring without DWCP's labels)
    gets no playbook: the DWCP catalogue matches only DWCP's alerts."""
    assert main(["simulate", str(SAMPLES / "real-am-0.25-firing.json")]) == 0
    out = capsys.readouterr().out
    assert "matches: no playbook, not even a fallback: an incident without runs\n" in out


# The kubernetes catalogue: sample (bot/samples/kubernetes) -> (playbook, target, a step).
KUBE_SAMPLES = {
    "kube-pod-crashlooping": (
        "kube-pod-crashlooping",
        "workload/shop/checkout",
        "4. history  kubernetes.rollout_history  [read]",
    ),
    "kube-pod-not-ready": ("kube-pod-not-ready", "workload/shop/cart", "6. restart  "),
    "kube-container-waiting": ("kube-container-waiting", None, "1. pod  kubernetes.pod  [read]"),
    "kube-deployment-replicas-mismatch": (
        "kube-deployment-replicas",
        "deployment/shop/payments",
        "5. restart  kubernetes.restart  [write]",
    ),
    "kube-deployment-rollout-stuck": (
        "kube-rollout-stuck",
        "deployment/shop/frontend",
        "6. rollback  kubernetes.rollback  [write]",
    ),
    "kube-statefulset-replicas-mismatch": (
        "kube-statefulset-replicas",
        None,
        "1. statefulset  kubernetes.workload  [read]",
    ),
    "kube-job-failed": ("kube-job-failed", None, '"selector": "job-name=nightly-report-29145600"'),
    "kube-node-not-ready": (
        "kube-node-not-ready",
        "node/worker-3",
        '"consensus_selector": "node-role.kubernetes.io/control-plane"',
    ),
    "kube-node-unreachable": ("kube-node-not-ready", "node/worker-4", "5. cordon  "),
    "kube-persistent-volume-filling-up": (
        "kube-pvc-filling-up",
        None,
        'persistentvolumeclaim=\\"data-orders-db-0\\"',
    ),
    "kube-hpa-maxed-out": ("kube-hpa-maxed-out", None, '"kind": "HorizontalPodAutoscaler"'),
    "cpu-throttling-high": ("kube-cpu-throttling", None, "2. throttled  prometheus.query"),
    "target-down": ("kube-target-down", None, 'up{job=\\"checkout\\"'),
}
IGNORED_SAMPLES = ("watchdog", "info-inhibitor")


@pytest.mark.parametrize("name", sorted(KUBE_SAMPLES))
def test_every_kubernetes_sample_selects_its_playbook(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each kube-prometheus-stack sample of bot/samples/kubernetes selects exactly its
    kubernetes playbook (no DWCP playbook), with its target and a characteristic step."""
    playbook, target, step = KUBE_SAMPLES[name]
    assert main(["simulate", str(SAMPLES / "kubernetes" / f"{name}.json")]) == 0
    out = capsys.readouterr().out
    assert f"  matches: {playbook} (priority " in out
    assert out.count("  playbook ") == 1
    assert f"target: {target or '(none)'}\n" in out
    assert step in out


@pytest.mark.parametrize("name", IGNORED_SAMPLES)
def test_heartbeat_samples_are_ignored(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Watchdog and InfoInhibitor: ignored, no incident, nothing run."""
    assert main(["simulate", str(SAMPLES / "kubernetes" / f"{name}.json")]) == 0
    out = capsys.readouterr().out
    assert "  ignored: playbook ignore-heartbeats says so" in out
    assert "  playbook " not in out


def test_the_kubernetes_table_covers_every_sample() -> None:
    """Every sample in bot/samples/kubernetes is checked above."""
    found = {p.stem for p in (SAMPLES / "kubernetes").glob("*.json")}
    assert found == {*KUBE_SAMPLES, *IGNORED_SAMPLES}
