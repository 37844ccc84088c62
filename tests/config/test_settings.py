"""Configuration (docs/configuration.md): every default, YAML + MEDIC_* env, precise errors."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings, load_settings, parse_duration
from bot.errors import ConfigError
from bot.integrations import config_sections, medic_integrations

from harness.medic import run_cli

DEFAULTS = {
    "server": {
        "host": "127.0.0.1",
        "port": 8080,
        "max_body_bytes": 10485760,
        "api_token": None,
        "api_users": {},
        "public_url": None,
        "log_level": "info",
        "header_timeout": "10s",  # request limits
        "body_timeout": "30s",
        "max_connections": 256,
        "max_inflight_bytes": 67108864,
        "protect_reads": False,
        "trusted_user_header": None,
    },
    "store": {"url": "sqlite:///medic.db", "lease_seconds": 15.0},
    "safety": {
        "dry_run": True,
        "paused": False,
        "max_concurrent_runs": 20,
        "max_cordoned_fraction": 0.2,
        "limits": {
            "kubernetes.rollback": {"max": 3, "per": "1h"},
            "kubernetes.cordon": {"max": 2, "per": "1h"},
            "kubernetes.drain": {"max": 1, "per": "1h"},
            "kubernetes.delete_node": {"max": 1, "per": "1d"},
            "kubernetes.scale": {"max": 6, "per": "1h"},
        },
        "ineffective_runs": {"max": 3, "per": "1d"},  # the remediation breaker
    },
    "playbooks": {"catalogues": ["dwcp", "kubernetes"], "dirs": [], "flap_window": "10m"},
    "alertmanager": {"url": None, "bearer_token": None},
    "prometheus": {"url": None, "timeout": "10s"},
    "slack": {
        "enabled": False,
        "api_url": "https://slack.com/api/",
        "bot_token": None,
        "signing_secret": None,
        "channel_prefix": "inc",
        "approvers": [],
        "approver_groups": [],
        "admins": [],
        "invite": [],
        "security_channel": None,
        "app_token": None,  # Socket Mode
    },
    "pagerduty": {
        "enabled": False,
        "api_url": "https://api.pagerduty.com",
        "events_url": "https://events.pagerduty.com",
        "api_token": None,
        "from_email": None,
        "routing_key": None,
        "routing_keys": {},
        "webhook_secrets": [],
    },
    "kubernetes": {"mode": "disabled", "kubeconfig": None, "context": None, "namespaces": []},
    "kafka": {"bootstrap_servers": None, "alert_topics": [], "group_id": "medic"},
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEDIC_* variable leaks in from the machine."""
    for name in list(os.environ):
        if name.upper().startswith("MEDIC_"):
            monkeypatch.delenv(name)


def _load(path: Path | None) -> Settings:
    """Settings as ``medic serve`` loads them: with the installed integrations' sections."""
    return load_settings(path, config_sections())


def _everything(settings: Settings) -> dict[str, object]:
    """Every section's values, the core's and its shipped integrations', as JSON."""
    dumped = settings.model_dump(mode="json")
    for name in config_sections(medic_integrations()):
        section = settings.section(name)
        assert section is not None, name
        dumped.setdefault(name, section.model_dump(mode="json"))
    return dumped


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "medic.yaml"
    path.write_text(text)
    return path


def test_embedded_defaults_are_design_section_5() -> None:
    """No file and no env: every section and key has its documented default."""
    assert _everything(_load(None)) == DEFAULTS


