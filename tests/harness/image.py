"""Medic's container image, built by ``scripts/build-image.sh`` and run with buildah.

buildah here uses the same storage as the script (vfs under ``$MEDIC_IMAGE_CACHE``) and
chroot isolation: a container shares the host's network, so a server in it binds
127.0.0.1 like every other test server.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-image.sh"
BUILD_TIMEOUT_S = 1500.0


def cache_dir() -> Path:
    """Where the script keeps the base, the wheels and buildah's storage."""
    return Path(os.environ.get("MEDIC_IMAGE_CACHE", Path.home() / ".cache" / "medic-image"))


def buildah(*args: str, timeout: float = 300.0) -> str:
    """Run ``buildah`` on the script's storage; its stdout. CalledProcessError on failure."""
    cache = cache_dir()
    argv = [
        "buildah",
        "--storage-driver",
        "vfs",
        "--root",
        str(cache / "storage"),
        "--runroot",
        str(cache / "run"),
        *args,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout


def build_image(tag: str) -> float:
    """Build ``tag`` with the script; the seconds it took."""
    import time  # noqa: PLC0415 -- only here

    started = time.monotonic()
    subprocess.run(
        ["bash", str(BUILD_SCRIPT), tag],
        check=True,
        timeout=BUILD_TIMEOUT_S,
        capture_output=True,
        text=True,
    )
    return time.monotonic() - started


def run_argv(
    container: str, command: Sequence[str], env: dict[str, str] | None = None
) -> list[str]:
    """``buildah run`` argv for ``command`` in ``container`` (chroot isolation)."""
    cache = cache_dir()
    argv = [
        "buildah",
        "--storage-driver",
        "vfs",
        "--root",
        str(cache / "storage"),
        "--runroot",
        str(cache / "run"),
        "run",
        "--isolation",
        "chroot",
    ]
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    return [*argv, container, "--", *command]


def files_with_mtimes(root: Path) -> dict[str, int]:
    """Every file and directory under ``root`` (relative path -> mtime in ns)."""
    found: dict[str, int] = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            try:
                found[str(path.relative_to(root))] = path.lstat().st_mtime_ns
            except FileNotFoundError:
                continue
    return found


def pids_with_env(entry: str) -> Iterator[int]:
    """Processes whose environment holds ``entry`` (``NAME=value``)."""
    needle = entry.encode() + b"\0"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes() + b"\0"
        except OSError:
            continue
        if needle in environ:
            yield int(proc.name)


def uid_of(pid: int) -> int:
    """The real uid of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise LookupError(f"no Uid line for {pid}")
