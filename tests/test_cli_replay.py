"""``medic replay``: the journal of a real Medic, or a real Alertmanager's
``GET /api/v2/alerts`` dump, through the current playbooks — which incidents would open,
which playbooks and steps would run, which approvals and limits would trip — as text and
JSON; nothing is written anywhere."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.clock import ManualClock

from harness.alertmanager import AlertmanagerServer
from medickit import StartMedic, bearer, make_settings
from payloads import sample

START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
LIMITS = {"kubernetes.scale": {"max": 1, "per": "1h"}}


def files_of(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with the SHA-256 of its content."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def write_config(path: Path, store: Path) -> Path:
    """A config naming the store and a scale limit of one per hour."""
    path.write_text(
        yaml.safe_dump(
            {"store": {"url": f"sqlite:///{store}"}, "safety": {"limits": LIMITS}},
        )
    )
    return path


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``medic replay ARGS``: exit code, stdout, stderr."""
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def with_labels(name: str, status: str = "firing", at: datetime = START, **labels: str) -> Any:
    """The sample ``name`` with ``labels`` changed, firing (or resolved) from ``at``."""
    payload = copy.deepcopy(sample(name))
    stamp = at.isoformat().replace("+00:00", "Z")
    for alert in payload["alerts"]:
        alert["labels"].update(labels)
        alert["status"], alert["startsAt"] = status, stamp
        alert["endsAt"] = stamp if status == "resolved" else "0001-01-01T00:00:00Z"
        alert.pop("fingerprint")
    payload["status"] = status
    return payload


async def journal_of_a_real_medic(start_medic: StartMedic, store: Path) -> None:
    """Alerts through a real Medic's webhook, minutes apart: a crash loop that resolves and
    fires again 2 minutes later (a flap), a Watchdog, a DWCP error-rate alert, two DWCP
    queue backlogs of two consumer groups (two scale-ups); then Medic stops."""
    clock = ManualClock(START)
    settings = make_settings(f"sqlite:///{store}", playbooks={"catalogues": ["dwcp", "kubernetes"]})
    client = await start_medic(settings, clock=clock)
    crash = "kubernetes/kube-pod-crashlooping"
    steps = [
        with_labels(crash),
        with_labels("kubernetes/watchdog"),
        with_labels(crash, "resolved"),
        with_labels(crash, at=START + timedelta(minutes=3)),
        with_labels("high-error-rate"),
        with_labels("message-queue-backlog"),
        with_labels("message-queue-backlog", consumergroup="dwcp-billing", deployment="dwcp-b"),
    ]
    for payload in steps:
        response = await client.post("/webhooks/alertmanager", json=payload, headers=bearer())
        assert response.status == 200, await response.text()
        clock.advance(timedelta(minutes=1))
    await client.close()