def test_yaml_then_env_with_double_underscore_nesting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YAML sets values; MEDIC_SECTION__KEY overrides them; untouched keys keep defaults."""
    path = _write(
        tmp_path,
        "server: {port: 9000, host: 0.0.0.0}\n"
        "slack: {approvers: [U1]}\n"
        "safety:\n  limits:\n    kubernetes.scale: {max: 2, per: 30m}\n",
    )
    monkeypatch.setenv("MEDIC_SERVER__PORT", "9100")
    monkeypatch.setenv("MEDIC_SLACK__BOT_TOKEN", "xoxb-from-env")
    monkeypatch.setenv("MEDIC_SLACK__ADMINS", '["U9"]')
    monkeypatch.setenv("MEDIC_STORE__LEASE_SECONDS", "4.5")
    settings = _load(path)
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9100)  # noqa: S104
    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-from-env"
    assert (settings.slack.approvers, settings.slack.admins) == (["U1"], ["U9"])
    assert settings.safety.limits["kubernetes.scale"].per == timedelta(minutes=30)
    assert (settings.store.url, settings.store.lease_seconds) == ("sqlite:///medic.db", 4.5)


def test_config_file_from_medic_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$MEDIC_CONFIG`` names the file when no path is given."""
    monkeypatch.setenv("MEDIC_CONFIG", str(_write(tmp_path, "server: {port: 1}\n")))
    assert _load(None).server.port == 1


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("server:\n  port: nope\n", "medic.yaml:2: server.port: Input should be a valid integer"),
        ("server:\n  host: x\n  prot: 1\n", "medic.yaml:3: server.prot: unknown key"),
        ("nonsense: 1\n", "medic.yaml:1: nonsense: unknown key"),
        ("store: {url: 'mysql://x'}\n", "medic.yaml:1: store.url: must start with sqlite:/// or"),
        ("bus: {kind: memory}\n", "medic.yaml:1: bus: unknown key"),
        (
            "kafka:\n  alert_topics: [alerts]\n",
            "medic.yaml:1: kafka: kafka.alert_topics needs kafka.bootstrap_servers",
        ),
        (
            "store:\n  lease_seconds: 0\n",
            "medic.yaml:2: store.lease_seconds: Input should be greater",
        ),
        ("prometheus:\n  timeout: soon\n", "medic.yaml:2: prometheus.timeout: 'soon' is not a dur"),
        ("kubernetes:\n  mode: yes-please\n", "medic.yaml:2: kubernetes.mode: Input should be"),
        (
            "safety:\n  limits:\n    kubernetes.drain: {max: -1, per: 1h}\n",
            "medic.yaml:3: safety.limits.kubernetes.drain.max: Input should be greater than",
        ),
        ("slack:\n  channel_prefix: 'Bad Prefix'\n", "medic.yaml:2: slack.channel_prefix: String"),
        (
            "slack:\n  app_token: xoxb-not-an-app-token\n",
            "medic.yaml:2: slack.app_token: must be an app-level token (xapp-…)",
        ),
        (
            "server:\n  api_users: {U1: same-token-1, U2: same-token-1}\n",
            "medic.yaml:2: server.api_users: U2 and U1 have the same token",
        ),
        (
            "server:\n  api_token: bridge-token-1\n  api_users: {U1: bridge-token-1}\n",
            "medic.yaml:1: server: api_users: a personal token must differ from",
        ),
        ("server: [1, 2]\n", "medic.yaml:1: server: Input should be a valid dictionary"),
        ("server:\n  log_level: loud\n", "medic.yaml:2: server.log_level: Input should be 'debug'"),
        ("server:\n  header_timeout: 0s\n", "medic.yaml:2: server.header_timeout: must be longer"),
        ("server:\n  max_connections: 0\n", "medic.yaml:2: server.max_connections: Input should"),
        (
            "server:\n  max_inflight_bytes: 1024\n",
            "medic.yaml:1: server: max_inflight_bytes must be at least max_body_bytes",
        ),
        (
            "playbooks:\n  catalogues: [dwcp, k8s]\n",
            "medic.yaml:2: playbooks.catalogues.1: Input should be 'dwcp' or 'kubernetes'",
        ),
        (
            "playbooks:\n  catalogues: [dwcp, dwcp]\n",
            "medic.yaml:2: playbooks.catalogues: names a catalogue twice",
        ),
        ("playbooks:\n  flap_window: often\n", "medic.yaml:2: playbooks.flap_window: 'often'"),
        (
            "safety:\n  ineffective_runs: {max: 0}\n",
            "medic.yaml:2: safety.ineffective_runs.max: Input should be greater than or equal",
        ),
        ("server: {port: 1\n", "medic.yaml:2: <yaml>: expected ',' or '}'"),
        ("- just\n- a list\n", "medic.yaml:1: <root>: must be a mapping of sections"),
    ],
    ids=[
        "bad-int",
        "typo-key",
        "unknown-section",
        "bad-store-scheme",
        "bus-is-gone",
        "kafka-topics-need-servers",
        "store-lease-not-positive",
        "bad-duration",
        "bad-enum",
        "nested-limit",
        "slack-channel-name",
        "slack-app-token-kind",
        "personal-tokens-shared",
        "personal-token-is-the-bridge",
        "section-not-mapping",
        "log-level",
        "zero-header-timeout",
        "no-connections",
        "budget-below-one-body",
        "unknown-catalogue",
        "catalogue-twice",
        "bad-flap-window",
        "breaker-max",
        "yaml-syntax",
        "root-not-mapping",
    ],
)
def test_errors_name_file_line_key_and_reason(tmp_path: Path, yaml_text: str, problem: str) -> None:
    """Each bad value is reported as ``file:line: key: reason``."""
    path = _write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as caught:
        _load(path)
    assert any(p.startswith(f"{tmp_path}/{problem}") for p in caught.value.problems), (
        caught.value.problems
    )


