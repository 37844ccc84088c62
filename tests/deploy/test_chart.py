"""The Helm chart deploy/helm/medic, rendered and linted by Helm's own Go SDK, its values
schema, its config as Medic reads it, and its manifests on a real kube-apiserver."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from bot.config import load_settings
from bot.integrations import config_sections
from responders.kubernetes.config import KubernetesConfig
from responders.pagerduty.config import PagerDutyConfig

from harness.chart import (
    CHART,
    SECRETS_DIR,
    collection_path,
    config_map,
    medic_config,
    notes,
    objects,
    one,
    render,
)
from harness.kube import KubeApi, eventually
from harness.kube_fixtures import unique

SECRET_VALUES: dict[str, Any] = {
    "alertmanager-bearer-token": "am-token-1",
    "api-token": "bridge-token-1",
    "api-users": {"U1": "personal-token-1"},
    "slack-bot-token": "xoxb-1",
    "slack-signing-secret": "signing-1",
    "slack-app-token": "xapp-1",
    "pagerduty-api-token": "pd-api-1",
    "pagerduty-routing-key": "pd-route-1",
    "pagerduty-routing-keys": {"security": "pd-route-sec"},
    "pagerduty-webhook-secrets": ["whsec-1", "whsec-2"],
}
POSTGRES = {"url": "postgresql://medic@db.example:5432/medic"}


def test_chart_lints_clean() -> None:
    """``helm lint`` (strict) finds no error and no warning."""
    report = helm_python.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": "two"}, "replicas"),
        ({"replica": 2}, "replica"),
        ({"image": {"repository": ""}}, "repository"),
        ({"store": {"url": "mysql://x"}}, "url"),
        ({"secrets": {"values": {"slack-token": "x"}}}, "slack-token"),
        ({"secrets": {"existingSecretKeys": ["github-token"]}}, "existingSecretKeys"),
        ({"secrets": {"values": {"api-users": ["U1"]}}}, "api-users"),
        ({"config": {"server": {"host": "127.0.0.1"}}}, "server"),
        ({"service": {"port": 70000}}, "port"),
        ({"serviceMonitor": {"interval": "often"}}, "interval"),
        ({"secrets": {"existingSecret": "mine", "values": {"api-token": "x"}}}, "values"),
    ],
    ids=[
        "replicas-zero",
        "replicas-not-int",
        "unknown-key",
        "empty-repository",
        "store-scheme",
        "unknown-secret-key",
        "unknown-existing-key",
        "api-users-not-mapping",
        "host-set-in-config",
        "port-range",
        "interval-format",
        "existing-and-values",
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    """values.schema.json refuses each bad value, naming where it is."""
    with pytest.raises(helm_python.HelmError) as caught:
        render(values)
    assert where in str(caught.value)


def test_more_than_one_replica_needs_postgresql() -> None:
    """replicas > 1 on SQLite fails the install with the reason; on PostgreSQL it renders,
    with a PodDisruptionBudget and a rolling update."""
    with pytest.raises(helm_python.HelmError, match="replicas > 1 needs PostgreSQL"):
        render({"replicas": 2})
    rendered = render({"replicas": 2, "store": POSTGRES})
    assert one(rendered, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    deployment = one(rendered, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]
    assert "PodDisruptionBudget" not in {o["kind"] for o in objects(render())}


def test_default_install_is_a_locked_down_single_pod() -> None:
    """Defaults: one pod, non-root, read-only root, no capabilities, probes on /healthz and
    /readyz, SQLite on the data volume, Recreate, Service on 8080, RBAC for the SA."""
    rendered = render()
    deployment = one(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {
        "/etc/medic/medic.yaml",
        "/var/lib/medic",
        "/tmp",
    }
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert medic_config(rendered)["store"]["url"] == "sqlite:////var/lib/medic/medic.db"
    assert one(rendered, "Service")["spec"]["ports"][0]["port"] == 8080
    binding = one(rendered, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == one(rendered, "ServiceAccount")["metadata"]["name"]


def _materialize(rendered: dict[str, str], tmp_path: Path) -> Path:
    """The chart's medic.yaml with its Secret's files written under ``tmp_path``."""
    secret = one(rendered, "Secret")
    for name, value in secret["stringData"].items():
        (tmp_path / name).write_text(value)
    text = config_map(rendered)["data"]["medic.yaml"].replace(SECRETS_DIR, str(tmp_path))
    config = tmp_path / "medic.yaml"
    config.write_text(text)
    return config


def test_chart_made_secret_reaches_every_config_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every secret given, the chart makes one Secret, mounts each key as a file and
    sets the matching ``<key>_file``; Medic reads them all to the same values."""
    for name in list(os.environ):
        if name.startswith("MEDIC_"):
            monkeypatch.delenv(name)
    rendered = render({"secrets": {"values": SECRET_VALUES}, "store": POSTGRES})
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    secrets = next(v for v in pod["volumes"] if v["name"] == "secrets")["secret"]
    assert {i["key"] for i in secrets["items"]} == set(SECRET_VALUES)
    settings = load_settings(_materialize(rendered, tmp_path), config_sections())
    pagerduty = settings.section("pagerduty")
    assert isinstance(pagerduty, PagerDutyConfig)
    clear = {
        "alertmanager-bearer-token": settings.alertmanager.bearer_token,
        "api-token": settings.server.api_token,
        "slack-bot-token": settings.slack.bot_token,
        "slack-signing-secret": settings.slack.signing_secret,
        "slack-app-token": settings.slack.app_token,
        "pagerduty-api-token": pagerduty.api_token,
        "pagerduty-routing-key": pagerduty.routing_key,
    }
    assert {k: v.get_secret_value() for k, v in clear.items() if v is not None} == {
        k: SECRET_VALUES[k] for k in clear
    }
    assert {u: t.get_secret_value() for u, t in settings.server.api_users.items()} == {
        "U1": "personal-token-1"
    }
    assert [s.get_secret_value() for s in pagerduty.webhook_secrets] == [
        "whsec-1",
        "whsec-2",
    ]
    assert settings.store.url == POSTGRES["url"]
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8080)  # noqa: S104


