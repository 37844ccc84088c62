"""Secrets from files: ``<key>_file`` in YAML and ``MEDIC_<SECTION>__<KEY>_FILE``
in the environment, for every secret key the settings have."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from bot.config import Settings, load_settings
from bot.config.secret_files import SecretKey, secret_keys
from bot.errors import ConfigError
from bot.integrations import config_sections

INTEGRATION_SECTIONS = {
    name: model for name, model in config_sections().items() if name not in Settings.model_fields
}
SECRET_KEYS = list(secret_keys(Settings)) + [
    key for name, model in INTEGRATION_SECTIONS.items() for key in secret_keys(model, (name,))
]
SAMPLE: dict[bool, tuple[str, Any]] = {
    # structured -> (file content, expected clear value)
    False: ("s3cr3t-from-file\n", "s3cr3t-from-file"),
    True: ("{alice: tok-a, bob: tok-b}\n", {"alice": "tok-a", "bob": "tok-b"}),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEDIC_* variable leaks in from the machine."""
    for name in list(os.environ):
        if name.upper().startswith("MEDIC_"):
            monkeypatch.delenv(name)


def _clear(value: object) -> object:
    """A setting's value with every SecretStr revealed."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _clear(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clear(v) for v in value]
    return value


def _load(path: Path | None) -> Settings:
    """Settings as ``medic serve`` loads them: with the installed integrations' sections."""
    return load_settings(path, INTEGRATION_SECTIONS)


def _value(settings: Settings, key: SecretKey) -> object:
    first, *rest = key.path
    node: object = settings.section(first)
    for part in rest:
        node = getattr(node, part)
    return _clear(node)


def _sample(key: SecretKey) -> tuple[str, Any]:
    text, expected = SAMPLE[key.structured]
    if key.structured and key.path[-1] == "webhook_secrets":
        return "[whsec-1, whsec-2]\n", ["whsec-1", "whsec-2"]
    if key.path == ("slack", "app_token"):
        return "xapp-1-from-file\n", "xapp-1-from-file"
    return text, expected


def _yaml_for(key: SecretKey, value: str) -> str:
    *sections, name = key.path
    lines, indent = [], ""
    for section in sections:
        lines.append(f"{indent}{section}:")
        indent += "  "
    lines.append(f"{indent}{name}_file: {value}")
    return "\n".join(lines) + "\n"


def test_the_known_secret_keys_are_found() -> None:
    """Walking the settings model finds every documented secret key (a new SecretStr key,
    such as ``server.api_users``' values, is found the same way without being listed)."""
    found = {".".join(key.path): key.structured for key in SECRET_KEYS}
    expected = {
        "server.api_token": False,
        "server.api_users": True,
        "alertmanager.bearer_token": False,
        "slack.bot_token": False,
        "slack.signing_secret": False,
        "slack.app_token": False,
        "pagerduty.api_token": False,
        "pagerduty.routing_key": False,
        "pagerduty.routing_keys": True,
        "pagerduty.webhook_secrets": True,
    }
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert all(not key.startswith(("store.", "kubernetes.")) for key in found)


@pytest.mark.parametrize("key", SECRET_KEYS, ids=lambda key: ".".join(key.path))
def test_every_secret_key_reads_from_a_yaml_file(tmp_path: Path, key: SecretKey) -> None:
    """``<key>_file: /path`` in YAML gives the file's secret: plain text without the trailing
    newline, or YAML for a mapping or list of secrets."""
    content, expected = _sample(key)
    secret = tmp_path / "secret"
    secret.write_text(content)
    config = tmp_path / "medic.yaml"
    config.write_text(_yaml_for(key, str(secret)))
    assert _value(_load(config), key) == expected


@pytest.mark.parametrize("key", SECRET_KEYS, ids=lambda key: ".".join(key.path))
def test_every_secret_key_reads_from_an_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: SecretKey
) -> None:
    """``MEDIC_<SECTION>__<KEY>_FILE=/path`` gives the file's secret, over the YAML value."""
    content, expected = _sample(key)
    secret = tmp_path / "secret"
    secret.write_text(content)
    monkeypatch.setenv("MEDIC_" + "__".join(p.upper() for p in key.path) + "_FILE", str(secret))
    assert _value(_load(None), key) == expected


def test_env_file_wins_over_the_yaml_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As for every key, the environment wins over the file's value."""
    (tmp_path / "token").write_text("from-env-file")
    config = tmp_path / "medic.yaml"
    config.write_text("alertmanager: {bearer_token: from-yaml}\n")
    monkeypatch.setenv("MEDIC_ALERTMANAGER__BEARER_TOKEN_FILE", str(tmp_path / "token"))
    token = _load(config).alertmanager.bearer_token
    assert token is not None
    assert token.get_secret_value() == "from-env-file"


