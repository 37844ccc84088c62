"""A real Alertmanager on 127.0.0.1 that sends every group to one webhook."""

import datetime as dt
import json
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from .ports import free_port
from .process import ManagedProcess, OneProcessServer, ServerError, start_process

BINARY = "prometheus-alertmanager"


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("alert timestamps must be timezone-aware")
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class AlertmanagerServer(OneProcessServer):
    """Alertmanager with one receiver, ``medic``: a webhook with ``send_resolved``.

    Groups flush at once (``group_wait: 0s``, ``group_interval: 1s``).
    ``with AlertmanagerServer(url).start(tmp_path) as am: ...`` stops it on exit.
    """

    def __init__(
        self,
        webhook_url: str,
        *,
        bearer_token: str | None = None,
        group_by: Sequence[str] = ("alertname",),
        binary: str = BINARY,
    ) -> None:
        self.webhook_url = webhook_url
        self.bearer_token = bearer_token
        self.group_by = list(group_by)
        self._binary = binary
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    def config(self) -> dict[str, Any]:
        """The ``alertmanager.yml`` content as data."""
        webhook: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True}
        if self.bearer_token is not None:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials": self.bearer_token}
            }
        return {
            "route": {
                "receiver": "medic",
                "group_by": self.group_by,
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "medic", "webhook_configs": [webhook]}],
        }

    def start(self, tmpdir: Path, timeout: float = 30.0) -> Self:
        """Write the config under ``tmpdir``, start, and wait for ``/-/ready``."""
        if self._process is not None:
            raise RuntimeError("AlertmanagerServer already started")
        self._port = free_port()
        workdir = tmpdir / f"alertmanager-{self._port}"
        workdir.mkdir(parents=True)
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self._process = start_process(
            "alertmanager",
            [
                self._binary,
                f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self._port}",
                "--cluster.listen-address=",
                f"--web.external-url={self.url}/",
            ],
            workdir,
        )
        try:
            self._process.wait_http_ok(f"{self.url}/-/ready", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts`` with ``labels``, ``annotations``, ``startsAt``...

        Timestamps may be ISO strings or timezone-aware datetimes.
        """
        request = urllib.request.Request(  # noqa: S310  # our own http:// server
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts), default=_json_default).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10.0) as resp:  # noqa: S310  # same
            if resp.status != 200:
                raise ServerError(f"alertmanager answered {resp.status}: {resp.read()!r}")
