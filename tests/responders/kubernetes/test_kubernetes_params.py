"""``kubernetes.*`` params: what playbooks may write (templated or literal), what fails
``medic check``, and the dry-run sentences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.actions.contract import ActionParams
from responders.kubernetes import actions
from responders.kubernetes.models import (
    CordonParams,
    DeleteNodeParams,
    DrainParams,
    EventsParams,
    LogsParams,
    PodsParams,
    RollbackParams,
    RolloutHistoryParams,
    ScaleParams,
    SetEnvParams,
    SetResourcesParams,
    WaitRolloutParams,
)

NS = {"namespace": "dwcp-v3-production"}
DEP = {**NS, "deployment": "dwcp-v3"}
TEMPLATED = {"namespace": "{{ labels.namespace }}", "deployment": "{{ labels.deployment }}"}

GOOD: list[tuple[type[ActionParams], dict[str, Any], dict[str, Any]]] = [
    (RolloutHistoryParams, TEMPLATED, TEMPLATED),
    (RolloutHistoryParams, {**NS, "deployment": "api.v2"}, {"deployment": "api.v2"}),
    (RollbackParams, DEP, {"revision": None}),
    (RollbackParams, {**DEP, "revision": 7}, {"revision": 7}),
    (ScaleParams, {**DEP, "replicas": 10}, {"replicas": 10, "factor": None}),
    (ScaleParams, {**DEP, "replicas": "10"}, {"replicas": 10}),
    (ScaleParams, {**DEP, "factor": 2, "max_replicas": 20}, {"factor": 2.0, "max_replicas": 20}),
    (ScaleParams, {**DEP, "replicas": 5, "max_replicas": 5}, {"replicas": 5}),
    (
        SetEnvParams,
        {**DEP, "env": {"DB_POOL_SIZE": 150, "ENABLE_V3": False, "RATIO": 0.5}},
        {"env": {"DB_POOL_SIZE": "150", "ENABLE_V3": "false", "RATIO": "0.5"}, "container": None},
    ),
    (
        SetEnvParams,
        {**TEMPLATED, "container": "app", "env": {"LEVEL": "{{ labels.level }}"}},
        {"container": "app"},
    ),
    (
        SetResourcesParams,
        {**DEP, "limits": {"memory": "4Gi", "cpu": 2}, "requests": {"cpu": "500m"}},
        {"limits": {"memory": "4Gi", "cpu": "2"}, "requests": {"cpu": "500m"}},
    ),
    (SetResourcesParams, {**DEP, "limits": {"nvidia.com/gpu": "1"}}, {"requests": {}}),
    (SetResourcesParams, {**DEP, "limits": {"memory": "{{ params.memory }}"}}, {}),
    (WaitRolloutParams, DEP, {"timeout": timedelta(minutes=10)}),
    (WaitRolloutParams, {**DEP, "timeout": "90s"}, {"timeout": timedelta(seconds=90)}),
    (CordonParams, {"node": "{{ labels.node }}"}, {"consensus_selector": None}),
    (
        CordonParams,
        {"node": "worker-17", "consensus_selector": "dwcp.io/consensus=true"},
        {"consensus_selector": "dwcp.io/consensus=true"},
    ),
    (DeleteNodeParams, {"node": "ip-10-0-3-7.ec2.internal"}, {}),
    (
        DrainParams,
        {"node": "worker-17"},
        {"timeout": timedelta(minutes=10), "allow_emptydir": False},
    ),
    (DrainParams, {"node": "worker-17", "timeout": "20m", "allow_emptydir": True}, {}),
    (LogsParams, {**NS, "pod": "dwcp-v3-7c9d-x2x"}, {"tail_lines": 100, "since": None}),
    (LogsParams, {**DEP, "node": "worker-17", "previous": True}, {"previous": True}),
    (LogsParams, {**NS, "selector": "app=dwcp", "since": "15m"}, {"since": timedelta(minutes=15)}),
    (EventsParams, NS, {"limit": 50}),
    (EventsParams, {"involved_object": "Node/{{ labels.node }}"}, {"namespace": None}),
    (EventsParams, {**NS, "field_selector": "reason=OOMKilling"}, {}),
    (PodsParams, {"node": "worker-17"}, {"namespace": None}),
    (PodsParams, DEP, {}),
    (PodsParams, {**NS, "selector": "app=dwcp"}, {}),
]

BAD: list[tuple[type[ActionParams], dict[str, Any], str]] = [
    (RolloutHistoryParams, {"namespace": "Prod_NS", "deployment": "x"}, "RFC 1123 label"),
    (RolloutHistoryParams, {"namespace": "a.b", "deployment": "x"}, "RFC 1123 label"),
    (RolloutHistoryParams, {**NS, "deployment": "-x"}, "RFC 1123 subdomain"),
    (RolloutHistoryParams, {**NS, "deployment": "  "}, "must not be empty"),
    (RolloutHistoryParams, NS, "deployment"),
    (RolloutHistoryParams, {**DEP, "deploymnet": "typo"}, "Extra inputs are not permitted"),
    (RollbackParams, {**DEP, "revision": 0}, "greater than or equal to 1"),
    (ScaleParams, {**DEP, "replicas": 3, "factor": 2}, "exactly one of replicas or factor"),
    (ScaleParams, DEP, "exactly one of replicas or factor"),
    (ScaleParams, {**DEP, "max_replicas": 20}, "exactly one of replicas or factor"),
    (ScaleParams, {**DEP, "replicas": 30, "max_replicas": 20}, "above max_replicas 20"),
    (ScaleParams, {**DEP, "factor": 0}, "greater than 0"),
    (ScaleParams, {**DEP, "replicas": -1}, "greater than or equal to 0"),
    (SetEnvParams, {**DEP, "env": {}}, "give env, remove or both"),
    (SetEnvParams, {**DEP, "env": {"A": "1"}, "remove": ["A"]}, "both set and removed"),
    (SetEnvParams, {**DEP, "env": {"A=B": "1"}}, "not an environment variable name"),
    (SetEnvParams, {**DEP, "env": {"1X": "1"}}, "not an environment variable name"),
    (SetEnvParams, {**DEP, "env": {"X": ["a"]}}, "valid string"),
    (SetResourcesParams, DEP, "give limits, requests or both"),
    (SetResourcesParams, {**DEP, "limits": {"memory": "4 GB"}}, "not a quantity"),
    (SetResourcesParams, {**DEP, "requests": {"memory!": "1Gi"}}, "not a resource name"),
    (WaitRolloutParams, {**DEP, "timeout": "ten minutes"}, "not a duration"),
    (CordonParams, {"node": "Worker_17"}, "RFC 1123 subdomain"),
    (CordonParams, {"node": "worker-17", "consensus_selector": ""}, "must not be empty"),
    (DrainParams, {"node": "worker-17", "grace": "1m"}, "Extra inputs are not permitted"),
    (LogsParams, NS, "exactly one of pod, deployment or selector"),
    (LogsParams, {**DEP, "pod": "p"}, "exactly one of pod, deployment or selector"),
    (LogsParams, {**NS, "pod": "p", "node": "n"}, "node narrows a deployment or selector"),
    (LogsParams, {**DEP, "tail_lines": 0}, "greater than or equal to 1"),
    (LogsParams, {**DEP, "tail_lines": 100000}, "less than or equal to 5000"),
    (EventsParams, {}, "give a namespace, a field_selector or an involved_object"),
    (EventsParams, {"field_selector": "a=b", "involved_object": "Pod/x"}, "not both"),
    (EventsParams, {"involved_object": "worker-17"}, "Kind/name"),
    (PodsParams, {}, "give a namespace, a selector or a node"),
    (PodsParams, {"deployment": "dwcp-v3"}, "deployment needs its namespace"),
    (PodsParams, {**DEP, "selector": "app=x"}, "deployment or selector, not both"),
]


@pytest.mark.parametrize(("model", "given", "expected"), GOOD)
def test_valid_params(
    model: type[ActionParams], given: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Literal and templated values validate; YAML numbers/booleans become the strings
    Kubernetes wants; defaults fill in."""
    params = model.model_validate(given)
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(("model", "given", "reason"), BAD)
def test_invalid_params(model: type[ActionParams], given: dict[str, Any], reason: str) -> None:
    """Shapes a playbook cannot mean fail validation with a reason a human can act on."""
    with pytest.raises(ValidationError, match=reason):
        model.model_validate(given)


