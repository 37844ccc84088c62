"""The shipped DWCP catalogue (playbooks/dwcp, PLAYBOOKS.md): it loads, matches only DWCP's
alerts, the sample alerts select the right playbooks, the guards sit where the runbooks want
them, and every step renders and validates."""

import json
import re
from typing import Any

import pytest

from bot.actions import ActionKind
from bot.integrations import action_registry
from bot.playbooks.catalogue import catalogue_dir
from bot.playbooks.loader import load_playbooks
from bot.playbooks.models import PlaybookSpec, StepSpec
from bot.playbooks.playbook import PlaybookSet
from bot.playbooks.templates import evaluate, render, render_value

from payloads import SAMPLES, sample

REGISTRY = action_registry()
NAMES = {
    "auto-rollback",
    "byzantine-isolation",
    "diagnose-only",
    "fallback",
    "node-pressure",
    "pool-exhaustion",
    "pool-revert",
    "queue-backlog",
    "service-restart",
    "v1-fallback",
}
DRY_RUN: dict[str, Any] = {"would": "x", "params": {}}
POOL_PARAMS = {"namespace": "production", "deployment": "dwcp-api"}
QUORUM = "dwcp.io/consensus=true"

# Every firing sample: the playbooks its alert selects, in priority order (the first leads).
SAMPLE_SELECTIONS = {
    "all-replicas-down": ["v1-fallback"],
    "byzantine-node-detected": ["byzantine-isolation"],
    "certificate-expiring": ["diagnose-only"],
    "db-pool-exhausted": ["pool-exhaustion"],
    "disk-space-low": ["diagnose-only"],
    "high-error-rate": ["auto-rollback"],
    "high-latency-warning": ["diagnose-only"],
    "message-queue-backlog": ["queue-backlog"],
    "node-high-memory": ["node-pressure"],
    "real-am-0.25-firing": [],
    "service-down": ["service-restart"],
    "sla-availability-violation": ["auto-rollback"],
    "sla-latency-violation": ["auto-rollback"],
}

# Alerts of the catalogue without a sample file.
SYNTHETIC = {
    "node-oom": {
        "alertname": "NodeOOM",
        "severity": "critical",
        "node": "worker-02",
        "team": "platform",
    },
    "throughput": {
        "alertname": "ThroughputDegradation",
        "severity": "warning",
        "instance": "n1",
        "team": "platform",
    },
    "slow-response": {
        "alertname": "SlowResponseTime",
        "severity": "warning",
        "instance": "n1",
        "team": "application",
    },
    "unknown-critical": {"alertname": "SomethingNew", "severity": "critical", "team": "sre"},
    "unknown-emergency": {"alertname": "SomethingNew", "severity": "emergency", "team": "sre"},
    "unknown-warning": {"alertname": "SomethingNew", "severity": "warning", "team": "sre"},
    "error-rate-warning": {
        "alertname": "HighErrorRate",
        "severity": "warning",
        "namespace": "production",
        "deployment": "dwcp-api",
        "team": "sre",
    },
    # Not DWCP's: the same alert names without the runbooks' labels, as any cluster has them.
    "generic-error-rate": {
        "alertname": "HighErrorRate",
        "severity": "critical",
        "namespace": "shop",
        "deployment": "checkout",
    },
    "other-team-error-rate": {
        "alertname": "HighErrorRate",
        "severity": "critical",
        "namespace": "shop",
        "deployment": "checkout",
        "team": "sre",
    },
    "generic-service-down": {"alertname": "ServiceDown", "severity": "critical", "job": "shop"},
    "generic-memory": {"alertname": "HighMemoryUsage", "severity": "critical", "node": "n1"},
    "generic-byzantine": {"alertname": "ByzantineNodeDetected", "node": "n1"},
    "generic-disk": {"alertname": "DiskSpaceLow", "severity": "critical", "instance": "n1"},
    "generic-critical": {"alertname": "SomethingNew", "severity": "critical"},
}


def alert_of(name: str) -> dict[str, Any]:
    """The only alert of the sample ``name``."""
    alert: dict[str, Any] = sample(name)["alerts"][0]
    return alert


def synthetic(name: str) -> dict[str, Any]:
    """A firing alert with the labels ``SYNTHETIC[name]``."""
    return {"status": "firing", "labels": SYNTHETIC[name], "annotations": {}}