def test_env_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad MEDIC_* value is reported with its key and the variable it came from."""
    monkeypatch.setenv("MEDIC_SERVER__PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        _load(None)
    (problem,) = caught.value.problems
    assert problem.startswith("<env>:0: server.port: Input should be a valid integer")
    assert problem.endswith("(from MEDIC_SERVER__PORT)")


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    """An invalid value next to a secret never prints the secret."""
    path = _write(tmp_path, "alertmanager: {bearer_token: s3cr3t-value, url: 5}\n")
    with pytest.raises(ConfigError) as caught:
        _load(path)
    assert "s3cr3t-value" not in str(caught.value)


def test_personal_tokens_are_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``server.api_users`` maps user ids to personal tokens, from YAML or from
    ``MEDIC_SERVER__API_USERS`` as JSON (user ids keep their case); the tokens are secrets
    (hidden in dumps and reprs, collected for log redaction), and a refused file never
    echoes them."""
    from_yaml = _load(_write(tmp_path, "server:\n  api_users: {U1: personal-u1-token}\n"))
    monkeypatch.setenv("MEDIC_SERVER__API_USERS", '{"U2": "personal-u2-token"}')
    from_env = _load(None)
    monkeypatch.delenv("MEDIC_SERVER__API_USERS")
    bad = _write(tmp_path, "server:\n  api_users: {U1: personal-u1-token, U2: personal-u1-token}\n")
    with pytest.raises(ConfigError) as caught:
        _load(bad)
    loaded = {**from_yaml.server.api_users, **from_env.server.api_users}
    dumped = str(from_yaml.model_dump()) + repr(from_yaml) + repr(from_env)
    assert {u: t.get_secret_value() for u, t in loaded.items()} == {
        "U1": "personal-u1-token",
        "U2": "personal-u2-token",
    }
    assert "personal-u" not in dumped
    assert from_yaml.secret_values() == ["personal-u1-token"]
    assert "personal-u1-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), (15, 15)],
)
def test_durations(text: str | int, seconds: float) -> None:
    """Durations are written the Prometheus way."""
    assert parse_duration(text).total_seconds() == seconds


