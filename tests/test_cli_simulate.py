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
            "deployment": "cart",
        },
        "annotations": {"summary": "cart availability low"},
    }
    assert main(["simulate", str(write_json(tmp_path / "alert.json", alert))]) == 0
    out = capsys.readouterr().out
    assert "Alert 1 of 1: SLAAvailabilityViolation firing" in out
    assert "matches: auto-rollback (priority 100)\n" in out
    assert "target: deployment/shop/cart\n" in out
    assert '"namespace": "shop", "deployment": "cart"' in out
    assert "→ (depends on earlier steps: " in out


def test_skipped_steps_are_not_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    """A ``when`` that is false for this alert is shown evaluated; its step is not rendered."""
    assert main(["simulate", str(SAMPLES / "certificate-expiring.json")]) == 0
    out = capsys.readouterr().out
    assert 'when: labels.alertname == "DiskSpaceLow"  → false' in out
    assert "with: (not rendered: the step would be skipped)" in out
    assert "would fail" not in out


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", "matches: fallback (priority 0) (fallback: no regular playbook matches)\n"),
        ("warning", "matches: no playbook, not even a fallback: an incident without runs\n"),
    ],
)
def test_alert_matching_no_playbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], severity: str, expected: str
) -> None:
    """Nothing matches: the fallback playbook for critical alerts, else no playbook at all."""
    alert = {"labels": {"alertname": "SomethingNew", "severity": severity}}
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
    """DIR arguments are the playbooks used, instead of the shipped catalogue."""
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
        '1. say  incident.note  [control]\n         with: {"text": "node worker-17 in INC-?"}'
        in out
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
    "real-am-0.25-firing": ("fallback", None, "escalate"),
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
    assert firing == set(FIRING_SAMPLES)