def test_params_are_frozen() -> None:
    """Params cannot be changed after validation."""
    params = ScaleParams.model_validate({**DEP, "replicas": 1})
    with pytest.raises(ValidationError, match="frozen"):
        params.replicas = 2  # type: ignore[misc]


DESCRIBED: list[tuple[Callable[[Any], str], type[ActionParams], dict[str, Any], str]] = [
    (
        actions.describe_rollback,
        RollbackParams,
        DEP,
        "would roll back deployment dwcp-v3-production/dwcp-v3 to its previous revision",
    ),
    (
        actions.describe_rollback,
        RollbackParams,
        {**DEP, "revision": 4},
        "would roll back deployment dwcp-v3-production/dwcp-v3 to revision 4",
    ),
    (
        actions.describe_scale,
        ScaleParams,
        {**NS, "deployment": "dwcp-v1", "replicas": 10},
        "would scale deployment dwcp-v3-production/dwcp-v1 to 10 replicas",
    ),
    (
        actions.describe_scale,
        ScaleParams,
        {"namespace": "production", "deployment": "dwcp-workers", "factor": 2, "max_replicas": 20},
        "would scale deployment production/dwcp-workers by a factor of 2 (rounded up, at most 20)",
    ),
    (
        actions.describe_set_env,
        SetEnvParams,
        {
            "namespace": "production",
            "deployment": "dwcp-api",
            "env": {"DB_POOL_SIZE": 150, "DB_POOL_MAX": 200},
        },
        "would set DB_POOL_MAX=200, DB_POOL_SIZE=150 on the only container of deployment "
        "production/dwcp-api",
    ),
    (
        actions.describe_set_resources,
        SetResourcesParams,
        {**DEP, "container": "dwcp", "limits": {"memory": "4Gi"}, "requests": {"memory": "2Gi"}},
        "would set limits memory=4Gi and requests memory=2Gi on container dwcp of deployment "
        "dwcp-v3-production/dwcp-v3",
    ),
    (
        actions.describe_cordon,
        CordonParams,
        {"node": "worker-17", "consensus_selector": "dwcp.io/consensus=true"},
        "would cordon node worker-17 (quorum guard on dwcp.io/consensus=true nodes)",
    ),
    (
        actions.describe_drain,
        DrainParams,
        {"node": "worker-09"},
        "would drain node worker-09: cordon it and evict its pods within 10m (refusing pods "
        "with emptyDir volumes, respecting PodDisruptionBudgets)",
    ),
    (
        actions.describe_logs,
        LogsParams,
        {**DEP, "node": "worker-17", "tail_lines": 50, "since": "1h"},
        "would read the last 50 log lines from the last 1h of the pods of deployment "
        "dwcp-v3-production/dwcp-v3 on node worker-17",
    ),
    (
        actions.describe_events,
        EventsParams,
        {"involved_object": "Node/worker-17"},
        "would read the latest 50 events of Node/worker-17 in every allowed namespace",
    ),
    (
        actions.describe_pods,
        PodsParams,
        DEP,
        "would list the pods of deployment dwcp-v3-production/dwcp-v3 with status, restarts "
        "and last termination reasons",
    ),
]


@pytest.mark.parametrize(("describe", "model", "given", "sentence"), DESCRIBED)
def test_describe_sentences(
    describe: Callable[[Any], str], model: type[ActionParams], given: dict[str, Any], sentence: str
) -> None:
    """The dry-run sentence says exactly what would change, on what."""
    assert describe(model.model_validate(given)) == sentence


def test_quorum_selector_is_an_alias_of_consensus_selector() -> None:
    """The issue's ``quorum_selector`` and the catalogue's ``consensus_selector`` both set
    the quorum guard's selector."""
    by_alias = CordonParams.model_validate({"node": "n1", "quorum_selector": "role=acp"})
    by_name = CordonParams.model_validate({"node": "n1", "consensus_selector": "role=acp"})
    assert by_alias.consensus_selector == by_name.consensus_selector == "role=acp"
