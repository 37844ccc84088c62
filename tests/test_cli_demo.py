"""``medic demo``: one real run as a subprocess, from an empty working directory."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FINAL = "succeeded|failed|aborted|skipped|interrupted"
# The catalogue playbooks the firing samples trigger (the real-am-* captures are not replayed).
TRIGGERED = [
    "auto-rollback",
    "byzantine-isolation",
    "diagnose-only",
    "node-pressure",
    "pool-exhaustion",
    "queue-backlog",
    "service-restart",
    "v1-fallback",
]


@dataclass(frozen=True)
class DemoRun:
    """What one ``medic demo`` did."""

    returncode: int
    stdout: str
    stderr: str
    cwd: Path

    @property
    def summary(self) -> str:
        """The summary table at the end."""
        return self.stdout.rpartition("\nSummary (")[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``python -m bot demo --timeout 60`` run once for the module, in an empty directory,
    with no ``MEDIC_*`` variables."""
    cwd = tmp_path_factory.mktemp("demo-cwd")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--timeout", "60"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    return DemoRun(done.returncode, done.stdout, done.stderr, cwd)


def test_demo_exits_0_without_touching_the_working_directory(demo: DemoRun) -> None:
    """Every run finished in time, and the store lived elsewhere (no ./medic.db)."""
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert not (demo.cwd / "medic.db").exists()
    assert list(demo.cwd.iterdir()) == []


@pytest.mark.parametrize("playbook", TRIGGERED)
def test_summary_shows_each_triggered_playbook_with_its_final_status(
    demo: DemoRun, playbook: str
) -> None:
    """The summary table lists the playbook's run with a final status."""
    assert re.search(rf"RUN-\d+ {playbook}: ({FINAL})\b", demo.summary), demo.summary


def test_summary_lists_incidents_with_title_and_status(demo: DemoRun) -> None:
    """One row per incident: id, severity, status, title."""
    assert "INCIDENT  SEV  STATUS" in demo.summary
    assert re.search(r"^INC-2 +sev1 resolved +Byzantine behaviour detected", demo.summary, re.M)


def test_a_single_approval_is_approved_by_demo_alice(demo: DemoRun) -> None:
    """An ordinary consent or veto is approved by demo-alice alone, through the API."""
    assert re.search(r"^\[INC-\d+\] APR-\d+ approved by demo-alice$", demo.stdout, re.M)


def test_a_four_eyes_approval_is_decided_by_both_demo_users(demo: DemoRun) -> None:
    """A four-eyes approval needs demo-alice and demo-bob."""
    assert re.search(r"^\[INC-\d+\] APR-\d+ approved by demo-alice,demo-bob$", demo.stdout, re.M)


def test_an_incident_resolves_at_the_end(demo: DemoRun) -> None:
    """The resolved samples are replayed last: an incident resolves, narrated."""
    assert re.search(r"^\[INC-\d+\] RESOLVED .*all its alerts have resolved", demo.stdout, re.M)
    assert "Alert resolved: SLAAvailabilityViolation" in demo.stdout


def test_demo_logs_nothing_below_warning(demo: DemoRun) -> None:
    """JSON info logs would drown the story: none reach the output."""
    assert '"level": "info"' not in demo.stdout + demo.stderr
