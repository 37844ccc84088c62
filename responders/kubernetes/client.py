"""The async Kubernetes client behind the ``kubernetes.*`` actions.

A thin wrapper over kubernetes_asyncio's ``ApiClient`` (its configuration loading, TLS and
authentication) that sends only the requests named in ``responders.kubernetes.calls`` and
speaks plain JSON (dicts), so every API version the server has (policy/v1beta1 evictions on
1.20) works the same way.

Errors: 429 and 5xx are ``KubeUnavailable`` (RetryableError), a connection failure too; any
other 4xx is ``KubeRefused`` (PermanentError) carrying the server's own message and status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from pydantic import ValidationError

from bot.errors import ConfigError, PermanentError, RetryableError
from responders.common import one_line
from responders.kubernetes.calls import ApiCall
from responders.kubernetes.config import KubernetesConfig
from responders.kubernetes.const import (
    ERROR_TEXT_LIMIT,
    PATCH_JSON,
    PATCH_STRATEGIC,
    REQUEST_TIMEOUT_S,
    TOKEN_REFRESH_S,
)
from responders.kubernetes.pacing import Pacing
from responders.kubernetes.views import APIGroup, Status

if TYPE_CHECKING:  # kubernetes_asyncio loads on connect only: `medic check` starts fast
    from kubernetes_asyncio.client import ApiClient, Configuration

CallApi = Callable[..., Awaitable[Any]]


class KubeRefused(PermanentError):
    """The API server refused a request (4xx other than 429)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"Kubernetes answered {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class KubeUnavailable(RetryableError):
    """The API server is unreachable, overloaded (5xx) or throttling (429)."""

    def __init__(self, status: int | None, message: str) -> None:
        what = "could not be reached" if status is None else f"answered {status}"
        super().__init__(f"Kubernetes {what}: {message}")
        self.status = status
        self.message = message


