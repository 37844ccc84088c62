"""The shipped catalogue end to end (PLAYBOOKS.md): each firing sample alert
goes through POST /webhooks/alertmanager into the real engine with the real playbooks, every
approval is decided as it appears, and GET /api/incidents/INC-1 shows which playbooks ran,
how each step ended, and that the dry runs would change exactly what the runbooks want."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock

from enginekit import RecordingNarrator, decide, detail
from medickit import API_TOKEN, StartMedic, bearer, make_settings
from payloads import am_alert, am_payload, sample

URL = "/webhooks/alertmanager"
START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
CATALOGUE = Path(__file__).resolve().parents[2] / "playbooks" / "dwcp"
APPROVERS = ("U1", "U2")
QUORUM = "dwcp.io/consensus=true"

Step = tuple[str, str, bool]  # (step id, status, dry_run)
Approval = tuple[str, str, str, str | None]  # (step id, mode, status, decided_by)


@dataclass(frozen=True)
class RunCase:
    """What one run of a catalogue playbook must look like once it ended."""

    playbook: str
    status: str
    steps: list[Step]
    approvals: list[Approval] = field(default_factory=list)
    # step id -> params the dry-run output must carry (a subset of the rendered params)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # step id -> every label matcher of its PromQL query
    queries: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One firing sample: the incident's severity and its runs in order."""

    sample: str
    severity: str
    runs: list[RunCase]


# --- Expectations shared by several samples -------------------------------------------------

EVIDENCE_OK = ("succeeded", True)  # read step of a disabled integration: a dry run
VETO_BY_MEDIC = "medic"  # a veto whose window passed unrejected


def _auto_rollback(namespace: str, deployment: str) -> RunCase:
    """auto-rollback on ``namespace/deployment``: evidence, no 6 h escalation (the dry-run
    history has no age), veto passes, rollback, rollout, verify."""
    where = {f'namespace="{namespace}"', f'deployment="{deployment}"'}
    target = {"namespace": namespace, "deployment": deployment}
    return RunCase(
        playbook="auto-rollback",
        status="succeeded",
        steps=[
            ("sla_availability", *EVIDENCE_OK),
            ("sla_latency", *EVIDENCE_OK),
            ("sla_error_rate", *EVIDENCE_OK),
            ("history", *EVIDENCE_OK),
            ("unchanged", "skipped", False),
            ("approve", "succeeded", False),
            ("rollback", "succeeded", True),
            ("rollout", "succeeded", True),
            ("verify", "succeeded", True),
        ],
        approvals=[("approve", "veto", "approved", VETO_BY_MEDIC)],
        params={
            "history": target,
            "rollback": {**target, "revision": None},
            "rollout": {**target, "timeout": "10m"},
            "verify": {"condition": ">= 0.999", "timeout": "10m"},
        },
        queries={
            "sla_availability": where,
            "sla_latency": where,
            "sla_error_rate": where,
            "verify": where,
        },
    )


def _diagnose(raised: bool, evidence: str, matchers: set[str]) -> RunCase:
    """diagnose-only: only the evidence query of the alert at hand runs, then the summary."""
    queries = ("disk", "certificate_days", "latency_p99", "throughput_mbps", "response_p95")
    return RunCase(
        playbook="diagnose-only",
        status="succeeded",
        steps=[
            ("raise_severity", "succeeded" if raised else "skipped", False),
            *[(q, *(EVIDENCE_OK if q == evidence else ("skipped", False))) for q in queries],
            ("summary", "succeeded", False),
        ],
        queries={evidence: matchers},
    )