# Every alert the render cases use; None is a manual run without an alert (empty labels).
ALERTS: dict[str | None, dict[str, Any]] = {
    **{name: alert_of(name) for name in SAMPLE_SELECTIONS},
    **{name: synthetic(name) for name in SYNTHETIC},
    None: {"status": "", "labels": {}},
}


def firing_samples() -> set[str]:
    """The names of the sample files that hold firing alerts."""
    files = sorted(SAMPLES.glob("*.json"))
    return {f.stem for f in files if json.loads(f.read_text())["status"] == "firing"}


@pytest.fixture(scope="module")
def catalogue() -> PlaybookSet:
    """The DWCP catalogue as Medic ships it."""
    return load_playbooks([catalogue_dir("dwcp")], REGISTRY)


def spec_of(catalogue: PlaybookSet, name: str) -> PlaybookSpec:
    """The spec of the playbook ``name``."""
    playbook = catalogue.get(name)
    assert playbook is not None, name
    return playbook.spec


def dry_run_output(step: StepSpec) -> dict[str, Any]:
    """What a dry run of ``step`` leaves for later steps: its output model's defaults, plus
    ``would`` and ``params``."""
    spec = REGISTRY.get(step.uses)
    assert spec is not None, step.uses
    return spec.complete_output(DRY_RUN)


def context_for(
    spec: PlaybookSpec, alert: dict[str, Any], params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The template context of a run of ``spec`` for ``alert``, every step a dry run."""
    labels = dict(alert["labels"])
    annotations = dict(alert.get("annotations", {}))
    context: dict[str, Any] = {
        "alert": {
            "labels": labels,
            "annotations": annotations,
            "starts_at": alert.get("startsAt", "2026-11-24T02:55:00+00:00"),
            "fingerprint": alert.get("fingerprint", "f00d"),
            "generator_url": alert.get("generatorURL", ""),
            "status": alert["status"],
        },
        "labels": labels,
        "annotations": annotations,
        "incident": {"id": "INC-1", "title": "t", "severity": "sev1", "status": "open"},
        "target": "",
        "steps": {step.id: {"output": dry_run_output(step)} for step in spec.steps},
        "params": params or {},
        "now": "2026-11-24T03:00:00+00:00",
    }
    context["target"] = render(spec.target or "", context)
    return context


def runs(step: StepSpec, context: dict[str, Any]) -> bool:
    """Whether ``step`` runs in ``context``: its ``when`` holds and its ``unless`` does not."""
    allowed = step.when is None or evaluate(step.when, context)
    vetoed = step.unless is not None and evaluate(step.unless, context)
    return allowed and not vetoed


def kind(step: StepSpec) -> ActionKind:
    """The kind (read, write, control) of the action ``step`` uses."""
    action = REGISTRY.get(step.uses)
    assert action is not None, step.uses
    return action.kind


def validate(step: StepSpec, context: dict[str, Any]) -> object:
    """``step``'s ``with:`` rendered in ``context``, validated by its action's params model."""
    action = REGISTRY.get(step.uses)
    assert action is not None, step.uses
    return action.params.model_validate(render_value(step.with_, context))


def guards(steps: list[StepSpec], index: int) -> list[tuple[str, bool]]:
    """(mode, four_eyes) of each approval between the previous write step and ``steps[index]``."""
    writes = [i for i in range(index) if kind(steps[i]) is ActionKind.WRITE]
    start = max(writes, default=-1) + 1
    return [
        (step.with_.get("mode", "consent"), step.with_.get("four_eyes", False))
        for step in steps[start:index]
        if step.uses == "approval"
    ]


def test_catalogue_loads(catalogue: PlaybookSet) -> None:
    """The shipped catalogue loads without a single problem and holds exactly the ten playbooks."""
    assert {playbook.name for playbook in catalogue} == NAMES


def test_every_firing_sample_has_a_selection_case() -> None:
    """A new firing sample file needs its expected selection below."""
    assert firing_samples() == set(SAMPLE_SELECTIONS)


@pytest.mark.parametrize(("name", "expected"), sorted(SAMPLE_SELECTIONS.items()))
def test_sample_selects(catalogue: PlaybookSet, name: str, expected: list[str]) -> None:
    """Each sample alert selects its playbooks; the first (highest priority) leads the incident
    (the real Alertmanager captures carry no DWCP label and select nothing)."""
    selection = catalogue.select(alert_of(name)["labels"])
    assert [playbook.name for playbook in selection.playbooks] == expected
    assert selection.leader is (selection.playbooks[0] if expected else None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("node-oom", ["node-pressure"]),
        ("throughput", ["diagnose-only"]),
        ("slow-response", ["diagnose-only"]),
        ("unknown-critical", ["fallback"]),
        ("unknown-emergency", ["fallback"]),
        ("unknown-warning", []),
        ("error-rate-warning", []),
        ("generic-error-rate", []),
        ("other-team-error-rate", ["fallback"]),
        ("generic-service-down", []),
        ("generic-memory", []),
        ("generic-byzantine", []),
        ("generic-disk", []),
        ("generic-critical", []),
    ],
)
def test_synthetic_alert_selects(catalogue: PlaybookSet, name: str, expected: list[str]) -> None:
    """Alerts without samples: fallback takes only unmatched critical or emergency DWCP
    alerts, auto-rollback only critical ones, an unknown warning selects nothing, and the
    same alert names without DWCP's labels (its runbooks' ``team``, a ``dwcp-`` workload)
    select nothing at all."""
    selection = catalogue.select(SYNTHETIC[name])
    assert [playbook.name for playbook in selection.playbooks] == expected


@pytest.mark.parametrize(
    ("name", "key"),
    [
        (
            "sla-availability-violation",
            'auto-rollback:{"deployment":"dwcp-v3","namespace":"dwcp-v3-production"}',
        ),
        ("byzantine-node-detected", 'byzantine-isolation:{"node":"worker-17"}'),
        (
            "message-queue-backlog",
            'queue-backlog:{"consumergroup":"dwcp-workers","namespace":"production"}',
        ),
        ("disk-space-low", 'diagnose-only:{"alertname":"DiskSpaceLow","instance":"worker-03"}'),
    ],
)
def test_leader_fixes_incident_key(catalogue: PlaybookSet, name: str, key: str) -> None:
    """The leading playbook's group_by makes the incident key."""
    labels = alert_of(name)["labels"]
    leader = catalogue.select(labels).leader
    assert leader is not None
    assert leader.incident_key(labels) == key