class KubernetesClient:
    """One per process (``ctx.clients["kubernetes"]``), for one cluster.

    ``namespaces`` is ``kubernetes.namespaces`` (the allowlist); ``pacing`` the intervals of
    the waiting actions; ``calls_made`` records every kind of call sent (the RBAC test
    compares it with ``deploy/rbac.yaml``).
    """

    def __init__(
        self,
        api: ApiClient,
        namespaces: list[str],
        *,
        token_file: Path | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self._api = api
        self._call_api = cast(CallApi, api.call_api)
        self.namespaces = list(namespaces)
        self.pacing = pacing or Pacing()
        self.calls_made: set[ApiCall] = set()
        self._token_file = token_file
        self._token_read_at = time.monotonic()
        self._groups: dict[str, bool] = {}

    @classmethod
    async def connect(cls, config: KubernetesConfig) -> KubernetesClient:
        """A client for ``config`` (mode ``in_cluster`` or ``kubeconfig``); ConfigError when
        the configuration cannot be loaded. Loading reads files: it runs in a thread."""
        if config.mode == "disabled":
            raise ConfigError(["kubernetes.mode: disabled has no client"])
        configuration, token_file = await asyncio.to_thread(
            _load_configuration, config.mode, config.kubeconfig, config.context
        )
        from kubernetes_asyncio.client import ApiClient  # noqa: PLC0415 -- loaded in the thread

        return cls(ApiClient(configuration), config.namespaces, token_file=token_file)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._api.close()

    async def request(
        self,
        call: ApiCall,
        *,
        namespace: str | None = None,
        name: str | None = None,
        query: Mapping[str, str | int] | None = None,
        body: object = None,
        content_type: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Send ``call`` and return the JSON answer (text for logs).

        ``dry_run`` adds ``dryRun=All`` (the server validates and changes nothing).
        """
        params = dict(query or {})
        if dry_run:
            params["dryRun"] = "All"
        if content_type is None:
            content_type = _content(body) if call.verb == "patch" else "application/json"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        await self._refresh_token()
        self.calls_made.add(call)
        try:
            response = await self._call_api(
                call.path(namespace, name),
                call.method,
                query_params=list(params.items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            async with response:
                status = response.status
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise KubeUnavailable(None, str(err) or type(err).__name__) from err
        return _answer(status, data, text=call.subresource == "log")

    async def has_group_version(self, group_version: str) -> bool:
        """Whether the server serves ``group/version`` (discovery, cached)."""
        if group_version not in self._groups:
            group = group_version.partition("/")[0]
            try:
                answer = await self._discover(f"/apis/{group}")
            except KubeRefused as err:
                if err.status != 404:
                    raise
                answer = {}
            served = {v.group_version for v in APIGroup.model_validate(answer).versions}
            self._groups[group_version] = group_version in served
        return self._groups[group_version]

    async def _discover(self, path: str) -> dict[str, Any]:
        try:
            response = await self._call_api(
                path,
                "GET",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
            async with response:
                status = response.status
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise KubeUnavailable(None, str(err) or type(err).__name__) from err
        answer = _answer(status, data, text=False)
        return answer if isinstance(answer, dict) else {}

    async def _refresh_token(self) -> None:
        """In a pod the ServiceAccount token file rotates: read it again every minute."""
        if self._token_file is None or time.monotonic() - self._token_read_at < TOKEN_REFRESH_S:
            return
        token = (await asyncio.to_thread(self._token_file.read_text)).strip()
        if token:
            self._api.configuration.api_key["BearerToken"] = f"Bearer {token}"
        self._token_read_at = time.monotonic()


def _content(body: object) -> str:
    """PROTOCOLS: a list is a JSON Patch, a dict a strategic merge patch."""
    return PATCH_JSON if isinstance(body, list) else PATCH_STRATEGIC


def _answer(status: int, data: bytes, *, text: bool) -> Any:
    if 200 <= status < 300:
        if text:
            return data.decode("utf-8", errors="replace")
        return json.loads(data) if data else {}
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    try:
        found = Status.model_validate(answer) if isinstance(answer, dict) else None
    except ValidationError:  # not the API server's own error shape: show the body
        found = None
    if found is not None and found.kind == "Status":
        message, reason = found.message, found.reason
    else:
        message = data.decode("utf-8", errors="replace").strip()
        reason = ""
    message = one_line(message or "<empty body>", ERROR_TEXT_LIMIT)
    if status == 429 or status >= 500:
        raise KubeUnavailable(status, message)
    raise KubeRefused(status, reason or "Refused", message)


def _load_configuration(
    mode: str, kubeconfig: str | None, context: str | None
) -> tuple[Configuration, Path | None]:
    """Import kubernetes_asyncio and read the kubeconfig file or the in-cluster
    ServiceAccount (blocking: call in a thread); the configuration and the token file to
    re-read (in cluster). ConfigError when the configuration cannot be loaded."""
    # Imported here, off the event loop and only when Kubernetes is enabled (it is heavy).
    from kubernetes_asyncio.client import Configuration  # noqa: PLC0415
    from kubernetes_asyncio.config import load_incluster_config, load_kube_config  # noqa: PLC0415
    from kubernetes_asyncio.config.config_exception import ConfigException  # noqa: PLC0415
    from kubernetes_asyncio.config.incluster_config import SERVICE_TOKEN_FILENAME  # noqa: PLC0415

    configuration = cast(Configuration, type.__call__(Configuration))
    try:
        if mode == "in_cluster":
            load = cast(Callable[..., None], load_incluster_config)
            load(client_configuration=configuration, try_refresh_token=False)
        else:
            asyncio.run(
                load_kube_config(
                    config_file=kubeconfig,
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            )
    except (ConfigException, OSError, ValueError) as err:
        raise ConfigError([f"kubernetes: cannot load the {mode} config: {err}"]) from err
    return configuration, Path(SERVICE_TOKEN_FILENAME) if mode == "in_cluster" else None