def test_secrets_from_files_are_redacted_from_logs(tmp_path: Path) -> None:
    """A secret read from a file is among the values the log pipeline redacts."""
    (tmp_path / "token").write_text("xoxb-file-secret\n")
    config = tmp_path / "medic.yaml"
    config.write_text(f"slack:\n  bot_token_file: {tmp_path / 'token'}\n")
    assert "xoxb-file-secret" in _load(config).secret_values()


@pytest.mark.parametrize(
    ("yaml_text", "files", "problem"),
    [
        (
            "slack:\n  bot_token_file: {dir}/missing\n",
            {},
            "medic.yaml:2: slack.bot_token_file: cannot read {dir}/missing: No such file",
        ),
        (
            "slack:\n  bot_token: inline\n  bot_token_file: {dir}/t\n",
            {"t": "x"},
            "medic.yaml:3: slack.bot_token_file: set either bot_token or bot_token_file",
        ),
        (
            "pagerduty:\n  routing_key_file: {dir}/empty\n",
            {"empty": "\n"},
            "medic.yaml:2: pagerduty.routing_key_file: {dir}/empty is empty",
        ),
        (
            "pagerduty:\n  routing_keys_file: {dir}/bad\n",
            {"bad": "{security: [unclosed\n"},
            "medic.yaml:2: pagerduty.routing_keys_file: {dir}/bad is not valid YAML or JSON",
        ),
        (
            "server:\n  api_token_file: 5\n",
            {},
            "medic.yaml:2: server.api_token_file: must be a file path",
        ),
        (
            "slack:\n  signing_secrets_file: {dir}/t\n",
            {"t": "x"},
            "medic.yaml:2: slack.signing_secrets_file: unknown key",
        ),
    ],
    ids=["missing-file", "both-set", "empty-file", "bad-yaml", "not-a-path", "not-a-secret-key"],
)
def test_file_problems_name_file_line_and_key(
    tmp_path: Path, yaml_text: str, files: dict[str, str], problem: str
) -> None:
    """Each problem with a secret file is a ``file:line: key: reason`` that never quotes the
    file's content; a ``_file`` key for something that is not a secret stays unknown."""
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    config = tmp_path / "medic.yaml"
    config.write_text(yaml_text.format(dir=tmp_path))
    with pytest.raises(ConfigError) as caught:
        _load(config)
    expected = f"{tmp_path}/" + problem.format(dir=tmp_path)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
    assert "unclosed" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"MEDIC_SLACK__BOT_TOKEN_FILE": "{dir}/missing"},
            "<env>:0: slack.bot_token: cannot read {dir}/missing: No such file or directory "
            "(from MEDIC_SLACK__BOT_TOKEN_FILE)",
        ),
        (
            {"MEDIC_SLACK__BOT_TOKEN_FILE": "{dir}/t", "MEDIC_SLACK__BOT_TOKEN": "x"},
            "<env>:0: slack.bot_token: set either MEDIC_SLACK__BOT_TOKEN or "
            "MEDIC_SLACK__BOT_TOKEN_FILE, not both",
        ),
        (
            {"MEDIC_SLACK__APP_TOKEN_FILE": "{dir}/t"},
            "<env>:0: slack.app_token: must be an app-level token (xapp-…), made under Basic "
            "Information (from MEDIC_SLACK__APP_TOKEN_FILE)",
        ),
    ],
    ids=["missing-file", "both-set", "invalid-value"],
)
def test_env_file_problems_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    """Problems with ``MEDIC_…_FILE`` name the key and the variable, never the secret."""
    (tmp_path / "t").write_text("xoxb-not-app-level\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(dir=tmp_path))
    with pytest.raises(ConfigError) as caught:
        _load(None)
    assert caught.value.problems == [problem.format(dir=tmp_path)]
    assert "xoxb-not-app-level" not in str(caught.value)


class _VaultConfig(BaseModel):
    """A third-party integration's section with a secret of its own."""

    model_config = ConfigDict(extra="forbid")
    address: str = "https://vault.example"
    token: SecretStr | None = None


@pytest.mark.parametrize("where", ["yaml", "env"])
def test_an_integrations_secret_reads_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """An installed integration's section gets ``<key>_file`` and ``MEDIC_<NAME>__<KEY>_FILE``
    for its own secret keys too (found from its config model)."""
    (tmp_path / "token").write_text("vault-token-1\n")
    config = tmp_path / "medic.yaml"
    if where == "yaml":
        config.write_text(f"vault:\n  token_file: {tmp_path / 'token'}\n")
    else:
        config.write_text("vault: {address: https://v.example}\n")
        monkeypatch.setenv("MEDIC_VAULT__TOKEN_FILE", str(tmp_path / "token"))
    section = load_settings(config, {"vault": _VaultConfig}).section("vault")
    assert isinstance(section, _VaultConfig)
    assert section.token is not None
    assert section.token.get_secret_value() == "vault-token-1"
