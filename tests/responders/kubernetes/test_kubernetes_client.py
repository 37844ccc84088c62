"""The Kubernetes client's configuration loading and failure mapping (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.errors import ConfigError, RetryableError
from responders.kubernetes import calls
from responders.kubernetes.client import KubernetesClient, KubeUnavailable
from responders.kubernetes.config import KubernetesConfig

from harness.ports import free_port


async def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    """mode kubeconfig with a file that does not exist: ConfigError naming the mode (the
    config section refuses such a file already; the client does not rely on it)."""
    config = KubernetesConfig.model_construct(mode="kubeconfig", kubeconfig=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="cannot load the kubeconfig config"):
        await KubernetesClient.connect(config)


async def test_an_unreachable_api_server_is_retryable(tmp_path: Path) -> None:
    """Nothing listens at the kubeconfig's server: the call fails as KubeUnavailable, a
    RetryableError, without an HTTP status."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    client = await KubernetesClient.connect(
        KubernetesConfig(mode="kubeconfig", kubeconfig=str(kubeconfig), namespaces=["*"])
    )
    try:
        with pytest.raises(KubeUnavailable, match="could not be reached") as failed:
            await client.request(calls.LIST_NODES)
    finally:
        await client.close()
    assert isinstance(failed.value, RetryableError)
    assert failed.value.status is None
