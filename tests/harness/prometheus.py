"""A real Prometheus on 127.0.0.1 that evaluates rules every second and alerts one Alertmanager
(or just scrapes test targets every second)."""

import json
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from .ports import free_port
from .process import ManagedProcess, OneProcessServer, start_process

BINARY = "prometheus"


class PrometheusServer(OneProcessServer):
    """Prometheus with ``evaluation_interval: 1s`` and the given rules file; it scrapes
    ``scrape_targets`` (``host:port``, job ``test``) every second and logs every query it
    evaluates (``queries()``).

    The notifier only discovers Alertmanager after its fixed 5 s interval
    and drops what fires before that; ``--rules.alert.resend-delay`` (1 s
    here, 1 min by default) sets how soon it is sent again, so the first
    notification reaches Alertmanager ~6 s after start.
    ``with PrometheusServer(am.url, rules).start(tmp_path) as prom: ...``
    stops it on exit.
    """

    def __init__(
        self,
        alertmanager_url: str | None = None,
        rules_yaml: str = "",
        *,
        resend_delay: str = "1s",
        binary: str = BINARY,
        scrape_targets: Sequence[str] = (),
    ) -> None:
        self.alertmanager_url = alertmanager_url
        self.rules_yaml = rules_yaml
        self.resend_delay = resend_delay
        self.scrape_targets = list(scrape_targets)
        self._binary = binary
        self._port: int | None = None
        self._process: ManagedProcess | None = None
        self._query_log: Path | None = None

    def config(self, rules_file: Path, query_log: Path | None = None) -> dict[str, Any]:
        """The ``prometheus.yml`` content as data."""
        config: dict[str, Any] = {
            "global": {"evaluation_interval": "1s", "scrape_interval": "1s"},
            "rule_files": [str(rules_file)],
        }
        if query_log is not None:
            config["global"]["query_log_file"] = str(query_log)
        if self.alertmanager_url is not None:
            target = urllib.parse.urlsplit(self.alertmanager_url).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        if self.scrape_targets:
            config["scrape_configs"] = [
                {"job_name": "test", "static_configs": [{"targets": self.scrape_targets}]}
            ]
        return config

    def queries(self) -> list[dict[str, Any]]:
        """The ``params`` of every query Prometheus evaluated so far (its query log):
        ``query``, ``start``, ``end``, ``step`` (seconds; 0 for an instant query)."""
        if self._query_log is None or not self._query_log.exists():
            return []
        lines = self._query_log.read_text().splitlines()
        return [json.loads(line)["params"] for line in lines if line.strip()]

    def start(self, tmpdir: Path, timeout: float = 30.0) -> Self:
        """Write config and rules under ``tmpdir``, start, and wait for ``/-/ready``."""
        if self._process is not None:
            raise RuntimeError("PrometheusServer already started")
        self._port = free_port()
        workdir = tmpdir / f"prometheus-{self._port}"
        workdir.mkdir(parents=True)
        rules_file = workdir / "rules.yml"
        rules_file.write_text(self.rules_yaml or "groups: []\n")
        self._query_log = workdir / "queries.log"
        config_file = workdir / "prometheus.yml"
        config = self.config(rules_file, self._query_log)
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self._process = start_process(
            "prometheus",
            [
                self._binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self._port}",
                f"--web.external-url={self.url}/",
                f"--rules.alert.resend-delay={self.resend_delay}",
            ],
            workdir,
        )
        try:
            self._process.wait_http_ok(f"{self.url}/-/ready", timeout)
        except BaseException:
            self.stop()
            raise
        return self