def test_medic_check_reports_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``medic check`` prints each problem as ``file:line: key: reason`` and exits 1."""
    path = _write(tmp_path, "server:\n  port: nope\nslack:\n  enabld: true\n")
    assert main(["check", "--config", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"{path}:2: server.port: Input should be a valid integer, "
        "unable to parse string as an integer",
        f"{path}:4: slack.enabld: unknown key",
    ]


def test_medic_check_accepts_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid file passes ``medic check`` with exit 0."""
    path = _write(tmp_path, "server: {port: 9000}\nsafety: {dry_run: false}\n")
    assert main(["check", "--config", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_medic_serve_refuses_to_start_on_bad_config(tmp_path: Path) -> None:
    """``medic serve`` exits 1 at startup with the problem on stderr."""
    path = _write(tmp_path, "server:\n  port: 99999\n")
    done = run_cli("serve", "--config", str(path))
    assert done.returncode == 1
    assert f"{path}:2: server.port: Input should be less than or equal to 65535" in done.stderr


def test_shipped_example_is_every_default() -> None:
    """``deploy/medic.example.yaml`` (the README's reference) spells exactly the defaults."""
    example = Path(__file__).resolve().parents[2] / "deploy" / "medic.example.yaml"
    assert _everything(_load(example)) == DEFAULTS


def test_integration_sections_take_lists_and_mappings_from_the_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An integration's section (PagerDuty's and Kubernetes' live in their own folders) reads
    lists and mappings from ``MEDIC_<NAME>__<KEY>`` as JSON, as Medic's own sections do."""
    monkeypatch.setenv("MEDIC_KUBERNETES__NAMESPACES", '["shop", "payments"]')
    monkeypatch.setenv("MEDIC_KUBERNETES__MODE", "kubeconfig")
    monkeypatch.setenv("MEDIC_PAGERDUTY__WEBHOOK_SECRETS", '["whsec-1"]')
    monkeypatch.setenv("MEDIC_PAGERDUTY__ROUTING_KEYS", '{"security": "rk-sec"}')
    sections = _everything(_load(None))
    assert sections["kubernetes"]["namespaces"] == ["shop", "payments"]
    assert sections["kubernetes"]["mode"] == "kubeconfig"
    assert {"whsec-1", "rk-sec"} <= set(_load(None).secret_values())


def test_an_integration_sections_env_problem_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad ``MEDIC_<NAME>__<KEY>`` for an integration's section is reported like one for
    Medic's own sections: ``<env>:0: key: reason (from VARIABLE)``."""
    monkeypatch.setenv("MEDIC_KUBERNETES__MODE", "bogus")
    with pytest.raises(ConfigError) as caught:
        _load(None)
    assert caught.value.problems == [
        "<env>:0: kubernetes.mode: Input should be 'in_cluster', 'kubeconfig' or 'disabled'"
        " (from MEDIC_KUBERNETES__MODE)"
    ]


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``medic check --config path``: its exit status and its stderr lines."""
    status = main(["check", "--config", str(path)])
    return status, capsys.readouterr().err.splitlines()


def _serve(path: Path) -> subprocess.CompletedProcess[str]:
    """``medic serve --config path`` in a child process, without the machine's MEDIC_*
    variables; should it start after all, on a free port with its store beside ``path``
    (and stopped after 60 s)."""
    env = {"MEDIC_SERVER__PORT": "0", "MEDIC_STORE__URL": f"sqlite:///{path.parent}/medic.db"}
    return run_cli("serve", "--config", str(path), env=env)


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        (
            "server:\n  port: 8080\n  host: 0.0.0.0\n  port: 9090\n",
            "medic.yaml:4: server.port: duplicate key (first at line 2)",
        ),
        (
            "store: {url: 'sqlite:///a.db'}\nstore: {}\n",
            "medic.yaml:2: store: duplicate key (first at line 1)",
        ),
    ],
    ids=["key", "section"],
)
def test_medic_check_refuses_a_key_written_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, problem: str
) -> None:
    """YAML keeps the last of two equal keys silently (``port: 8080`` then ``port:
    9090``): ``medic check`` refuses the file, naming both lines, exit 1."""
    assert _check(_write(tmp_path, yaml_text), capsys) == (1, [f"{tmp_path}/{problem}"])


IN_MEMORY = "SQLite needs a file path (sqlite:///medic.db): an in-memory store loses every alert"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite:///file:medic?mode=memory&cache=shared&uri=true",
        "sqlite://medic.db",
    ],
    ids=["no-path", "empty-path", "memory", "memory-uri", "host-no-path"],
)
def test_medic_check_refuses_an_in_memory_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """A SQLite URL without a file keeps the store in memory (acknowledged alerts gone at
    restart): refused as ``file:line: store.url: …``, exit 1."""
    status, lines = _check(_write(tmp_path, f"store:\n  url: '{url}'\n"), capsys)
    assert status == 1
    assert lines[0].startswith(f"{tmp_path}/medic.yaml:2: store.url: {IN_MEMORY}"), lines
    assert len(lines) == 1, lines


@pytest.mark.parametrize(
    "url", ["sqlite:///medic.db", "sqlite:////var/lib/medic/medic.db", "sqlite:///m.db?timeout=5"]
)
def test_a_sqlite_file_is_a_store(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative and absolute SQLite file paths (with query options) stay accepted."""
    monkeypatch.setenv("MEDIC_STORE__URL", url)
    assert _load(None).store.url == url


def test_medic_check_refuses_an_empty_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``server.host: ""`` would bind every interface while the docs promise 127.0.0.1:
    refused as ``file:line: server.host: …``, exit 1."""
    path = _write(tmp_path, "server:\n  host: ''\n")
    assert _check(path, capsys) == (
        1,
        [f"{path}:2: server.host: must not be empty; use 0.0.0.0 to listen on every interface"],
    )


def test_an_empty_host_from_the_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MEDIC_SERVER__HOST=`` (empty) is refused the same way, naming the variable."""
    monkeypatch.setenv("MEDIC_SERVER__HOST", "")
    with pytest.raises(ConfigError) as caught:
        _load(None)
    assert caught.value.problems == [
        "<env>:0: server.host: must not be empty; use 0.0.0.0 to listen on every interface"
        " (from MEDIC_SERVER__HOST)"
    ]


NOT_A_WEB_URL = "must be an http:// or https:// URL with a host"


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        (
            "pagerduty:\n  enabled: true\n  api_url: 'http://pd.example.com'\n",
            "medic.yaml:3: pagerduty.api_url: must be an https:// URL",
        ),
        (
            "pagerduty:\n  events_url: 'http://pd.example.com'\n",
            "medic.yaml:2: pagerduty.events_url: must be an https:// URL",
        ),
        ("prometheus:\n  url: not a url\n", f"medic.yaml:2: prometheus.url: {NOT_A_WEB_URL}"),
        ("server:\n  public_url: notaurl\n", f"medic.yaml:2: server.public_url: {NOT_A_WEB_URL}"),
        (
            "alertmanager:\n  url: 'ftp://am.example.com'\n",
            f"medic.yaml:2: alertmanager.url: {NOT_A_WEB_URL}",
        ),
        ("slack:\n  api_url: 'https://'\n", f"medic.yaml:2: slack.api_url: {NOT_A_WEB_URL}"),
    ],
    ids=[
        "pagerduty-plain-http",
        "pagerduty-events-plain-http",
        "prometheus-not-a-url",
        "public-url-not-a-url",
        "alertmanager-not-http",
        "slack-api-no-host",
    ],
)
def test_medic_check_refuses_a_url_medic_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, problem: str
) -> None:
    """A URL setting that is no http(s) URL with a host (or, for PagerDuty, not https://)
    is refused by ``medic check`` as ``file:line: key: reason``, exit 1, not first by the
    client ``medic serve`` builds."""
    assert _check(_write(tmp_path, yaml_text), capsys) == (1, [f"{tmp_path}/{problem}"])