CASES = [
    Case(
        "all-replicas-down",
        "sev1",
        [
            RunCase(
                playbook="v1-fallback",
                status="succeeded",
                steps=[
                    ("scale_v1", "succeeded", True),
                    ("disable_v3", "succeeded", True),
                    ("page", "succeeded", True),
                    ("pods", *EVIDENCE_OK),
                    ("events", *EVIDENCE_OK),
                    ("approve_restart", "succeeded", False),
                    ("restart_v3", "succeeded", True),
                    ("approve_memory", "succeeded", False),
                    ("raise_memory", "succeeded", True),
                ],
                approvals=[
                    ("approve_restart", "consent", "approved", "U1"),
                    ("approve_memory", "consent", "approved", "U1,U2"),
                ],
                params={
                    "scale_v1": {
                        "namespace": "dwcp-v3-production",
                        "deployment": "dwcp-v1",
                        "replicas": 10,
                    },
                    "disable_v3": {
                        "namespace": "dwcp-v3-production",
                        "deployment": "dwcp-v1",
                        "env": {"ENABLE_V3": "false"},
                    },
                    "page": {"severity": "critical"},
                    "restart_v3": {"namespace": "dwcp-v3-production", "deployment": "dwcp-v3"},
                    "raise_memory": {
                        "namespace": "dwcp-v3-production",
                        "deployment": "dwcp-v3",
                        "container": "dwcp-v3",
                        "limits": {"memory": "4Gi"},
                    },
                },
            )
        ],
    ),
    Case(
        "byzantine-node-detected",
        "sev1",
        [
            RunCase(
                playbook="byzantine-isolation",
                status="succeeded",
                steps=[
                    ("page_security", "succeeded", True),
                    ("notify_security", "succeeded", True),
                    ("cordon", "succeeded", True),
                    ("acp_pods", *EVIDENCE_OK),
                    ("acp_logs", *EVIDENCE_OK),
                    ("pod_events", *EVIDENCE_OK),
                    ("approve_drain", "succeeded", False),
                    ("drain", "succeeded", True),
                    ("approve_delete", "succeeded", False),
                    ("delete_node", "succeeded", True),
                    ("follow_up", "succeeded", False),
                ],
                approvals=[
                    ("approve_drain", "consent", "approved", "U1,U2"),
                    ("approve_delete", "consent", "approved", "U1,U2"),
                ],
                params={
                    "page_security": {"routing_key_name": "security", "severity": "critical"},
                    "notify_security": {"channel": "security"},
                    "cordon": {"node": "worker-17", "consensus_selector": QUORUM},
                    "acp_pods": {
                        "namespace": "dwcp-v3-production",
                        "selector": "component=acp",
                        "node": "worker-17",
                    },
                    "drain": {
                        "node": "worker-17",
                        "consensus_selector": QUORUM,
                        "allow_emptydir": True,
                    },
                    "delete_node": {"node": "worker-17", "consensus_selector": QUORUM},
                },
            )
        ],
    ),
    Case(
        "db-pool-exhausted",
        "sev1",
        [
            RunCase(
                playbook="pool-exhaustion",
                status="succeeded",
                steps=[
                    ("pool_use", *EVIDENCE_OK),
                    ("approve", "succeeded", False),
                    ("raise_pool", "succeeded", True),
                    ("offer_revert", "succeeded", False),
                    ("rollout", "succeeded", True),
                    ("verify", "succeeded", True),
                ],
                approvals=[("approve", "consent", "approved", "U1")],
                params={
                    "raise_pool": {
                        "namespace": "production",
                        "deployment": "dwcp-api",
                        "env": {"DB_POOL_SIZE": "150", "DB_POOL_MAX": "200"},
                    },
                    "rollout": {"namespace": "production", "deployment": "dwcp-api"},
                    "verify": {"condition": "< 0.8", "timeout": "10m"},
                },
                queries={
                    "pool_use": {'namespace="production"', 'deployment="dwcp-api"'},
                    "verify": {'namespace="production"', 'deployment="dwcp-api"'},
                },
            )
        ],
    ),
    Case(
        "disk-space-low",
        "sev1",  # critical: raise_severity lifts diagnose-only's sev3
        [_diagnose(True, "disk", {'instance="worker-03"', 'fstype!~"tmpfs|overlay"'})],
    ),
    Case(
        "certificate-expiring",
        "sev3",
        [_diagnose(False, "certificate_days", {'subject="api.dwcp.example"'})],
    ),
    Case(
        "high-error-rate",
        "sev1",
        [_auto_rollback("production", "dwcp-api")],
    ),
    Case(
        "high-latency-warning",
        "sev3",
        [
            _diagnose(
                False,
                "latency_p99",
                {'namespace="dwcp-v3-production"', 'deployment="dwcp-v3"'},
            )
        ],
    ),
    Case(
        "message-queue-backlog",
        "sev1",
        [
            RunCase(
                playbook="queue-backlog",
                status="succeeded",
                steps=[
                    ("lag", *EVIDENCE_OK),
                    ("approve", "succeeded", False),
                    ("scale", "succeeded", True),
                    ("verify", "succeeded", True),
                ],
                approvals=[("approve", "veto", "approved", VETO_BY_MEDIC)],
                params={
                    "lag": {"group": "dwcp-workers"},
                    "scale": {
                        "namespace": "production",
                        "deployment": "dwcp-workers",
                        "replicas": None,
                        "factor": 2,
                        "max_replicas": 20,
                    },
                    "verify": {"condition": "< 0", "timeout": "10m"},
                },
                queries={"verify": {'consumergroup="dwcp-workers"'}},
            )
        ],
    ),
    Case(
        "node-high-memory",
        "sev2",
        [
            RunCase(
                playbook="node-pressure",
                status="succeeded",
                steps=[
                    ("memory", *EVIDENCE_OK),
                    ("top_pods", *EVIDENCE_OK),
                    ("oom_events", *EVIDENCE_OK),
                    ("approve_cordon", "succeeded", False),
                    ("cordon", "succeeded", True),
                    ("cordoned", "succeeded", False),
                    ("approve_drain", "succeeded", False),
                    ("drain", "succeeded", True),
                ],
                approvals=[
                    ("approve_cordon", "veto", "approved", VETO_BY_MEDIC),
                    ("approve_drain", "consent", "approved", "U1,U2"),
                ],
                params={
                    "oom_events": {"field_selector": "reason=OOMKilling"},
                    "cordon": {"node": "worker-09", "consensus_selector": QUORUM},
                    "drain": {
                        "node": "worker-09",
                        "consensus_selector": QUORUM,
                        "allow_emptydir": True,
                    },
                },
                queries={
                    "memory": {'instance="worker-09"'},
                    "top_pods": {'node="worker-09"', 'container!=""'},
                },
            )
        ],
    ),
    Case(
        "service-down",
        "sev1",
        [
            RunCase(
                playbook="service-restart",
                status="succeeded",
                steps=[
                    ("pod_status", *EVIDENCE_OK),
                    ("restarts", *EVIDENCE_OK),
                    ("logs", *EVIDENCE_OK),
                    ("approve", "succeeded", False),
                    ("restart", "succeeded", True),
                    ("verify", "succeeded", True),
                ],
                approvals=[("approve", "consent", "approved", "U1")],
                params={
                    "logs": {"namespace": "production", "deployment": "dwcp-api"},
                    "restart": {"namespace": "production", "deployment": "dwcp-api"},
                    "verify": {"condition": "== 1", "timeout": "10m"},
                },
                queries={
                    "pod_status": {'namespace="production"', 'pod=~"dwcp-api-.+"'},
                    "restarts": {'namespace="production"', 'pod=~"dwcp-api-.+"'},
                    "verify": {'job="dwcp-api"'},
                },
            )
        ],
    ),
    Case(
        "sla-availability-violation",
        "sev1",
        [_auto_rollback("dwcp-v3-production", "dwcp-v3")],
    ),
    Case(
        "sla-latency-violation",
        "sev1",
        [_auto_rollback("dwcp-v3-production", "dwcp-v3")],
    ),
]

