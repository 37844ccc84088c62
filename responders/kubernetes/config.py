"""The ``kubernetes`` config section."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bot.plugins import ConfigSection


class KubernetesConfig(ConfigSection):
    """Kubernetes access; ``namespaces: []`` means none may be touched."""

    mode: Literal["in_cluster", "kubeconfig", "disabled"] = "disabled"
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: list[str] = Field(default_factory=list)

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, path: str | None, info: ValidationInfo) -> str | None:
        """With ``mode: kubeconfig``, the file named (or one of the files, ``:``-separated as
        in ``$KUBECONFIG``) must exist, so ``medic check`` says so rather than ``medic serve``
        failing to connect. Blocking (a stat): configuration loads before the event loop."""
        if path is None or info.data.get("mode") != "kubeconfig":
            return path
        files = [Path(p).expanduser() for p in path.split(os.pathsep) if p]
        if not any(f.is_file() for f in files):
            raise ValueError(f"no such file: {path}")
        return path