def test_medic_serve_reports_a_plain_http_pagerduty_url_without_a_traceback(
    tmp_path: Path,
) -> None:
    """``medic serve`` refuses ``pagerduty.api_url: http://…`` as ``medic check`` does: one
    ``file:line: key: reason`` line, exit 1 (it was a traceback from the client)."""
    path = _write(tmp_path, "pagerduty:\n  enabled: true\n  api_url: 'http://pd.example.com'\n")
    done = _serve(path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [f"{path}:3: pagerduty.api_url: must be an https:// URL"]


def test_one_limit_overrides_its_default_and_keeps_the_others(tmp_path: Path) -> None:
    """Setting one ``safety.limits`` entry replaces that action's default limit only: the
    other defaults stay (an action left out is not unlimited)."""
    path = _write(tmp_path, "safety:\n  limits:\n    kubernetes.rollback: {max: 5, per: 2h}\n")
    limits = _everything(_load(path))["safety"]["limits"]  # type: ignore[index]
    assert limits == {
        **DEFAULTS["safety"]["limits"],  # type: ignore[index]
        "kubernetes.rollback": {"max": 5, "per": "2h"},
    }


def test_medic_check_refuses_a_limit_on_an_unknown_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``safety.limits`` entry naming no installed action (a typo) would limit nothing:
    ``medic check`` refuses it as ``file:line: key: reason`` with a suggestion, exit 1."""
    path = _write(tmp_path, "safety:\n  limits:\n    kubernetes.rollbak: {max: 3, per: 1h}\n")
    assert _check(path, capsys) == (
        1,
        [
            f"{path}:3: safety.limits.kubernetes.rollbak: unknown action 'kubernetes.rollbak'"
            " (did you mean 'kubernetes.rollback'?)"
        ],
    )


def test_medic_check_refuses_an_unknown_limit_from_the_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown action in ``MEDIC_SAFETY__LIMITS`` is reported with the variable."""
    monkeypatch.setenv("MEDIC_SAFETY__LIMITS", '{"kubernetes.drian": {"max": 1, "per": "1h"}}')
    assert main(["check"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "<env>:0: safety.limits.kubernetes.drian: unknown action 'kubernetes.drian'"
        " (did you mean 'kubernetes.drain'?) (from MEDIC_SAFETY__LIMITS)"
    ]


def test_medic_serve_refuses_a_limit_on_an_unknown_action(tmp_path: Path) -> None:
    """``medic serve`` refuses the misspelt limit at startup as ``medic check`` does: exit
    1, ``file:line: key: reason``, no traceback (it used to start with the typo ignored)."""
    path = _write(tmp_path, "safety:\n  limits:\n    kubernetes.rollbak: {max: 3, per: 1h}\n")
    done = _serve(path)
    assert done.returncode == 1, done.stderr
    assert (
        f"{path}:3: safety.limits.kubernetes.rollbak: unknown action 'kubernetes.rollbak'"
        " (did you mean 'kubernetes.rollback'?)"
    ) in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("variable", ["MEDIC_SEVER__PORT", "medic_sever__port"])
def test_a_misspelt_section_in_the_env_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """``MEDIC_SEVER__PORT`` names no section (Medic's own or an integration's): refused,
    naming the variable, like an unknown key inside a section (``MEDIC_SERVER__PROT``).
    (Seen failing: it was ignored and the port stayed 8080.) Variables that name no
    section at all (``MEDIC_CONFIG``, ``MEDIC_URL``, ``MEDIC_TOKEN``) are not looked at."""
    monkeypatch.setenv(variable, "9090")
    monkeypatch.setenv("MEDIC_URL", "http://127.0.0.1:8080")
    with pytest.raises(ConfigError) as caught:
        _load(None)
    assert caught.value.problems == [f"<env>:0: sever: unknown section (from {variable})"]


def test_a_configured_playbook_directory_that_is_missing_is_blamed_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``playbooks.dirs`` naming a directory that is not there: ``medic check`` blames the
    config file's line and the list item (``playbooks.dirs.1``), as for any other key.
    (Seen failing: the problem read ``/nowhere:0: playbooks.dirs: not a directory``, a file
    and line that point nowhere.)"""
    good = tmp_path / "pb"
    good.mkdir()
    missing = tmp_path / "nowhere"
    path = _write(tmp_path, f"playbooks:\n  dirs:\n    - {good}\n    - {missing}\n")
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:4: playbooks.dirs.1: not a directory: {missing}"
    ]