def test_pool_revert_is_manual_only(catalogue: PlaybookSet) -> None:
    """pool-revert has no matchers: only `/incident run pool-revert` starts it."""
    playbook = catalogue.get("pool-revert")
    assert playbook is not None
    assert playbook.manual_only
    assert not playbook.matches(alert_of("db-pool-exhausted")["labels"])


def test_byzantine_writes_after_cordon_need_four_eyes_consent(catalogue: PlaybookSet) -> None:
    """After the immediate cordon, each write step of byzantine-isolation has its own
    four-eyes consent approval."""
    steps = spec_of(catalogue, "byzantine-isolation").steps
    cordon = [step.id for step in steps].index("cordon")
    later_writes = [i for i in range(cordon + 1, len(steps)) if kind(steps[i]) is ActionKind.WRITE]
    assert [(steps[i].id, guards(steps, i)) for i in later_writes] == [
        ("drain", [("consent", True)]),
        ("delete_node", [("consent", True)]),
    ]


def test_byzantine_tells_security_before_cordon(catalogue: PlaybookSet) -> None:
    """Security is paged (its routing key) and told in its channel before the cordon, which
    runs without approval; neither notification can stop the cordon."""
    steps = spec_of(catalogue, "byzantine-isolation").steps
    first = [(s.uses, s.on_failure.value, guards(steps, i)) for i, s in enumerate(steps[:3])]
    assert first == [
        ("pagerduty.page", "continue", []),
        ("slack.notify", "continue", []),
        ("kubernetes.cordon", "escalate", []),
    ]
    assert steps[0].with_["routing_key_name"] == "security"
    assert steps[1].with_["channel"] == "security"