async def test_replay_of_the_journal_reports_without_writing(
    start_medic: StartMedic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The journal of a stopped Medic, replayed as JSON and as text: the crash loop is one
    incident reopened once by its flap (one run), Watchdog is ignored, auto-rollback asks a
    30 s veto before a rollback that depends on the rollout history, each backlog opens an
    incident whose scale-up follows a 60 s veto, and the second scale-up trips the
    one-per-hour limit; the store directory is byte for byte as it was."""
    store_dir = tmp_path / "store"
    await asyncio.to_thread(store_dir.mkdir)
    store = store_dir / "medic.db"
    await journal_of_a_real_medic(start_medic, store)
    config = await asyncio.to_thread(write_config, tmp_path / "medic.yaml", store)
    before = await asyncio.to_thread(files_of, store_dir)

    code, out, err = await asyncio.to_thread(replay, capsys, "--config", str(config), "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["summary"] == {
        "alerts": 7,
        "ignored": 1,
        "incidents": 4,
        "reopened": 1,
        "runs": 4,
        "skipped_runs": 0,
        "approvals": 4,
        "write_steps": 4,
        "limits_tripped": 1,
        "by_playbook": {"auto-rollback": 1, "kube-pod-crashlooping": 1, "queue-backlog": 2},
    }
    crash, rollback, first, second = report["incidents"]
    assert (crash["reopened"], crash["resolved_at"], len(crash["runs"])) == (1, None, 1)
    steps = {s["id"]: s for s in rollback["runs"][0]["steps"]}
    assert (steps["approve"]["approval"], steps["rollback"]["runs"]) == ("veto 30s", "depends")
    assert [s["limit"] for s in first["runs"][0]["steps"] if s["limit"]] == []
    assert [s["limit"] for s in second["runs"][0]["steps"] if s["limit"]] == [
        "limit kubernetes.scale (1 per 1h) trips: a four-eyes consent"
    ]
    assert second["runs"][0]["target"] == "deployment/production/dwcp-b"

    code, text, _ = await asyncio.to_thread(replay, capsys, "--config", str(config))
    assert code == 0
    assert "7 alerts (1 ignored): 4 incidents (1 reopenings by flapping), 4 runs" in text
    assert "  kube-pod-crashlooping on workload/shop/checkout: runs\n" in text
    assert "approve approval [approval] (depends on earlier steps) — asks veto 30s\n" in text
    assert "— limit kubernetes.scale (1 per 1h) trips: a four-eyes consent" in text
    assert await asyncio.to_thread(files_of, store_dir) == before


def dump_from_a_real_alertmanager(tmp_path: Path) -> Path:
    """The kube-prometheus-stack samples and a Watchdog posted to a real Alertmanager, its
    ``GET /api/v2/alerts`` answer saved as a file."""
    samples = ["kube-node-not-ready", "kube-pod-crashlooping", "kube-job-failed", "watchdog"]
    alerts = [
        {k: a[k] for k in ("labels", "annotations", "startsAt", "generatorURL")}
        for name in samples
        for a in sample(f"kubernetes/{name}")["alerts"]
    ]
    with AlertmanagerServer("http://127.0.0.1:9/unused").start(tmp_path) as server:
        server.post_alerts(alerts)
        url = f"{server.url}/api/v2/alerts"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 -- our server
            dump = answer.read()
    path = tmp_path / "alerts.json"
    path.write_bytes(dump)
    assert len(json.loads(dump)) == len(samples)
    return path


def test_replay_of_an_alertmanager_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real Alertmanager's dump: one incident per alert with its kubernetes playbook, the
    Watchdog ignored, the cordon's consent counted; the configured store is never created
    (a dump needs no store)."""
    dump = dump_from_a_real_alertmanager(tmp_path)
    store = tmp_path / "never" / "medic.db"
    config = write_config(tmp_path / "medic.yaml", store)

    code, out, err = replay(capsys, "--config", str(config), "--alerts", str(dump), "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["source"] == f"the alert dump {dump}"
    assert (report["summary"]["alerts"], report["summary"]["ignored"]) == (4, 1)
    assert report["summary"]["by_playbook"] == {
        "kube-job-failed": 1,
        "kube-node-not-ready": 1,
        "kube-pod-crashlooping": 1,
    }
    node = next(i for i in report["incidents"] if i["runs"][0]["playbook"] == "kube-node-not-ready")
    steps = {s["id"]: s for s in node["runs"][0]["steps"]}
    assert (steps["approve"]["approval"], steps["cordon"]["kind"]) == ("consent 15m", "write")
    assert steps["nothing_to_do"]["runs"] == "depends"
    assert not store.parent.exists()

    code, out, _ = replay(
        capsys, "--config", str(config), "--alerts", str(dump), "--since", "1h", "--json"
    )
    assert json.loads(out)["summary"]["alerts"] == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{}", ":1: <root>: must be the JSON array GET /api/v2/alerts returns"),
        ('[{"labels": {}}]', ":0: 0.labels: Dictionary should have at least 1 item"),
        ("[1,", ":1: <json>: Expecting value"),
    ],
    ids=["not-an-array", "no-labels", "not-json"],
)
def test_a_bad_dump_is_reported_as_file_line_key_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    """An unreadable dump: exit 1 with ``file:line: key: reason``, nothing on stdout."""
    dump = tmp_path / "alerts.json"
    dump.write_text(text)
    config = write_config(tmp_path / "medic.yaml", tmp_path / "medic.db")
    code, out, err = replay(capsys, "--config", str(config), "--alerts", str(dump))
    assert (code, out) == (1, "")
    assert err.startswith(f"{dump}{problem}"), err


def test_replay_of_a_missing_store_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No store at store.url: exit 1 saying so; no file appears."""
    store = tmp_path / "absent.db"
    config = write_config(tmp_path / "medic.yaml", store)
    code, _, err = replay(capsys, "--config", str(config))
    assert code == 1
    assert f"store.url: no store at {store}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["medic.yaml"]