# --- Helpers ---------------------------------------------------------------------------------

SELECTOR = re.compile(r"\{([^{}]*)\}")
MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*')


def promql_parts(query: str) -> list[tuple[str, str, str]]:
    """Every ``(label, op, value)`` inside the ``{…}`` selectors of a PromQL query, as written."""
    found = []
    for selector in SELECTOR.findall(query):
        for part in filter(str.strip, selector.split(",")):
            match = MATCHER.fullmatch(part)
            assert match, f"cannot parse matcher {part!r} in {query!r}"
            found.append((match[1], match[2], match[3]))
    return found


def promql_matchers(query: str) -> set[str]:
    """The label matchers of a PromQL query as ``label<op>value`` strings."""
    return {"".join(part) for part in promql_parts(query)}


def unquoted(query: str) -> list[str]:
    """The matchers of a query whose value is not a double-quoted string literal."""
    return [
        "".join(p) for p in promql_parts(query) if not (p[2].startswith('"') and p[2].endswith('"'))
    ]


async def _start(
    start_medic: StartMedic, store_url: str
) -> tuple[Any, RecordingNarrator, ManualClock]:
    """Medic with the shipped catalogue, the decision API on, U1 and U2 approvers."""
    narrator = RecordingNarrator()
    clock = ManualClock(START)
    settings = make_settings(
        store_url,
        playbooks={"dirs": [str(CATALOGUE)]},
        server={"api_token": API_TOKEN},
        slack={"approvers": list(APPROVERS), "admins": ["ADMIN"]},
    )
    client = await start_medic(settings, clock=clock, narrators=[narrator])
    return client, narrator, clock


async def _post(client: Any, payload: dict[str, Any]) -> None:
    response = await client.post(URL, json=payload, headers=bearer())
    assert response.status == 200, await response.text()