def test_destructive_steps_need_four_eyes_consent(catalogue: PlaybookSet) -> None:
    """Every drain, delete_node and set_resources step sits behind a four-eyes consent."""
    destructive = {"kubernetes.drain", "kubernetes.delete_node", "kubernetes.set_resources"}
    found = {
        (playbook.name, step.id): guards(list(playbook.spec.steps), index)
        for playbook in catalogue
        for index, step in enumerate(playbook.spec.steps)
        if step.uses in destructive
    }
    assert found == {
        ("byzantine-isolation", "drain"): [("consent", True)],
        ("byzantine-isolation", "delete_node"): [("consent", True)],
        ("node-pressure", "drain"): [("consent", True)],
        ("v1-fallback", "raise_memory"): [("consent", True)],
    }


def test_node_writes_carry_the_quorum_guard(catalogue: PlaybookSet) -> None:
    """Every cordon, drain and delete_node names the consensus nodes the quorum guard protects."""
    node_writes = {"kubernetes.cordon", "kubernetes.drain", "kubernetes.delete_node"}
    selectors = {
        (playbook.name, step.id): step.with_.get("consensus_selector")
        for playbook in catalogue
        for step in playbook.spec.steps
        if step.uses in node_writes
    }
    assert selectors == {
        ("byzantine-isolation", "cordon"): QUORUM,
        ("byzantine-isolation", "drain"): QUORUM,
        ("byzantine-isolation", "delete_node"): QUORUM,
        ("node-pressure", "cordon"): QUORUM,
        ("node-pressure", "drain"): QUORUM,
    }


@pytest.mark.parametrize(
    ("playbook", "approvals"),
    [
        ("auto-rollback", [("rollback", "veto", "30s")]),
        ("queue-backlog", [("scale", "veto", "60s")]),
        ("node-pressure", [("cordon", "veto", "60s"), ("drain", "consent", None)]),
        ("v1-fallback", [("restart_v3", "consent", None), ("raise_memory", "consent", None)]),
        ("pool-exhaustion", [("raise_pool", "consent", None)]),
        ("pool-revert", [("revert_pool", "consent", None)]),
        ("service-restart", [("restart", "consent", None)]),
    ],
)
def test_approval_modes(
    catalogue: PlaybookSet, playbook: str, approvals: list[tuple[str, str, str | None]]
) -> None:
    """Each approval guards the step PLAYBOOKS.md names, in its mode (veto windows, consent)."""
    steps = spec_of(catalogue, playbook).steps
    found = [
        (steps[index + 1].id, step.with_["mode"], step.with_.get("timeout"))
        for index, step in enumerate(steps)
        if step.uses == "approval"
    ]
    assert found == approvals


def test_v1_fallback_moves_traffic_without_approval(catalogue: PlaybookSet) -> None:
    """The runbook says immediate: v1 is scaled to 10, ENABLE_V3=false set and the page sent
    before any approval."""
    steps = spec_of(catalogue, "v1-fallback").steps
    first = [(step.uses, dict(step.with_)) for step in steps[:2]]
    assert first == [
        (
            "kubernetes.scale",
            {"namespace": "{{ labels.namespace }}", "deployment": "dwcp-v1", "replicas": 10},
        ),
        (
            "kubernetes.set_env",
            {
                "namespace": "{{ labels.namespace }}",
                "deployment": "dwcp-v1",
                "env": {"ENABLE_V3": "false"},
            },
        ),
    ]
    assert (steps[2].uses, steps[2].with_["severity"]) == ("pagerduty.page", "critical")
    assert [guards(list(steps), i) for i in range(3)] == [[], [], []]


@pytest.mark.parametrize("playbook", ["diagnose-only", "fallback"])
def test_changes_nothing(catalogue: PlaybookSet, playbook: str) -> None:
    """diagnose-only and fallback have no target and no write step."""
    spec = spec_of(catalogue, playbook)
    assert spec.target is None
    assert [step.id for step in spec.steps if kind(step) is ActionKind.WRITE] == []


@pytest.mark.parametrize(
    ("output", "escalates"),
    [
        (DRY_RUN, False),
        ({"last_change_age_s": 600}, False),
        ({"last_change_age_s": 21601}, True),
        ({"last_change_age_s": None}, False),
    ],
)
def test_auto_rollback_stops_without_recent_change(
    catalogue: PlaybookSet, output: dict[str, Any], escalates: bool
) -> None:
    """No new revision in 6 h: escalate and stop; a dry run's history (the output model's
    defaults) never stops the run."""
    spec = spec_of(catalogue, "auto-rollback")
    context = context_for(spec, alert_of("sla-availability-violation"))
    history = REGISTRY.get("kubernetes.rollout_history")
    assert history is not None
    context["steps"]["history"] = {"output": history.complete_output(output)}
    unchanged = next(step for step in spec.steps if step.id == "unchanged")
    assert (runs(unchanged, context), unchanged.then.value) == (escalates, "stop")


