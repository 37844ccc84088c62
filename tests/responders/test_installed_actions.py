"""Every responder action is declared by its installed integration (entry points), with the
right kind, integration and a one-line dry-run sentence; built ones run without their setting
name the setting they miss."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.actions.contract import ActionKind, ActionSpec, StepContext
from bot.config import Settings
from bot.errors import PermanentError
from bot.integrations import action_registry, installed_integrations

READ, WRITE, NOTIFY = ActionKind.READ, ActionKind.WRITE, ActionKind.NOTIFY
SYSTEMS = ("alertmanager", "kafka", "kubernetes", "pagerduty", "prometheus", "slack")
NS, DEPLOY, NODE = "{{ labels.namespace }}", "{{ labels.deployment }}", "{{ labels.node }}"

# name -> (kind, integration, a typical ``with:`` block as a playbook would write it)
ACTIONS: dict[str, tuple[ActionKind, str, dict[str, Any]]] = {
    "alertmanager.silence": (
        WRITE,
        "alertmanager",
        {"matchers": ['alertname="DiskSpaceLow"', 'node="{{ labels.node }}"'], "duration": "2h"},
    ),
    "alertmanager.expire_silence": (
        WRITE,
        "alertmanager",
        {"silence_id": "{{ steps.silence.output.silence_id }}"},
    ),
    "kafka.consumer_lag": (READ, "kafka", {"group": "{{ labels.consumergroup }}"}),
    "kubernetes.rollout_history": (READ, "kubernetes", {"namespace": NS, "deployment": DEPLOY}),
    "kubernetes.rollback": (WRITE, "kubernetes", {"namespace": NS, "deployment": DEPLOY}),
    "kubernetes.scale": (
        WRITE,
        "kubernetes",
        {"namespace": NS, "deployment": DEPLOY, "factor": 2, "max_replicas": 20},
    ),
    "kubernetes.restart": (WRITE, "kubernetes", {"namespace": NS, "deployment": DEPLOY}),
    "kubernetes.set_env": (
        WRITE,
        "kubernetes",
        {"namespace": NS, "deployment": "dwcp-v1", "env": {"ENABLE_V3": False}},
    ),
    "kubernetes.set_resources": (
        WRITE,
        "kubernetes",
        {"namespace": NS, "deployment": DEPLOY, "limits": {"memory": "4Gi"}},
    ),
    "kubernetes.wait_rollout": (
        READ,
        "kubernetes",
        {"namespace": NS, "deployment": DEPLOY, "timeout": "5m"},
    ),
    "kubernetes.cordon": (
        WRITE,
        "kubernetes",
        {"node": NODE, "consensus_selector": "dwcp.io/consensus=true"},
    ),
    "kubernetes.uncordon": (WRITE, "kubernetes", {"node": NODE}),
    "kubernetes.drain": (
        WRITE,
        "kubernetes",
        {"node": NODE, "timeout": "15m", "consensus_selector": "dwcp.io/consensus=true"},
    ),
    "kubernetes.delete_node": (WRITE, "kubernetes", {"node": NODE}),
    "kubernetes.logs": (
        READ,
        "kubernetes",
        {"namespace": NS, "deployment": DEPLOY, "tail_lines": 50, "since": "10m"},
    ),
    "kubernetes.events": (READ, "kubernetes", {"namespace": NS, "involved_object": "Node/x"}),
    "kubernetes.pods": (READ, "kubernetes", {"node": NODE}),
    # Evidence for kube-prometheus-stack alerts.
    "kubernetes.pod": (READ, "kubernetes", {"namespace": NS, "pod": "api-5d9f-x2"}),
    "kubernetes.node": (READ, "kubernetes", {"node": NODE}),
    "kubernetes.workload": (
        READ,
        "kubernetes",
        {"kind": "StatefulSet", "namespace": NS, "name": "{{ labels.statefulset }}"},
    ),
    "pagerduty.page": (
        NOTIFY,
        "pagerduty",
        {"summary": "{{ incident.title }}", "routing_key_name": "security"},
    ),
    "pagerduty.note": (NOTIFY, "pagerduty", {"content": "rolled back {{ target }}"}),
    "pagerduty.acknowledge": (WRITE, "pagerduty", {}),
    "pagerduty.resolve": (WRITE, "pagerduty", {"dedup_key": "{{ incident.id }}"}),
    "prometheus.query": (READ, "prometheus", {"query": "up", "expect": "> 0"}),
    "prometheus.wait": (READ, "prometheus", {"query": "up", "condition": "== 1"}),
    "slack.notify": (
        NOTIFY,
        "slack",
        {"text": "Byzantine node {{ labels.node }}", "channel": "security"},
    ),
}
# A built action run without its integration's setting (the engine records a dry run then):
# name -> (rendered ``with:``, the error naming the setting)
UNCONFIGURED: dict[str, tuple[dict[str, Any], str]] = {
    "alertmanager.silence": (
        {"matchers": ['alertname="DiskSpaceLow"'], "duration": "2h"},
        "alertmanager.url is not set",
    ),
    "alertmanager.expire_silence": ({"silence_id": "5f1c-77"}, "alertmanager.url is not set"),
    "kafka.consumer_lag": ({"group": "dwcp-workers"}, "kafka.bootstrap_servers is not set"),
}


def responder_specs() -> dict[str, ActionSpec]:
    """The actions of Medic's own installed integrations (not the engine's own)."""
    return {
        spec.name: spec
        for integration in installed_integrations()
        if integration.name in SYSTEMS
        for spec in integration.specs()
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, as the engine shares one."""
    async with aiohttp.ClientSession() as session:
        yield session


def test_every_responder_action_is_declared_with_its_kind_and_integration() -> None:
    """The responder actions of Medic's six integrations are exactly the documented list
    (minus approval and incident.*), each with its kind and its config section as
    integration."""
    declared = {name: (spec.kind, spec.integration) for name, spec in responder_specs().items()}
    assert declared == {name: (kind, section) for name, (kind, section, _) in ACTIONS.items()}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_typical_params_validate_and_describe_in_one_line(name: str) -> None:
    """A playbook's templated ``with:`` validates, and ``describe`` gives one line that says
    what would happen."""
    spec = responder_specs()[name]
    params = spec.params.model_validate(ACTIONS[name][2])
    assert spec.describe is not None
    sentence = spec.describe(params)
    assert sentence.startswith("would ")
    assert "\n" not in sentence


@pytest.mark.parametrize("name", sorted(UNCONFIGURED))
async def test_built_responders_name_the_missing_setting(
    name: str, http: aiohttp.ClientSession
) -> None:
    """Run without its integration's setting, a built action fails with PermanentError
    naming that setting."""
    spec = responder_specs()[name]
    params, error = UNCONFIGURED[name]
    with pytest.raises(PermanentError, match=f"^{error}$"):
        await spec.run(unconfigured(http), spec.params.model_validate(params))


def unconfigured(http: aiohttp.ClientSession) -> StepContext:
    """A step context with default settings (no integration configured)."""
    return StepContext(
        settings=Settings(),
        http=http,
        incident_id="INC-1",
        run_id="RUN-1",
        step_id="step",
        target=None,
        dry_run=False,
        now=lambda: datetime.now(UTC),
    )


def test_every_action_declares_an_output_model() -> None:
    """Every action Medic ships (its own and its integrations') declares the model of its
    ``steps.<id>.output``, each field with a default (what a dry run holds)."""
    registry = action_registry()
    assert [spec.name for spec in registry if spec.output is None] == []
    for spec in registry:
        assert spec.output is not None
        assert spec.output().model_dump() is not None
