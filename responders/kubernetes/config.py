"""The ``kubernetes`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.plugins import ConfigSection


class KubernetesConfig(ConfigSection):
    """Kubernetes access; ``namespaces: []`` means none may be touched."""

    mode: Literal["in_cluster", "kubeconfig", "disabled"] = "disabled"
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: list[str] = Field(default_factory=list)
