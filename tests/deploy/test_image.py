"""The container image (deploy/Dockerfile), built here by scripts/build-image.sh with buildah
and run: ``medic check`` on the chart's config, ``medic serve`` answering ``/healthz`` as the
non-root user, writing only under its volume and /tmp, no build tools inside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.chart import SECRETS_DIR, one, render
from harness.image import (
    build_image,
    buildah,
    files_with_mtimes,
    pids_with_env,
    run_argv,
    uid_of,
)
from harness.ports import free_port
from harness.waiting import wait_until

pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

TAG = "localhost/medic:test"
UID = 10001
TOKENS = {
    "alertmanager-bearer-token": "am-token-image",
    "api-users": {"U1": "personal-token-image"},
    "pagerduty-webhook-secrets": ["whsec-image"],
}


@pytest.fixture(scope="module")
def image() -> str:
    """The image, built once per module (the base and the dependency wheels are cached)."""
    took = build_image(TAG)
    print(f"\nbuild-image.sh took {took:.0f} s")
    return TAG


@pytest.fixture
def container(image: str, tmp_path: Path) -> Iterator[str]:
    """A container of the image holding the chart's medic.yaml and its secret files."""
    rendered = render({"secrets": {"values": TOKENS}})
    (tmp_path / "medic.yaml").write_text(one(rendered, "ConfigMap")["data"]["medic.yaml"])
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in one(rendered, "Secret")["stringData"].items():
        (secrets / name).write_text(value)
    name = f"medic-test-{os.getpid()}-{tmp_path.name}"[:60]
    buildah("from", "--name", name, image)
    try:
        buildah(
            "copy", "--chown", f"{UID}:{UID}", name, str(tmp_path / "medic.yaml"), "/etc/medic/"
        )
        buildah("copy", "--chown", f"{UID}:{UID}", name, str(secrets), SECRETS_DIR)
        yield name
    finally:
        buildah("rm", name)


def _run(container: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        run_argv(container, command), capture_output=True, text=True, timeout=120, check=False
    )


def test_image_config_runs_medic_serve_as_non_root(image: str) -> None:
    """The image runs ``medic serve`` as uid 10001, listening on 0.0.0.0:8080, with its
    SQLite store on the /var/lib/medic volume."""
    config = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert (config["Entrypoint"], config["Cmd"]) == (["medic"], ["serve"])
    assert "MEDIC_SERVER__HOST=0.0.0.0" in config["Env"]
    assert "MEDIC_STORE__URL=sqlite:////var/lib/medic/medic.db" in config["Env"]
    assert list(config["Volumes"]) == ["/var/lib/medic"]
    assert "8080/tcp" in config["ExposedPorts"]


def test_medic_check_accepts_the_charts_config(container: str) -> None:
    """``medic check`` in the image validates the chart's medic.yaml, reading the tokens
    from the mounted secret files, as the non-root user; no pip or compiler is inside."""
    checked = _run(container, "medic", "check", "--config", "/etc/medic/medic.yaml")
    assert checked.returncode == 0, checked.stderr
    assert "configuration OK" in checked.stdout
    assert _run(container, "id", "-u").stdout.strip() == str(UID)
    tools = _run(container, "sh", "-c", "command -v pip pip3 gcc cc make c++ ld || true")
    assert tools.stdout == ""
    assert "medic" in _run(container, "ls", "/opt/medic/bin").stdout.split()


def test_medic_serve_answers_and_writes_only_its_volume(container: str) -> None:
    """``medic serve`` in the image answers ``/healthz`` (bound to 127.0.0.1 here, as every
    test server), runs as uid 10001 and changes nothing outside /var/lib/medic and /tmp,
    so a read-only root filesystem works; SIGTERM stops it cleanly."""
    port = free_port()
    root = Path(buildah("mount", container).strip())
    before = files_with_mtimes(root)
    env = {
        "MEDIC_SERVER__HOST": "127.0.0.1",
        "MEDIC_SERVER__PORT": str(port),
        "MEDIC_KUBERNETES__MODE": "disabled",  # no ServiceAccount outside a cluster
    }
    argv = run_argv(container, ["medic", "serve", "--config", "/etc/medic/medic.yaml"], env)
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _healthy(port), 60, "/healthz of medic serve in the image")
        (pid,) = wait_until(
            lambda: list(pids_with_env(f"MEDIC_SERVER__PORT={port}")), 10, "the server's pid"
        )
        assert uid_of(pid) == UID
        os.kill(pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    after = files_with_mtimes(root)
    buildah("umount", container)
    changed = {p for p in after if before.get(p) != after[p]} | (before.keys() - after.keys())
    assert changed, "the store was not written"
    # /run is buildah's (it writes /run/.containerenv for every `buildah run`).
    outside = {p for p in changed if not p.startswith(("var/lib/medic", "tmp", "run"))}
    assert outside == set()
    assert b'"event": "server.stopped"' in output
    assert server.returncode == 0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