def test_readme_example_values_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values shown in the README's "Install in Kubernetes" render, and Medic accepts
    the resulting medic.yaml with the Secret's files."""
    for name in list(os.environ):
        if name.startswith("MEDIC_"):
            monkeypatch.delenv(name)
    readme = (CHART.parents[2] / "README.md").read_text()
    section = readme[readme.index("**The chart.**") :]
    block = section[section.index("```yaml") + len("```yaml") : section.index("```\n\n")]
    rendered = render(yaml.safe_load(block))
    assert {"ServiceMonitor", "PrometheusRule", "PodDisruptionBudget"} <= {
        o["kind"] for o in objects(rendered)
    }
    settings = load_settings(_materialize(rendered, tmp_path), config_sections())
    assert settings.slack.enabled
    kubernetes = settings.section("kubernetes")
    assert isinstance(kubernetes, KubernetesConfig)
    assert kubernetes.namespaces == ["shop", "payments"]


def test_existing_secrets_for_tokens_and_store() -> None:
    """An existing Secret: no Secret is made, only the listed keys are mounted and
    configured; the store URL comes from its own Secret as MEDIC_STORE__URL."""
    rendered = render(
        {
            "secrets": {
                "existingSecret": "medic-tokens",
                "existingSecretKeys": ["alertmanager-bearer-token", "slack-bot-token"],
            },
            "store": {"existingSecret": "medic-db", "existingSecretKey": "dsn"},
            "replicas": 2,
        }
    )
    assert "Secret" not in {o["kind"] for o in objects(rendered)}
    config = medic_config(rendered)
    assert config["alertmanager"] == {
        "bearer_token_file": f"{SECRETS_DIR}/alertmanager-bearer-token"
    }
    assert config["slack"] == {"bot_token_file": f"{SECRETS_DIR}/slack-bot-token"}
    assert "store" not in config
    (container,) = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {
            "name": "MEDIC_STORE__URL",
            "valueFrom": {"secretKeyRef": {"name": "medic-db", "key": "dsn"}},
        }
    ]