async def _all_ended(narrator: RecordingNarrator, runs: int) -> None:
    """Runs RUN-1..RUN-n (a fresh store numbers them from 1) all reached a final status."""
    for seq in range(1, runs + 1):
        await narrator.run_end(f"RUN-{seq}")


async def approve_until_done(
    client: Any, narrator: RecordingNarrator, clock: ManualClock, runs: int
) -> None:
    """Decide every approval as it appears until all ``runs`` runs ended: a veto by letting
    its window pass (the clock moves past ``expires_at``), a consent by approving it with
    U1, and with U2 too when it needs two approvers (four eyes)."""
    handled: set[str] = set()
    ended = asyncio.ensure_future(_all_ended(narrator, runs))
    try:
        while not ended.done():
            requested = asyncio.ensure_future(
                narrator.wait_for("approval_requested", lambda e: e.approval_id not in handled)
            )
            await asyncio.wait({ended, requested}, return_when=asyncio.FIRST_COMPLETED)
            if not requested.done():
                requested.cancel()
                break
            event = requested.result()
            handled.add(event.approval_id)
            if event.mode == "veto":
                clock.advance(event.expires_at - clock.now() + timedelta(seconds=1))
                continue
            for user in APPROVERS[: event.required]:
                status, body = await decide(client, event.approval_id, user, "approve")
                assert status == 200, body
        await ended
    finally:
        ended.cancel()


# --- Tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.sample for c in CASES])
async def test_sample_runs_its_playbooks(
    start_medic: StartMedic, sqlite_url: str, case: Case
) -> None:
    """A firing sample alert runs the catalogue playbooks PLAYBOOKS.md gives it; with every
    approval granted (vetoes by their window passing, four eyes by U1 and U2) each run ends
    as expected, every step ends with the expected status and dry-run flag (integrations are
    disabled: their steps are dry runs, ``incident.*`` and approvals really run), the dry-run
    outputs carry the runbook's values, and every PromQL label value is a quoted literal."""
    client, narrator, clock = await _start(start_medic, sqlite_url)
    await _post(client, sample(case.sample))
    await approve_until_done(client, narrator, clock, len(case.runs))

    body = await detail(client)
    expected_names = [r.playbook for r in case.runs]
    assert sorted(body["incident"]["playbooks"]) == sorted(expected_names)
    assert (body["incident"]["severity"], body["incident"]["status"]) == (case.severity, "open")
    assert [(r["playbook"], r["status"]) for r in body["runs"]] == [
        (r.playbook, r.status) for r in case.runs
    ]
    for run, expected in zip(body["runs"], case.runs, strict=True):
        steps = {s["id"]: s for s in run["steps"]}
        assert [(s["id"], s["status"], s["dry_run"]) for s in run["steps"]] == expected.steps
        assert [
            (a["step"], a["mode"], a["status"], a["decided_by"]) for a in run["approvals"]
        ] == expected.approvals
        for step in (s for s in run["steps"] if s["dry_run"]):
            assert step["output"]["would"].startswith("would "), step
        for step_id, params in expected.params.items():
            rendered = steps[step_id]["output"]["params"]
            assert {key: rendered.get(key) for key in params} == params, step_id
        queries = {
            s["id"]: s["output"]["params"]["query"]
            for s in run["steps"]
            if s["action"].startswith("prometheus.") and s["dry_run"]
        }
        assert all(promql_parts(query) for query in queries.values()), queries
        assert {k: unquoted(q) for k, q in queries.items()} == {k: [] for k in queries}
        assert {k: promql_matchers(q) for k, q in queries.items() if k in expected.queries} == (
            expected.queries
        )