def test_pool_exhaustion_offers_the_revert(catalogue: PlaybookSet) -> None:
    """The note after the raise offers a `/incident run pool-revert …` whose parameters target
    the very deployment pool-exhaustion changed."""
    spec = spec_of(catalogue, "pool-exhaustion")
    context = context_for(spec, alert_of("db-pool-exhausted"))
    note = next(step for step in spec.steps if step.id == "offer_revert")
    text = render_value(note.with_, context)["text"]
    command = re.search(r"/incident run pool-revert((?: \w+=[\w.-]+)+)", text)
    assert command is not None, text
    params = dict(pair.split("=") for pair in command.group(1).split())
    revert = spec_of(catalogue, "pool-revert")
    assert context_for(revert, {"status": "", "labels": {}}, params)["target"] == context["target"]


# (playbook, alert, manual params, expected target, steps a dry run skips)
RENDER_CASES = [
    (
        "auto-rollback",
        "sla-availability-violation",
        None,
        "deployment/dwcp-v3-production/dwcp-v3",
        ["unchanged"],
    ),
    (
        "auto-rollback",
        "sla-latency-violation",
        None,
        "deployment/dwcp-v3-production/dwcp-v3",
        ["unchanged"],
    ),
    ("auto-rollback", "high-error-rate", None, "deployment/production/dwcp-api", ["unchanged"]),
    ("v1-fallback", "all-replicas-down", None, "deployment/dwcp-v3-production/dwcp-v3", []),
    ("byzantine-isolation", "byzantine-node-detected", None, "node/worker-17", []),
    ("pool-exhaustion", "db-pool-exhausted", None, "deployment/production/dwcp-api", []),
    ("pool-revert", None, POOL_PARAMS, "deployment/production/dwcp-api", []),
    ("pool-revert", "db-pool-exhausted", None, "deployment/production/dwcp-api", []),
    ("queue-backlog", "message-queue-backlog", None, "deployment/production/dwcp-workers", []),
    ("service-restart", "service-down", None, "deployment/production/dwcp-api", []),
    ("node-pressure", "node-high-memory", None, "node/worker-09", []),
    ("node-pressure", "node-oom", None, "node/worker-02", []),
    (
        "diagnose-only",
        "disk-space-low",
        None,
        "",
        ["certificate_days", "latency_p99", "throughput_mbps", "response_p95"],
    ),
    (
        "diagnose-only",
        "certificate-expiring",
        None,
        "",
        ["raise_severity", "disk", "latency_p99", "throughput_mbps", "response_p95"],
    ),
    (
        "diagnose-only",
        "high-latency-warning",
        None,
        "",
        ["raise_severity", "disk", "certificate_days", "throughput_mbps", "response_p95"],
    ),
    (
        "diagnose-only",
        "throughput",
        None,
        "",
        ["raise_severity", "disk", "certificate_days", "latency_p99", "response_p95"],
    ),
    (
        "diagnose-only",
        "slow-response",
        None,
        "",
        ["raise_severity", "disk", "certificate_days", "latency_p99", "throughput_mbps"],
    ),
    ("fallback", "unknown-critical", None, "", []),
    ("fallback", "unknown-emergency", None, "", []),
]


@pytest.mark.parametrize(("playbook", "alert", "params", "target", "skipped"), RENDER_CASES)
def test_steps_render_and_validate(
    catalogue: PlaybookSet,
    playbook: str,
    alert: str | None,
    params: dict[str, str] | None,
    target: str,
    skipped: list[str],
) -> None:
    """With the alert's labels and every earlier step a dry run, the target renders, the
    `when`/`unless` expressions evaluate, and each running step's rendered `with:` is valid
    params for its action."""
    spec = spec_of(catalogue, playbook)
    context = context_for(spec, ALERTS[alert], params)
    validated = {step.id: validate(step, context) for step in spec.steps if runs(step, context)}
    assert context["target"] == target
    assert [step.id for step in spec.steps if step.id not in validated] == skipped