def test_config_change_rolls_the_pods() -> None:
    """A different config (or secret) changes the pod template's checksum annotations."""

    def annotations(values: dict[str, Any]) -> dict[str, str]:
        template = one(render(values), "Deployment")["spec"]["template"]
        return dict(template["metadata"]["annotations"])

    base = annotations({})
    changed = annotations({"config": {"safety": {"dry_run": False}}})
    secret = annotations({"secrets": {"values": {"api-token": "t"}}})
    assert base["checksum/config"] != changed["checksum/config"]
    assert base["checksum/secret"] != secret["checksum/secret"]
    assert annotations({}) == base


def test_notes_print_the_alertmanager_route_for_the_service() -> None:
    """NOTES.txt gives the receiver snippet (child route with continue, short group_wait,
    send_resolved, token file) with this release's Service URL, and warns about what is
    missing."""
    text = notes(render(name="oncall", namespace="ops"))
    assert "url: http://oncall-medic.ops.svc:8080/webhooks/alertmanager" in text
    for line in ("continue: true", "group_wait: 1s", "send_resolved: true", "credentials_file:"):
        assert line in text
    assert "WARNING: no alertmanager-bearer-token secret" in text
    quiet = notes(render({"secrets": {"values": {"alertmanager-bearer-token": "x"}}}))
    assert "WARNING" not in quiet


def test_optional_objects() -> None:
    """ServiceMonitor, PrometheusRule, Grafana dashboard and NetworkPolicy appear when
    enabled; the ServiceMonitor scrapes the Service's http port at /metrics."""
    rendered = render(
        {
            "serviceMonitor": {"enabled": True},
            "prometheusRule": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
            "networkPolicy": {"enabled": True},
        }
    )
    kinds = {o["kind"] for o in objects(rendered)}
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} <= kinds
    monitor = one(rendered, "ServiceMonitor")["spec"]
    service = one(rendered, "Service")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    policy = one(rendered, "NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    default_kinds = {o["kind"] for o in objects(render())}
    assert not {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} & default_kinds


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    """The PrometheusRule's groups are valid Prometheus rules (``promtool check rules``)."""
    rule = one(render({"prometheusRule": {"enabled": True}}), "PrometheusRule")
    rules = tmp_path / "medic-rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run(
        ["promtool", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


async def test_manifests_apply_to_a_real_api_server(kube: KubeApi) -> None:
    """Every object of a full install (tokens, PostgreSQL, two replicas, NetworkPolicy) is
    accepted by kube-apiserver 1.20 and the Deployment rolls out (the fake kubelet marks its
    pods ready). Not applied: ServiceMonitor and PrometheusRule (their CRDs belong to the
    Prometheus Operator; checked above and by promtool) and the policy/v1
    PodDisruptionBudget (1.20 serves only policy/v1beta1; on such a cluster Helm's
    capabilities pick v1beta1)."""
    namespace = unique("chart")
    release = unique("rel")
    await kube.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    rendered = render(
        {
            "secrets": {"values": SECRET_VALUES},
            "store": POSTGRES,
            "replicas": 2,
            "networkPolicy": {"enabled": True},
            "config": {"kubernetes": {"mode": "in_cluster", "namespaces": [namespace]}},
        },
        name=release,
        namespace=namespace,
    )
    applied = []
    try:
        for obj in objects(rendered):
            if obj["kind"] in {"PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}:
                continue
            path = collection_path(obj["kind"], namespace)
            await kube.create(path, obj)
            applied.append(f"{path}/{obj['metadata']['name']}")
        name = f"{release}-medic"
        deployment = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

        async def rolled_out() -> bool:
            status = (await kube.get(deployment)).get("status", {})
            return bool(status.get("readyReplicas") == 2)

        await eventually(rolled_out, "the chart's Deployment rolled out", within=60)
    finally:
        for path in reversed(applied):
            if "/namespaces/" not in path:
                await kube.delete(path)
        await kube.delete(f"/api/v1/namespaces/{namespace}")
    assert {p.rsplit("/", 2)[-2] for p in applied} >= {
        "configmaps",
        "secrets",
        "services",
        "serviceaccounts",
        "deployments",
        "networkpolicies",
        "clusterroles",
        "clusterrolebindings",
    }