async def test_unknown_critical_alert_runs_fallback(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A critical DWCP alert no playbook matches runs ``fallback``: its steps really run (no
    dry run): the "no playbook matched" note and the escalation, shown as ESCALATED and
    saying nobody was paged (DWCP's Alertmanager pages critical alerts itself)."""
    client, narrator, clock = await _start(start_medic, sqlite_url)
    alert = am_alert("fp-new", alertname="SomethingNew", severity="critical", team="sre")
    await _post(client, am_payload(alert, group_key='{}:{alertname="SomethingNew"}'))
    await approve_until_done(client, narrator, clock, 1)

    body = await detail(client)
    assert body["incident"]["playbooks"] == ["fallback"]
    (run,) = body["runs"]
    assert (run["playbook"], run["status"], run["approvals"]) == ("fallback", "succeeded", [])
    assert [(s["id"], s["action"], s["status"], s["dry_run"]) for s in run["steps"]] == [
        ("no_playbook", "incident.note", "succeeded", False),
        ("escalate", "incident.escalate", "succeeded", False),
    ]
    texts = [t["text"] for t in body["timeline"]]
    assert any("No playbook matched SomethingNew" in text for text in texts), texts
    escalated = [t for t in body["timeline"] if t["kind"] == "incident.escalated"]
    assert len(escalated) == 1
    assert "ESCALATED" in escalated[0]["text"]
    assert "No playbook matched critical alert SomethingNew" in escalated[0]["text"]
    assert "(not paged: this playbook escalates without paging)" in escalated[0]["text"]
    assert run["steps"][1]["output"]["paged"] is False


@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"},
        {"alertname": "ServiceDown", "job": "checkout", "namespace": "shop", "deployment": "x"},
        {"alertname": "HighMemoryUsage", "node": "worker-1"},
        {"alertname": "NodeOOM", "node": "worker-1"},
        {"alertname": "SomethingNew"},
    ],
    ids=["error-rate", "service-down", "memory", "oom", "unknown"],
)
async def test_generic_critical_alerts_get_no_dwcp_playbook(
    start_medic: StartMedic, sqlite_url: str, labels: dict[str, str]
) -> None:
    """An ordinary critical alert of another service (no DWCP ``team`` label, no DWCP
    workload) gets no DWCP playbook, not even ``fallback``: it opens a visible incident with
    no runs, so nothing is rolled back, restarted, cordoned or paged."""
    client, narrator, _ = await _start(start_medic, sqlite_url)
    name = labels.pop("alertname")
    alert = am_alert("fp-generic", alertname=name, severity="critical", **labels)
    await _post(client, am_payload(alert, group_key=f'{{}}:{{alertname="{name}"}}'))
    await narrator.wait_for("incident", lambda change: change.kind == "opened")

    body = await detail(client)
    assert (body["incident"]["playbooks"], body["runs"]) == ([], [])


async def test_unknown_warning_alert_opens_an_incident_without_runs(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """A warning no playbook matches (and too mild for ``fallback``) still opens a visible
    incident, with no runs."""
    client, narrator, _ = await _start(start_medic, sqlite_url)
    alert = am_alert("fp-mild", alertname="SomethingNew", severity="warning")
    await _post(client, am_payload(alert, group_key='{}:{alertname="SomethingNew"}'))
    # Wait for the intake, not only for the 200: the API's read-after-write wait has a race
    # (IntakeWorker advances processed_through to max(alert id) read after an empty batch).
    await narrator.wait_for("incident", lambda change: change.kind == "opened")

    body = await detail(client)
    assert (body["incident"]["status"], body["incident"]["alert_count"]) == ("open", 1)
    assert (body["incident"]["playbooks"], body["runs"]) == ([], [])
    assert [a["fingerprint"] for a in body["alerts"]] == ["fp-mild"]


async def test_resolution_cancels_a_pending_rollback(
    start_medic: StartMedic, store_url: str
) -> None:
    """auto-rollback has ``on_resolved: cancel_pending``: the SLA alert resolving while the
    rollback waits on its veto window cancels the approval, aborts the run before the
    rollback and resolves the incident; a window passing later changes nothing."""
    client, narrator, clock = await _start(start_medic, store_url)
    await _post(client, sample("sla-availability-violation"))
    requested = await narrator.wait_for("approval_requested")
    assert (requested.step_id, requested.mode) == ("approve", "veto")

    await _post(client, sample("sla-availability-violation.resolved"))
    await narrator.run_end("RUN-1", "aborted")
    # The run is aborted in the intake's commit; the woken run task closes the approval step
    # just after (run_finished is narrated before that step_finished).
    await narrator.wait_for("step_finished", lambda e: e.step_id == "approve")
    clock.advance(timedelta(minutes=5))

    body = await detail(client)
    assert body["incident"]["status"] == "resolved"
    (run,) = body["runs"]
    assert (run["playbook"], run["status"]) == ("auto-rollback", "aborted")
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("sla_availability", "succeeded"),
        ("sla_latency", "succeeded"),
        ("sla_error_rate", "succeeded"),
        ("history", "succeeded"),
        ("unchanged", "skipped"),
        ("approve", "aborted"),
    ]
    assert [(a["id"], a["step"], a["status"]) for a in run["approvals"]] == [
        (requested.approval_id, "approve", "cancelled")
    ]
    assert "rollback" not in {s["id"] for s in run["steps"]}
