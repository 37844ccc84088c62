"""``medic check`` and ``medic serve`` refuse a configuration or an environment they cannot
use with one clear line on stderr and exit status 1, never a Python traceback: problems
with a place as ``file:line: key: reason`` (``<env>:0: … (from VARIABLE)`` for the
environment), the others as ``medic: <what>: <reason>``."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from harness.medic import run_cli
from harness.ports import free_port
from pluginkit import InstallPlugin


def medic(
    *args: str, env: dict[str, str] | None = None, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot`` as a user would, with no ``MEDIC_*`` variable but ``env`` (and
    ``pythonpath`` first on ``PYTHONPATH``)."""
    extra = dict(env or {})
    if pythonpath is not None:
        before = extra.get("PYTHONPATH", os.environ.get("PYTHONPATH"))
        extra["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [before])])
    return run_cli(*args, env=extra)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line ``medic`` printed on stderr, having exited 1 without a traceback."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def serve_config(tmp_path: Path, text: str = "", *, store: str | None = None) -> Path:
    """A config for ``medic serve`` with a store of its own in ``tmp_path``, no shipped
    playbooks (a quick start) and ``text`` added (e.g. a ``server:`` section)."""
    path = tmp_path / "medic.yaml"
    store = store or f"sqlite:///{tmp_path / 'medic.db'}"
    path.write_text(f"store: {{url: '{store}'}}\nplaybooks: {{catalogues: []}}\n{text}")
    return path


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("MEDIC_SLACK__APPROVERS", "U1", "slack.approvers"),
        ("MEDIC_SERVER__API_USERS", "U1=personal-secret", "server.api_users"),
        ("MEDIC_SAFETY__LIMITS", "nope", "safety.limits"),
    ],
)
def test_a_list_or_mapping_from_the_env_that_is_not_json(
    variable: str, value: str, key: str
) -> None:
    """A list or mapping key set by a ``MEDIC_*`` variable must be JSON; any other text is
    reported like every other environment problem, ``<env>:0: key: reason (from VARIABLE)``,
    and the value (perhaps a secret) is not echoed."""
    line = one_line(medic("check", env={variable: value}))
    assert line.startswith(f"<env>:0: {key}: not JSON"), line
    assert line.endswith(f"(from {variable})"), line
    assert value not in line


def test_a_plugin_that_cannot_be_loaded_stops_check_and_serve(
    tmp_path: Path, install_plugin: InstallPlugin
) -> None:
    """An installed integration whose module fails to import makes ``medic check`` and
    ``medic serve`` refuse to go on, naming the integration, its entry point and the
    reason."""
    root = install_plugin("broken", "import nonexistent_module_xyz\n")
    config = serve_config(tmp_path, f"server: {{port: {free_port()}}}\n")
    expected = (
        "medic: integration broken (broken_mod:integration): "
        "No module named 'nonexistent_module_xyz'"
    )
    assert one_line(medic("check", pythonpath=root)) == expected
    assert one_line(medic("serve", "--config", str(config), pythonpath=root)) == expected


def test_check_reports_a_kubeconfig_file_that_is_not_there(tmp_path: Path) -> None:
    """``kubernetes.mode: kubeconfig`` with a ``kubeconfig`` file that does not exist fails
    ``medic check`` at that key's line (``medic serve`` could not connect)."""
    missing = tmp_path / "nowhere" / "kubeconfig"
    config = tmp_path / "medic.yaml"
    config.write_text(f"kubernetes:\n  mode: kubeconfig\n  kubeconfig: {missing}\n")
    line = one_line(medic("check", "--config", str(config)))
    assert line == f"{config}:3: kubernetes.kubeconfig: no such file: {missing}"


def test_serve_reports_a_kubeconfig_it_cannot_load(tmp_path: Path) -> None:
    """A kubeconfig file that exists but cannot be loaded stops ``medic serve`` while it
    starts, with the client's reason on one line."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}\n")
    config = serve_config(
        tmp_path,
        f"server: {{port: {free_port()}}}\n"
        f"kubernetes: {{mode: kubeconfig, kubeconfig: '{kubeconfig}'}}\n",
    )
    line = one_line(medic("serve", "--config", str(config)))
    assert line.startswith("medic: kubernetes: cannot load the kubeconfig config: "), line


def test_serve_reports_a_host_it_cannot_resolve(tmp_path: Path) -> None:
    """``server.host`` that does not resolve: ``medic serve`` names the key and the address."""
    port = free_port()
    config = serve_config(tmp_path, f"server: {{host: 'not a host!', port: {port}}}\n")
    line = one_line(medic("serve", "--config", str(config)))
    assert line.startswith(f"medic: server.host: cannot listen on not a host!:{port}: "), line


def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    """Another process listening on ``server.port``: ``medic serve`` names the key and the
    address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = serve_config(tmp_path, f"server: {{host: 127.0.0.1, port: {port}}}\n")
        line = one_line(medic("serve", "--config", str(config)))
    assert line.startswith(f"medic: server.port: cannot listen on 127.0.0.1:{port}: "), line
    assert "in use" in line


def test_serve_reports_a_sqlite_store_in_a_missing_directory(tmp_path: Path) -> None:
    """A SQLite ``store.url`` in a directory that does not exist stops ``medic serve`` with
    the file it could not create."""
    database = tmp_path / "missing" / "medic.db"
    config = serve_config(
        tmp_path, f"server: {{port: {free_port()}}}\n", store=f"sqlite:///{database}"
    )
    line = one_line(medic("serve", "--config", str(config)))
    assert line.startswith("medic: "), line
    assert f"{database}.lock" in line
    assert "No such file or directory" in line
