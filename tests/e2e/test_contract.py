"""Black-box contract checks of ``medic serve`` and the ``medic`` CLI against the contract in docs/.

Everything here goes through the public surface only: HTTP endpoints, JSON shapes and
statuses, configuration keys as ``MEDIC_*`` env vars, the CLI, the shipped
playbook catalogue fed with the DWCP sample alerts in ``bot/samples``, and a small playbook
directory of our own written to the playbook schema. Each server is a real ``medic serve``
subprocess on its own fresh SQLite store (module-scoped: the main one, a token-less one with
a Prometheus that never answers, one for the pause switch, one on our playbooks). Tests that
create incidents derive them from a sample with a unique tag in every grouping label, so they
never share an incident, target, cooldown or approval with another test. Where Medic
contradicts the contract the test still asserts the contract and is marked ``xfail(strict=True)``
with the mismatch as its reason.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.http import get_json, get_text, post_json
from harness.medic import MedicProcess
from harness.waiting import wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "bot" / "samples"
MEDIC_CLI = Path(sys.executable).parent / "medic"

AM_TOKEN = "am-token-contract-4b1e"
API_TOKEN = "api-token-contract-9d3f"
MAX_BODY_BYTES = 16384
APPROVERS = ["U1", "U2"]
ADMINS = ["ADMIN"]
WAIT = 15.0

# Every status and enum value the API may show.
INCIDENT_STATUSES = {"open", "acknowledged", "mitigating", "resolved"}
SEVERITIES = {"sev1", "sev2", "sev3", "sev4"}
RUN_STATUSES = {
    "pending",
    "running",
    "waiting_approval",
    "paused",
    "succeeded",
    "failed",
    "aborted",
    "interrupted",
    "skipped",
}
STEP_STATUSES = {
    "pending",
    "running",
    "waiting_approval",
    "succeeded",
    "failed",
    "skipped",
    "aborted",
    "interrupted",
}
APPROVAL_STATUSES = {"pending", "approved", "rejected", "expired", "cancelled"}
APPROVAL_MODES = {"consent", "veto"}
ALERT_STATUSES = {"firing", "resolved"}
ALERT_SOURCES = {"alertmanager", "pagerduty", "manual"}
ERROR_CODES = {
    "invalid_json",
    "invalid_payload",
    "unauthorized",
    "forbidden",
    "too_large",
    "not_found",
    "conflict",
    "unavailable",
}

# The API's JSON shapes (fields may be added, none renamed).
LIST_KEYS = {
    "id",
    "title",
    "severity",
    "status",
    "created_at",
    "updated_at",
    "alert_count",
    "playbooks",
    "slack_channel",
}
ALERT_KEYS = {"fingerprint", "status", "labels", "annotations", "starts_at", "source"}
RUN_KEYS = {"id", "playbook", "status", "target", "started_by", "steps", "approvals"}
STEP_KEYS = {"id", "action", "status", "dry_run", "output", "error", "started_at", "finished_at"}
APPROVAL_KEYS = {"id", "step", "mode", "status", "decided_by", "decided_at", "expires_at"}
TIMELINE_KEYS = {"at", "actor", "kind", "text"}

INCIDENT_ID = re.compile(r"^INC-[1-9][0-9]*$")
APPROVAL_ID = re.compile(r"^APR-[1-9][0-9]*$")

# The actions that change the world (dry runs while safety.dry_run holds),
# and the integrations whose steps a disabled integration records as dry runs.
WRITE_ACTIONS = {
    "kubernetes.rollback",
    "kubernetes.scale",
    "kubernetes.restart",
    "kubernetes.set_env",
    "kubernetes.set_resources",
    "kubernetes.cordon",
    "kubernetes.uncordon",
    "kubernetes.drain",
    "kubernetes.delete_node",
    "alertmanager.silence",
    "alertmanager.expire_silence",
    "pagerduty.page",
    "pagerduty.note",
    "pagerduty.acknowledge",
    "pagerduty.resolve",
    "slack.notify",
}
INTEGRATIONS = {"kubernetes", "prometheus", "alertmanager", "pagerduty", "kafka", "slack"}

# Every sample in bot/samples and the shipped playbook its alert matches.
SAMPLE_PLAYBOOK = {
    "all-replicas-down": "v1-fallback",
    "byzantine-node-detected": "byzantine-isolation",
    "byzantine-node-detected.resolved": "byzantine-isolation",
    "certificate-expiring": "diagnose-only",
    "db-pool-exhausted": "pool-exhaustion",
    "disk-space-low": "diagnose-only",
    "high-error-rate": "auto-rollback",
    "high-latency-warning": "diagnose-only",
    "message-queue-backlog": "queue-backlog",
    "node-high-memory": "node-pressure",
    "real-am-0.25-firing": "fallback",
    "service-down": "service-restart",
    "sla-availability-violation": "auto-rollback",
    "sla-availability-violation.resolved": "auto-rollback",
    "sla-latency-violation": "auto-rollback",
}
UNMATCHED_SAMPLE = "real-am-0.25-resolved"  # DirectAlert, warning: no playbook, no fallback
GROUPING_LABELS = ("namespace", "deployment", "node", "instance", "consumergroup", "job")
CHECK_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>[0-9]+): (?P<key>[\w.\-]+): (?P<reason>.+)$")


# --- plain HTTP, any status ---------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, Content-Type and body."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


def request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Send one request and return the answer whatever its status."""
    req = urllib.request.Request(  # noqa: S310  # our own http:// server
        url, data=data, headers=dict(headers or {}), method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=10.0) as resp:  # noqa: S310  # same
            return Answer(resp.status, resp.headers.get("Content-Type", ""), resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Answer(err.code, err.headers.get("Content-Type", ""), err.read())


def post_raw(url: str, data: bytes, headers: Mapping[str, str] | None = None) -> Answer:
    """``POST`` raw bytes as ``application/json``."""
    return request(
        url,
        method="POST",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def am_auth(token: str = AM_TOKEN) -> dict[str, str]:
    """The Authorization header Alertmanager sends."""
    return {"Authorization": f"Bearer {token}"}


def api_auth(token: str = API_TOKEN) -> dict[str, str]:
    """The Authorization header for the decision API."""
    return {"Authorization": f"Bearer {token}"}


def is_error(answer: Answer, status: int, code: str) -> bool:
    """``answer`` is the API error: ``status``, JSON ``{"error": code, "detail": "..."}``."""
    body = answer.json()
    return (
        answer.status == status
        and answer.content_type.startswith("application/json")
        and body.get("error") == code
        and isinstance(body.get("detail"), str)
        and body["detail"] != ""
    )


# --- alerts and incidents ---------------------------------------------------------------------


def sample(name: str) -> dict[str, Any]:
    """A sample Alertmanager webhook body from ``bot/samples``."""
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def variant(name: str, tag: str, *, rename: bool = False) -> dict[str, Any]:
    """``sample(name)`` made unique: ``tag`` in its fingerprints, grouping labels (an
    ``instance`` added where missing), groupKey, and with ``rename`` its alertname (for
    playbooks that group by alertname alone and match on other labels)."""
    payload = copy.deepcopy(sample(name))
    for alert in payload["alerts"]:
        alert["fingerprint"] = f"{tag}-{alert['fingerprint']}"
        alert["labels"].setdefault("instance", "contract")
        if rename:
            alert["labels"]["alertname"] = f"{alert['labels']['alertname']}-{tag}"
        for label in GROUPING_LABELS:
            if label in alert["labels"]:
                alert["labels"][label] = f"{alert['labels'][label]}-{tag}"
    payload["groupKey"] = f"{payload['groupKey']}:{tag}"
    return payload


def resolved(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The same notification with every alert resolved, as Alertmanager sends it."""
    out = copy.deepcopy(dict(payload))
    out["status"] = "resolved"
    for alert in out["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-24T03:10:00Z"
    return out


def fingerprint(payload: Mapping[str, Any]) -> str:
    """The first alert's fingerprint."""
    value: str = payload["alerts"][0]["fingerprint"]
    return value


def incident_with(url: str, fp: str) -> dict[str, Any]:
    """The detail of the incident holding the alert ``fp`` (waits until one does)."""

    def find() -> dict[str, Any] | None:
        for item in get_json(f"{url}/api/incidents")["incidents"]:
            detail: dict[str, Any] = get_json(f"{url}/api/incidents/{item['id']}")
            if any(alert["fingerprint"] == fp for alert in detail["alerts"]):
                return detail
        return None

    return wait_until(find, WAIT, f"an incident holding alert {fp}")


def detail_of(url: str, incident_id: str) -> dict[str, Any]:
    """``GET /api/incidents/{id}``."""
    detail: dict[str, Any] = get_json(f"{url}/api/incidents/{incident_id}")
    return detail


def only_run(url: str, incident_id: str) -> dict[str, Any]:
    """The single run of an incident (waits until it has one)."""
    runs = wait_until(lambda: detail_of(url, incident_id)["runs"], WAIT, f"a run on {incident_id}")
    assert len(runs) == 1, runs
    run: dict[str, Any] = runs[0]
    return run


def run_when(url: str, incident_id: str, what: str, predicate: Any) -> dict[str, Any]:
    """The incident's single run, once ``predicate(run)`` holds."""

    def check() -> dict[str, Any] | None:
        run = only_run(url, incident_id)
        return run if predicate(run) else None

    found: dict[str, Any] = wait_until(check, WAIT, f"{incident_id}: {what}")
    return found


def pending_approval(url: str, incident_id: str) -> dict[str, Any]:
    """The incident's run's pending approval (waits until there is one)."""

    def find() -> dict[str, Any] | None:
        pending = [a for a in only_run(url, incident_id)["approvals"] if a["status"] == "pending"]
        return pending[0] if pending else None

    return wait_until(find, WAIT, f"a pending approval on {incident_id}")


def approval(url: str, incident_id: str, approval_id: str) -> dict[str, Any]:
    """One approval as the incident detail shows it."""
    for run in detail_of(url, incident_id)["runs"]:
        for item in run["approvals"]:
            if item["id"] == approval_id:
                found: dict[str, Any] = item
                return found
    raise AssertionError(f"{approval_id} is not on {incident_id}")


def steps_by_id(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's steps keyed by step id."""
    return {step["id"]: step for step in run["steps"]}


def post_alerts(medic: MedicProcess, payload: Any, token: str | None = AM_TOKEN) -> Any:
    """Deliver a webhook; assert it was committed (200); return the incident detail."""
    headers = am_auth(token) if token else {}
    status, body = post_json(f"{medic.url}/webhooks/alertmanager", payload, headers)
    assert status == 200, body
    return incident_with(medic.url, fingerprint(payload))


def medic_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment without any ``MEDIC_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MEDIC_")}
    env.update(extra or {})
    return env


# --- servers -----------------------------------------------------------------------------------


def start_medic(
    tmp: Path, *, api_token: str | None, bearer_token: str | None, **env: str
) -> MedicProcess:
    """A started ``medic serve`` on a fresh SQLite store in ``tmp``."""
    extra = {
        "MEDIC_SLACK__APPROVERS": json.dumps(APPROVERS),
        "MEDIC_SLACK__ADMINS": json.dumps(ADMINS),
        **env,
    }
    if api_token is not None:
        extra["MEDIC_SERVER__API_TOKEN"] = api_token
    return MedicProcess(
        tmp, store_url=f"sqlite:///{tmp / 'medic.db'}", bearer_token=bearer_token, extra_env=extra
    ).start()


@pytest.fixture(scope="module")
def medic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedicProcess]:
    """The main server: API token, approvers U1/U2, admin ADMIN, a small body limit; every
    sample alert delivered once so the store holds incidents of every shipped playbook."""
    with start_medic(
        tmp_path_factory.mktemp("medic-main"),
        api_token=API_TOKEN,
        bearer_token=AM_TOKEN,
        MEDIC_SERVER__MAX_BODY_BYTES=str(MAX_BODY_BYTES),
    ) as server:
        for name in [*SAMPLE_PLAYBOOK, UNMATCHED_SAMPLE]:
            status, body = post_json(f"{server.url}/webhooks/alertmanager", sample(name), am_auth())
            assert status == 200, (name, body)
        yield server


@pytest.fixture(scope="module")
def everything(medic: MedicProcess) -> list[dict[str, Any]]:
    """Every incident detail on the main server once the sample runs settled a little."""
    wait_until(
        lambda: all(
            run["status"] not in {"pending", "running"}
            for item in get_json(f"{medic.url}/api/incidents")["incidents"]
            for run in detail_of(medic.url, item["id"])["runs"]
        ),
        WAIT,
        "every sample run past pending/running",
    )
    return [
        detail_of(medic.url, item["id"])
        for item in get_json(f"{medic.url}/api/incidents")["incidents"]
    ]


@pytest.fixture(scope="module")
def slow_prometheus() -> Iterator[str]:
    """A Prometheus URL that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def spare(tmp_path_factory: pytest.TempPathFactory, slow_prometheus: str) -> Iterator[MedicProcess]:
    """A second server: no ``server.api_token``, no Alertmanager bearer token, and a
    Prometheus whose queries each hang until ``prometheus.timeout`` (500 ms)."""
    with start_medic(
        tmp_path_factory.mktemp("medic-spare"),
        api_token=None,
        bearer_token=None,
        MEDIC_PROMETHEUS__URL=slow_prometheus,
        MEDIC_PROMETHEUS__TIMEOUT="500ms",
    ) as server:
        yield server


# --- POST /webhooks/alertmanager -----------------------------------------------------------------


def test_webhook_commits_and_counts_duplicates(medic: MedicProcess) -> None:
    """A new alert is 200 ``{"accepted": 1, "duplicates": 0}``; the same delivery again (an HA
    peer, a repeat) is 200 ``{"accepted": 0, "duplicates": 1}``."""
    payload = variant("service-down", "dup")
    url = f"{medic.url}/webhooks/alertmanager"
    assert post_json(url, payload, am_auth()) == (200, {"accepted": 1, "duplicates": 0})
    assert post_json(url, payload, am_auth()) == (200, {"accepted": 0, "duplicates": 1})


def test_webhook_counts_every_alert_of_a_delivery(medic: MedicProcess) -> None:
    """A delivery with two new alerts and one already seen answers accepted 2, duplicates 1."""
    seen = variant("high-latency-warning", "multi-a")
    fresh = [variant("high-latency-warning", f"multi-{n}")["alerts"][0] for n in ("b", "c")]
    url = f"{medic.url}/webhooks/alertmanager"
    assert post_json(url, seen, am_auth())[0] == 200
    combined = {**seen, "alerts": [*seen["alerts"], *fresh]}
    assert post_json(url, combined, am_auth()) == (200, {"accepted": 2, "duplicates": 1})


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b'{"alerts": [}'],
    ids=["garbage", "empty", "not-utf8", "truncated"],
)
def test_webhook_bad_json_is_400_invalid_json(medic: MedicProcess, body: bytes) -> None:
    """A body that is not JSON is 400 ``invalid_json`` with a detail."""
    answer = post_raw(f"{medic.url}/webhooks/alertmanager", body, am_auth())
    assert is_error(answer, 400, "invalid_json"), answer


def _bad_alert(**changes: Any) -> dict[str, Any]:
    payload = sample("service-down")
    payload["alerts"][0].update(changes)
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        {**sample("service-down"), "alerts": "not a list"},
        _bad_alert(status="exploding"),
        _bad_alert(startsAt="yesterday"),
        _bad_alert(labels="alertname=x"),
    ],
    ids=["array", "empty-object", "alerts-not-list", "bad-status", "bad-startsAt", "bad-labels"],
)
def test_webhook_bad_schema_is_400_invalid_payload(medic: MedicProcess, payload: Any) -> None:
    """JSON that is not an Alertmanager v4 body is 400 ``invalid_payload`` with a detail."""
    answer = post_raw(f"{medic.url}/webhooks/alertmanager", json.dumps(payload).encode(), am_auth())
    assert is_error(answer, 400, "invalid_payload"), answer


@pytest.mark.parametrize(
    ("tag", "headers"),
    [
        ("missing", {}),
        ("wrong-token", am_auth("wrong-token")),
        ("basic-scheme", {"Authorization": f"Basic {AM_TOKEN}"}),
        ("no-scheme", {"Authorization": AM_TOKEN}),
        ("api-token", am_auth(API_TOKEN)),
    ],
)
def test_webhook_without_the_bearer_token_is_401(
    medic: MedicProcess, tag: str, headers: dict[str, str]
) -> None:
    """With ``alertmanager.bearer_token`` set, anything but that bearer token is 401
    ``unauthorized``, and nothing is committed (the same alert is new afterwards)."""
    payload = variant("service-down", f"auth-{tag}")
    url = f"{medic.url}/webhooks/alertmanager"
    assert is_error(post_raw(url, json.dumps(payload).encode(), headers), 401, "unauthorized")
    assert post_json(url, payload, am_auth()) == (200, {"accepted": 1, "duplicates": 0})


def _padded(size: int) -> bytes:
    """A valid webhook body of exactly ``size`` bytes (padding in an annotation)."""
    payload = variant("high-latency-warning", f"size-{size}")
    payload["alerts"][0]["annotations"]["padding"] = ""
    base = len(json.dumps(payload).encode())
    payload["alerts"][0]["annotations"]["padding"] = "x" * (size - base)
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


def test_webhook_over_max_body_bytes_is_413(medic: MedicProcess) -> None:
    """A valid body one byte over ``server.max_body_bytes`` is 413 ``too_large``."""
    answer = post_raw(f"{medic.url}/webhooks/alertmanager", _padded(MAX_BODY_BYTES + 1), am_auth())
    assert is_error(answer, 413, "too_large"), answer


def test_webhook_at_max_body_bytes_is_accepted(medic: MedicProcess) -> None:
    """A valid body of exactly ``server.max_body_bytes`` is committed (200)."""
    answer = post_raw(f"{medic.url}/webhooks/alertmanager", _padded(MAX_BODY_BYTES), am_auth())
    assert (answer.status, answer.json()) == (200, {"accepted": 1, "duplicates": 0})


def test_webhook_needs_no_token_when_none_is_configured(spare: MedicProcess) -> None:
    """Without ``alertmanager.bearer_token`` the webhook commits without Authorization."""
    status, body = post_json(
        f"{spare.url}/webhooks/alertmanager", variant("service-down", "open"), {}
    )
    assert (status, body) == (200, {"accepted": 1, "duplicates": 0})


# --- GET /api/incidents and /api/incidents/{id} -------------------------------------------------


def test_list_items_have_the_contract_keys(
    everything: list[dict[str, Any]], medic: MedicProcess
) -> None:
    """Every list item has the documented keys with the right types; ids are ``INC-<n>``."""
    items = get_json(f"{medic.url}/api/incidents")["incidents"]
    assert len(items) >= len(everything) > 0
    assert [sorted(LIST_KEYS - set(i)) for i in items] == [[] for _ in items]
    assert all(INCIDENT_ID.match(i["id"]) for i in items), [i["id"] for i in items]
    assert all(isinstance(i["title"], str) and i["title"] for i in items)
    assert all(isinstance(i["alert_count"], int) for i in items)
    assert all(isinstance(i["playbooks"], list) for i in items)
    assert all(all(isinstance(p, str) for p in i["playbooks"]) for i in items)
    assert all(isinstance(i["created_at"], str) and isinstance(i["updated_at"], str) for i in items)


def test_list_is_newest_first(everything: list[dict[str, Any]], medic: MedicProcess) -> None:
    """Without a filter the list is every incident, newest first: creation times never
    increase down the list, incident numbers strictly decrease, and an incident opened
    just now is the first item."""
    detail = post_alerts(medic, variant("high-latency-warning", "newest"), AM_TOKEN)
    items = get_json(f"{medic.url}/api/incidents")["incidents"]
    numbers = [int(i["id"].removeprefix("INC-")) for i in items]
    created = [i["created_at"] for i in items]
    assert items[0]["id"] == detail["incident"]["id"]
    assert numbers == sorted(numbers, reverse=True)
    assert len(set(numbers)) == len(numbers)
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("status", "at_least"),
    [("open", 1), ("acknowledged", 0), ("mitigating", 0), ("resolved", 1)],
)
def test_status_filter_is_exact(
    everything: list[dict[str, Any]], medic: MedicProcess, status: str, at_least: int
) -> None:
    """``?status=<s>`` returns exactly the incidents of the full list whose status is ``s``,
    in the same (newest first) order."""
    full = get_json(f"{medic.url}/api/incidents")["incidents"]
    filtered = get_json(f"{medic.url}/api/incidents?status={status}")["incidents"]
    assert [i["id"] for i in filtered] == [i["id"] for i in full if i["status"] == status]
    assert {i["status"] for i in filtered} <= {status}
    assert len(filtered) >= at_least


@pytest.mark.parametrize("incident_id", ["INC-999999", "nope", "APR-1"])
def test_unknown_incident_is_404(medic: MedicProcess, incident_id: str) -> None:
    """An unknown incident id is 404 ``not_found``."""
    assert is_error(request(f"{medic.url}/api/incidents/{incident_id}"), 404, "not_found")


def test_detail_has_the_contract_shape(everything: list[dict[str, Any]]) -> None:
    """Every detail has ``incident`` (the list keys), ``alerts``, ``runs`` (with ``steps``
    and ``approvals``) and ``timeline`` with the documented keys; approvals are ``APR-<n>``."""
    alerts = [a for d in everything for a in d["alerts"]]
    runs = [r for d in everything for r in d["runs"]]
    steps = [s for r in runs for s in r["steps"]]
    approvals = [a for r in runs for a in r["approvals"]]
    events = [e for d in everything for e in d["timeline"]]
    assert [len(alerts), len(runs), len(steps), len(approvals), len(events)].count(0) == 0
    assert [sorted(LIST_KEYS - set(d["incident"])) for d in everything] == [[]] * len(everything)
    assert [sorted(ALERT_KEYS - set(a)) for a in alerts] == [[]] * len(alerts)
    assert [sorted(RUN_KEYS - set(r)) for r in runs] == [[]] * len(runs)
    assert [sorted(STEP_KEYS - set(s)) for s in steps] == [[]] * len(steps)
    assert [sorted(APPROVAL_KEYS - set(a)) for a in approvals] == [[]] * len(approvals)
    assert [sorted(TIMELINE_KEYS - set(e)) for e in events] == [[]] * len(events)
    assert all(APPROVAL_ID.match(a["id"]) for a in approvals), [a["id"] for a in approvals]
    assert all(isinstance(a["labels"], dict) and a["labels"] for a in alerts)
    assert all(isinstance(a["annotations"], dict) for a in alerts)
    assert all(isinstance(s["dry_run"], bool) for s in steps)
    assert all(isinstance(e["text"], str) and e["text"] for e in events)
    assert all(d["timeline"] for d in everything)


def test_detail_incident_matches_the_list(
    everything: list[dict[str, Any]], medic: MedicProcess
) -> None:
    """The detail's ``incident`` is the list item (same values for the contract keys)."""
    listed = {i["id"]: i for i in get_json(f"{medic.url}/api/incidents")["incidents"]}
    stable = LIST_KEYS - {"updated_at", "status", "alert_count", "playbooks", "severity"}
    assert [{k: d["incident"][k] for k in stable} for d in everything] == [
        {k: listed[d["incident"]["id"]][k] for k in stable} for d in everything
    ]


def test_only_design_status_values_appear(everything: list[dict[str, Any]]) -> None:
    """Incidents, severities, runs, steps, approvals (and modes), alerts (and sources) only
    ever show the documented values."""
    runs = [r for d in everything for r in d["runs"]]
    approvals = [a for r in runs for a in r["approvals"]]
    alerts = [a for d in everything for a in d["alerts"]]
    assert {d["incident"]["status"] for d in everything} <= INCIDENT_STATUSES
    assert {d["incident"]["severity"] for d in everything} <= SEVERITIES
    assert {r["status"] for r in runs} <= RUN_STATUSES
    assert {s["status"] for r in runs for s in r["steps"]} <= STEP_STATUSES
    assert {a["status"] for a in approvals} <= APPROVAL_STATUSES
    assert {a["mode"] for a in approvals} <= APPROVAL_MODES
    assert {a["status"] for a in alerts} <= ALERT_STATUSES
    assert {a["source"] for a in alerts} <= ALERT_SOURCES


def test_runs_name_their_playbook_and_starter(everything: list[dict[str, Any]]) -> None:
    """Each run's playbook is one of its incident's ``playbooks``; automatic runs were started
    by ``medic``."""
    pairs = [(r["playbook"], d["incident"]["playbooks"]) for d in everything for r in d["runs"]]
    assert [p for p, names in pairs if p not in names] == []
    assert {r["started_by"] for d in everything for r in d["runs"]} == {"medic"}


def test_dry_run_only_for_simulated_write_or_integration_steps(
    everything: list[dict[str, Any]],
) -> None:
    """``dry_run: true`` only on a ``succeeded`` step of an integration action (a simulated
    write, or a disabled integration's step) with the would-be change in ``output``; Medic's
    own steps (approval, incident.*) are never dry runs; with ``safety.dry_run`` at its
    default every write step that succeeded was a dry run."""
    steps = [s for d in everything for r in d["runs"] for s in r["steps"]]
    dry = [s for s in steps if s["dry_run"]]
    succeeded_writes = [
        s for s in steps if s["action"] in WRITE_ACTIONS and s["status"] == "succeeded"
    ]
    assert dry
    assert succeeded_writes
    assert [s["id"] for s in dry if s["status"] != "succeeded"] == []
    assert [s["id"] for s in dry if s["action"].split(".")[0] not in INTEGRATIONS] == []
    assert [s["id"] for s in dry if not s["output"]] == []
    assert [s["id"] for s in succeeded_writes if not s["dry_run"]] == []


def test_dry_runs_never_make_an_incident_mitigating(everything: list[dict[str, Any]]) -> None:
    """``mitigating`` starts with the first non-dry-run write step: with only dry runs no
    incident is ``mitigating``."""
    assert [
        d["incident"]["id"] for d in everything if d["incident"]["status"] == "mitigating"
    ] == []


@pytest.mark.parametrize(
    ("sample_name", "playbook", "rename"),
    [
        ("service-down", "service-restart", False),
        ("all-replicas-down", "v1-fallback", False),
        ("high-latency-warning", "diagnose-only", False),
        ("kubernetes/kube-pod-crashlooping", "kube-pod-crashlooping", False),
    ],
)
def test_alert_opens_an_incident_running_its_playbook(
    medic: MedicProcess, sample_name: str, playbook: str, rename: bool
) -> None:
    """A firing sample alert opens a new incident listing the matching catalogue playbook,
    with one run of it and the alert (source ``alertmanager``, status ``firing``)."""
    payload = variant(sample_name, f"open-{sample_name}", rename=rename)
    detail = post_alerts(medic, payload)
    run = only_run(medic.url, detail["incident"]["id"])
    assert detail["incident"]["playbooks"] == [playbook]
    assert run["playbook"] == playbook
    assert [(a["fingerprint"], a["status"], a["source"]) for a in detail["alerts"]] == [
        (fingerprint(payload), "firing", "alertmanager")
    ]
    assert detail["alerts"][0]["labels"] == payload["alerts"][0]["labels"]


def test_unmatched_alert_is_a_visible_incident_counting_distinct_fingerprints(
    medic: MedicProcess,
) -> None:
    """An alert no playbook (not even a fallback) matches still opens a visible incident,
    without runs; ``alert_count`` counts distinct fingerprints: the same alert firing again
    with a new ``startsAt`` does not add one, a second alert of its group does."""
    first = variant("node-high-memory", "nomatch")
    first["alerts"][0]["labels"].update(alertname="ContractNoPlaybook", severity="info")
    again = copy.deepcopy(first)
    again["alerts"][0]["startsAt"] = "2026-11-24T03:05:00Z"
    other = copy.deepcopy(first)
    other["alerts"][0]["fingerprint"] = "nomatch-second"
    other["alerts"][0]["labels"]["instance"] = "worker-10-nomatch"
    url = f"{medic.url}/webhooks/alertmanager"
    answers = [post_json(url, body, am_auth()) for body in (first, again, other)]
    detail = incident_with(medic.url, fingerprint(first))
    listed = {i["id"]: i for i in get_json(f"{medic.url}/api/incidents")["incidents"]}
    assert answers == [(200, {"accepted": 1, "duplicates": 0})] * 3
    assert detail["incident"]["playbooks"] == []
    assert detail["runs"] == []
    assert {a["fingerprint"] for a in detail["alerts"]} == {fingerprint(first), "nomatch-second"}
    assert detail["incident"]["alert_count"] == 2
    assert listed[detail["incident"]["id"]]["alert_count"] == 2


def test_resolving_every_alert_resolves_the_incident(medic: MedicProcess) -> None:
    """When a sample's alert resolves, its alert shows ``resolved`` and the incident leaves
    the ``open`` filter for the ``resolved`` one."""
    payload = variant("high-latency-warning", "resolve")
    incident_id = post_alerts(medic, payload)["incident"]["id"]
    post_alerts(medic, resolved(payload))
    wait_until(
        lambda: detail_of(medic.url, incident_id)["incident"]["status"] == "resolved",
        WAIT,
        f"{incident_id} resolved",
    )
    detail = detail_of(medic.url, incident_id)
    open_ids = [i["id"] for i in get_json(f"{medic.url}/api/incidents?status=open")["incidents"]]
    resolved_ids = [
        i["id"] for i in get_json(f"{medic.url}/api/incidents?status=resolved")["incidents"]
    ]
    assert [a["status"] for a in detail["alerts"]] == ["resolved"]
    assert incident_id not in open_ids
    assert incident_id in resolved_ids


# --- POST /api/approvals/{id} -------------------------------------------------------------------


@pytest.fixture(scope="module")
def held_approval(medic: MedicProcess) -> tuple[str, str]:
    """(incident id, approval id) of a consent approval nobody will validly decide."""
    incident_id = post_alerts(medic, variant("service-down", "held"))["incident"]["id"]
    return incident_id, pending_approval(medic.url, incident_id)["id"]


@pytest.mark.parametrize(
    "headers",
    [{}, api_auth("wrong-token"), {"Authorization": f"Basic {API_TOKEN}"}, am_auth()],
    ids=["missing", "wrong-token", "basic-scheme", "alertmanager-token"],
)
def test_decision_without_the_api_token_is_401(
    medic: MedicProcess, held_approval: tuple[str, str], headers: dict[str, str]
) -> None:
    """Without ``Bearer <server.api_token>`` a decision is 401 ``unauthorized`` and the
    approval stays pending."""
    incident_id, approval_id = held_approval
    answer = post_raw(
        f"{medic.url}/api/approvals/{approval_id}",
        json.dumps({"decision": "approve", "user": "U1"}).encode(),
        headers,
    )
    assert is_error(answer, 401, "unauthorized"), answer
    assert approval(medic.url, incident_id, approval_id)["status"] == "pending"


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize("user", ["U9", "ADMIN"])
def test_decision_by_a_non_approver_is_403(
    medic: MedicProcess, held_approval: tuple[str, str], user: str, decision: str
) -> None:
    """A user not in ``slack.approvers`` (an admin is not an approver either) gets 403
    ``forbidden`` and the approval stays pending."""
    incident_id, approval_id = held_approval
    answer = post_raw(
        f"{medic.url}/api/approvals/{approval_id}",
        json.dumps({"decision": decision, "user": user}).encode(),
        api_auth(),
    )
    assert is_error(answer, 403, "forbidden"), answer
    assert approval(medic.url, incident_id, approval_id)["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"decision": "maybe", "user": "U1"}', "invalid_payload"),
        (b'{"user": "U1"}', "invalid_payload"),
        (b"{decision", "invalid_json"),
    ],
    ids=["unknown-decision", "no-decision", "bad-json"],
)
def test_malformed_decision_is_400(
    medic: MedicProcess, held_approval: tuple[str, str], body: bytes, code: str
) -> None:
    """A decision body that is not ``{"decision": "approve"|"reject", "user"}`` is 400 with
    ``invalid_json`` / ``invalid_payload``, and decides nothing."""
    incident_id, approval_id = held_approval
    answer = post_raw(f"{medic.url}/api/approvals/{approval_id}", body, api_auth())
    assert is_error(answer, 400, code), answer
    assert approval(medic.url, incident_id, approval_id)["status"] == "pending"


def test_decision_on_an_unknown_approval_is_404(medic: MedicProcess) -> None:
    """An approval id that does not exist is 404 ``not_found``."""
    status, body = post_json(
        f"{medic.url}/api/approvals/APR-999999", {"decision": "approve", "user": "U1"}, api_auth()
    )
    assert (status, body["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("first", "second", "outcome", "run_status", "writes"),
    [
        ("approve", "reject", "approved", "succeeded", [("succeeded", True)]),
        ("reject", "approve", "rejected", "aborted", []),
        ("approve", "approve", "approved", "succeeded", [("succeeded", True)]),
    ],
)
def test_first_valid_decision_wins(
    medic: MedicProcess,
    first: str,
    second: str,
    outcome: str,
    run_status: str,
    writes: list[tuple[str, bool]],
) -> None:
    """An approver's decision is 200 and already committed when answered (``decided_by`` the
    approver, ``decided_at`` set, on the timeline under the approver's name); a later
    decision by the other approver is 409 ``conflict`` and changes nothing; approved, the run
    goes on (its write step a dry run) and succeeds; rejected, the run is ``aborted``."""
    incident_id = post_alerts(medic, variant("service-down", f"decide-{first}-{second}"))[
        "incident"
    ]["id"]
    approval_id = pending_approval(medic.url, incident_id)["id"]
    url = f"{medic.url}/api/approvals/{approval_id}"
    status_first, _ = post_json(url, {"decision": first, "user": "U1"}, api_auth())
    right_after = approval(medic.url, incident_id, approval_id)["status"]
    answer_second = post_raw(
        url, json.dumps({"decision": second, "user": "U2"}).encode(), api_auth()
    )
    run = run_when(medic.url, incident_id, f"run {run_status}", lambda r: r["status"] == run_status)
    settled = approval(medic.url, incident_id, approval_id)
    actors = {e["actor"] for e in detail_of(medic.url, incident_id)["timeline"]}
    assert status_first == 200
    assert right_after == outcome
    assert is_error(answer_second, 409, "conflict"), answer_second
    assert (settled["status"], settled["decided_by"]) == (outcome, "U1")
    assert settled["decided_at"] is not None
    assert "U1" in actors
    assert [
        (s["status"], s["dry_run"]) for s in run["steps"] if s["action"] in WRITE_ACTIONS
    ] == writes


def test_four_eyes_needs_two_different_approvers(medic: MedicProcess) -> None:
    """A ``four_eyes`` consent on a run Medic started stays pending after one approver (even
    approving twice) and is approved by a second, different approver."""
    incident_id = post_alerts(medic, variant("byzantine-node-detected", "foureyes"))["incident"][
        "id"
    ]
    pending = pending_approval(medic.url, incident_id)
    url = f"{medic.url}/api/approvals/{pending['id']}"
    first = post_json(url, {"decision": "approve", "user": "U1"}, api_auth())
    post_json(url, {"decision": "approve", "user": "U1"}, api_auth())
    after_one = approval(medic.url, incident_id, pending["id"])["status"]
    second = post_json(url, {"decision": "approve", "user": "U2"}, api_auth())
    after_two = approval(medic.url, incident_id, pending["id"])["status"]
    assert pending["step"] == "approve_drain"
    assert first[0] == 200
    assert after_one == "pending"
    assert second[0] == 200
    assert after_two == "approved"


@pytest.fixture(scope="module")
def spare_approval(spare: MedicProcess) -> tuple[str, str]:
    """(incident id, approval id) of a pending consent approval on the token-less server."""
    incident_id = post_alerts(spare, variant("service-down", "spare"), None)["incident"]["id"]
    return incident_id, pending_approval(spare.url, incident_id)["id"]


@pytest.mark.parametrize(
    "headers", [{}, api_auth(API_TOKEN), api_auth("anything")], ids=["no-auth", "token", "other"]
)
def test_decisions_are_404_without_an_api_token(
    spare: MedicProcess, spare_approval: tuple[str, str], headers: dict[str, str]
) -> None:
    """With ``server.api_token`` unset the decision endpoint is 404 ``not_found`` whatever
    the Authorization, even for a real pending approval by a configured approver."""
    incident_id, approval_id = spare_approval
    answer = post_raw(
        f"{spare.url}/api/approvals/{approval_id}",
        json.dumps({"decision": "approve", "user": "U1"}).encode(),
        headers,
    )
    assert is_error(answer, 404, "not_found"), answer
    assert approval(spare.url, incident_id, approval_id)["status"] == "pending"


# --- POST /api/pause, /api/resume ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["pause", "resume"])
@pytest.mark.parametrize("user", ["U1", "nobody"])
def test_pause_and_resume_by_a_non_admin_are_403(medic: MedicProcess, path: str, user: str) -> None:
    """``user`` not in ``slack.admins`` (an approver is not an admin) is 403 ``forbidden``."""
    answer = post_raw(
        f"{medic.url}/api/{path}",
        json.dumps({"user": user, "reason": "contract test"}).encode(),
        api_auth(),
    )
    assert is_error(answer, 403, "forbidden"), answer


@pytest.mark.parametrize("path", ["pause", "resume"])
@pytest.mark.parametrize(
    "headers", [{}, api_auth("wrong-token"), am_auth()], ids=["missing", "wrong", "am-token"]
)
def test_pause_and_resume_without_the_api_token_are_401(
    medic: MedicProcess, path: str, headers: dict[str, str]
) -> None:
    """The pause switch takes the same bearer token as decisions: without it, 401."""
    answer = post_raw(
        f"{medic.url}/api/{path}",
        json.dumps({"user": "ADMIN", "reason": "contract test"}).encode(),
        headers,
    )
    assert is_error(answer, 401, "unauthorized"), answer


@dataclass(frozen=True)
class PauseStory:
    """What a server showed around one pause and resume by an admin."""

    pause_status: int
    resume_status: int
    held_run: dict[str, Any]
    evidence_run: dict[str, Any]
    released_run: dict[str, Any]


@pytest.fixture(scope="module")
def pause_story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PauseStory]:
    """On its own server: ADMIN pauses; a v1-fallback alert (first step a write) and a
    service-restart alert (read steps first) arrive; ADMIN resumes."""
    with start_medic(
        tmp_path_factory.mktemp("medic-pause"), api_token=API_TOKEN, bearer_token=AM_TOKEN
    ) as server:
        body = {"user": "ADMIN", "reason": "contract test"}
        pause_status, _ = post_json(f"{server.url}/api/pause", body, api_auth())
        held_id = post_alerts(server, variant("all-replicas-down", "paused"))["incident"]["id"]
        evidence_id = post_alerts(server, variant("service-down", "paused"))["incident"]["id"]
        run_when(server.url, held_id, "run paused", lambda r: r["status"] == "paused")
        evidence_run = run_when(
            server.url,
            evidence_id,
            "evidence steps finished",
            lambda r: all(
                steps_by_id(r).get(i, {}).get("status") in {"succeeded", "failed", "skipped"}
                for i in ("pod_status", "restarts", "logs")
            ),
        )
        held_again = only_run(server.url, held_id)
        resume_status, _ = post_json(f"{server.url}/api/resume", body, api_auth())
        released_run = run_when(
            server.url,
            held_id,
            "scale_v1 done after resume",
            lambda r: steps_by_id(r).get("scale_v1", {}).get("status") == "succeeded",
        )
        yield PauseStory(pause_status, resume_status, held_again, evidence_run, released_run)


def test_admin_pause_and_resume_answer_200(pause_story: PauseStory) -> None:
    """``POST /api/pause`` and ``/api/resume`` by a ``slack.admins`` user are 200."""
    assert (pause_story.pause_status, pause_story.resume_status) == (200, 200)


def test_while_paused_a_write_step_waits_and_the_run_is_paused(pause_story: PauseStory) -> None:
    """While paused, a run whose next step is a write is ``paused`` and that write step has
    not run."""
    run = pause_story.held_run
    assert run["status"] == "paused"
    assert [
        s["id"] for s in run["steps"] if s["status"] in {"running", "succeeded", "failed"}
    ] == []


def test_while_paused_evidence_continues(pause_story: PauseStory) -> None:
    """While paused, read (evidence) steps still run."""
    steps = steps_by_id(pause_story.evidence_run)
    assert [steps[i]["status"] for i in ("pod_status", "restarts", "logs")] == ["succeeded"] * 3


def test_resume_releases_the_paused_run(pause_story: PauseStory) -> None:
    """After resume the paused run leaves ``paused`` and its write step runs (as a dry run)."""
    run = pause_story.released_run
    scale = steps_by_id(run)["scale_v1"]
    assert run["status"] != "paused"
    assert (scale["status"], scale["dry_run"]) == ("succeeded", True)


# --- playbooks.dirs and the playbook schema -------------------------------------------------------

CONTRACT_PLAYBOOKS = {
    "veto.yaml": """\
name: contract-veto
match:
  - alertname="ContractVeto"
group_by: [case]
severity: sev2
target: "deployment/contract/{{ labels.case }}"
steps:
  - id: approve
    uses: approval
    with: {mode: veto, timeout: 2s, prompt: "restarting {{ target }} unless rejected"}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: contract, deployment: "{{ labels.case }}"}
""",
    "consent.yaml": """\
name: contract-consent
match:
  - alertname="ContractConsent"
group_by: [case]
target: "deployment/contract/{{ labels.case }}"
steps:
  - id: approve
    uses: approval
    with: {mode: consent, timeout: 1s, prompt: "restart {{ target }}?"}
  - id: restart
    uses: kubernetes.restart
    with: {namespace: contract, deployment: "{{ labels.case }}"}
""",
    "flow.yaml": """\
name: contract-flow
match:
  - alertname="ContractFlow"
group_by: [case]
steps:
  - id: noted
    uses: incident.note
    with: {text: "flow {{ labels.case }}"}
  - id: skipped_when
    uses: incident.note
    with: {text: never}
    when: 'labels.case == "nothing"'
  - id: skipped_unless
    uses: incident.note
    with: {text: never}
    unless: 'labels.case != "nothing"'
  - id: broken
    uses: incident.note
    with: {text: "{{ labels.no_such_label }}"}
    on_failure: continue
  - id: query
    uses: prometheus.query
    with: {query: 'up{job={{ labels.job | promql }}}'}
  - id: stop_here
    uses: incident.note
    with: {text: stopping}
    then: stop
  - id: after_stop
    uses: incident.note
    with: {text: never}
""",
    "abort.yaml": """\
name: contract-abort
match:
  - alertname="ContractAbort"
group_by: [case]
steps:
  - id: broken
    uses: incident.note
    with: {text: "{{ labels.no_such_label }}"}
  - id: after
    uses: incident.note
    with: {text: never}
""",
    "fallback.yaml": """\
name: contract-fallback
fallback: true
match:
  - severity="page"
group_by: [case]
steps:
  - id: note
    uses: incident.note
    with: {text: fallback}
""",
    "regex.yaml": """\
name: contract-regex
priority: 5
match:
  - alertname=~"ContractRegex|ContractOther"
  - severity="page"
group_by: [case]
steps:
  - id: note
    uses: incident.note
    with: {text: regex}
""",
    "high.yaml": """\
name: contract-high
priority: 20
match:
  - alertname="ContractPriority"
group_by: [case]
steps:
  - id: note
    uses: incident.note
    with: {text: high}
""",
    "low.yaml": """\
name: contract-low
priority: 10
match:
  - alertname="ContractPriority"
group_by: [other]
steps:
  - id: note
    uses: incident.note
    with: {text: low}
""",
    "cooldown.yaml": """\
name: contract-cooldown
match:
  - alertname="ContractCooldown"
group_by: [case]
target: "thing/{{ labels.thing }}"
cooldown: 1h
steps:
  - id: note
    uses: incident.note
    with: {text: cooldown}
""",
    "lock.yaml": """\
name: contract-lock
match:
  - alertname="ContractLock"
group_by: [case]
target: "thing/{{ labels.thing }}"
steps:
  - id: hold
    uses: approval
    with: {mode: consent, timeout: 1h, prompt: "hold {{ target }}"}
""",
}
BAD_PLAYBOOKS = {
    "unknown-action.yaml": """\
name: contract-bad-action
match:
  - alertname="ContractBad"
group_by: [case]
steps:
  - id: explode
    uses: kubernetes.explode
    with: {node: x}
""",
    "bad-params.yaml": """\
name: contract-bad-params
match:
  - alertname="ContractBad"
group_by: [case]
steps:
  - id: scale
    uses: kubernetes.scale
    with: {namespace: x, deployment: y, replicas: many}
""",
    "bad-regex.yaml": """\
name: contract-bad-regex
match:
  - alertname=~"Contract(Bad"
group_by: [case]
steps:
  - id: note
    uses: incident.note
    with: {text: "{{ labels.case }}"}
""",
    "bad-step-field.yaml": """\
name: contract-bad-field
match:
  - alertname="ContractBad"
group_by: [case]
steps:
  - id: note
    uses: incident.note
    with: {text: x}
    on_failure: shrug
""",
}


def write_files(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (name -> text) into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


_counter = iter(range(1, 1_000_000))


def contract_alert(alertname: str, **labels: str) -> dict[str, Any]:
    """A new firing alert (unique fingerprint) with these labels."""
    return {
        "status": "firing",
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": f"{alertname} {sorted(labels.items())}"},
        "startsAt": "2026-11-24T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"contract-{next(_counter)}",
    }


def delivery(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager v4 notification holding ``alerts``."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="Contract"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }


def settled_run(url: str, incident_id: str) -> dict[str, Any]:
    """The incident's single run once it is past ``pending`` and ``running``."""
    return run_when(
        url, incident_id, "run settled", lambda r: r["status"] not in {"pending", "running"}
    )


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@dataclass(frozen=True)
class Custom:
    """The server on our own playbook directory and the incidents it opened at start."""

    medic: MedicProcess
    veto_pass: str
    consent_expire: str


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Custom]:
    """A server with ``playbooks.catalogues: []`` (no shipped catalogue) and ``playbooks.dirs``
    set to CONTRACT_PLAYBOOKS; the alerts whose approvals must time out are delivered at
    once."""
    root = tmp_path_factory.mktemp("medic-custom")
    catalogue = write_files(root / "playbooks", CONTRACT_PLAYBOOKS)
    with start_medic(
        root,
        api_token=API_TOKEN,
        bearer_token=None,
        MEDIC_PLAYBOOKS__DIRS=json.dumps([str(catalogue)]),
        MEDIC_PLAYBOOKS__CATALOGUES="[]",
    ) as server:
        veto = post_alerts(server, delivery(contract_alert("ContractVeto", case="pass")), None)
        consent = post_alerts(
            server, delivery(contract_alert("ContractConsent", case="expire")), None
        )
        yield Custom(server, veto["incident"]["id"], consent["incident"]["id"])


def test_no_catalogues_turns_the_shipped_playbooks_off(custom: Custom) -> None:
    """With ``playbooks.catalogues: []`` the shipped catalogues are gone (only
    ``playbooks.dirs`` is loaded): a sample the DWCP catalogue would handle opens an
    incident without playbooks or runs."""
    detail = post_alerts(custom.medic, variant("service-down", "nocatalogue"), None)
    assert detail["incident"]["playbooks"] == []
    assert detail["runs"] == []


def test_veto_window_passing_unrejected_approves_as_medic(custom: Custom) -> None:
    """A ``veto`` approval whose window passes unrejected ends ``approved`` with
    ``decided_by: "medic"``; the guarded write step then runs (a dry run); the run has the
    rendered ``target`` and the incident the playbook's ``severity``."""
    run = run_when(
        custom.medic.url, custom.veto_pass, "run succeeded", lambda r: r["status"] == "succeeded"
    )
    incident = detail_of(custom.medic.url, custom.veto_pass)["incident"]
    assert [(a["step"], a["mode"], a["status"], a["decided_by"]) for a in run["approvals"]] == [
        ("approve", "veto", "approved", "medic")
    ]
    assert run["approvals"][0]["decided_at"] is not None
    assert [(s["id"], s["status"], s["dry_run"]) for s in run["steps"]] == [
        ("approve", "succeeded", False),
        ("restart", "succeeded", True),
    ]
    assert run["target"] == "deployment/contract/pass"
    assert incident["severity"] == "sev2"


def test_veto_rejected_in_its_window_aborts_the_run(custom: Custom) -> None:
    """Rejecting a ``veto`` approval in its window: 200, ``rejected`` by that approver, the run
    ``aborted`` and the guarded step never runs; the decision is on the timeline under the
    approver's name."""
    incident_id = post_alerts(
        custom.medic, delivery(contract_alert("ContractVeto", case="reject")), None
    )["incident"]["id"]
    pending = pending_approval(custom.medic.url, incident_id)
    status, _ = post_json(
        f"{custom.medic.url}/api/approvals/{pending['id']}",
        {"decision": "reject", "user": "U2"},
        api_auth(),
    )
    run = run_when(custom.medic.url, incident_id, "run aborted", lambda r: r["status"] == "aborted")
    actors = {e["actor"] for e in detail_of(custom.medic.url, incident_id)["timeline"]}
    assert status == 200
    assert [(a["status"], a["decided_by"]) for a in run["approvals"]] == [("rejected", "U2")]
    assert "restart" not in steps_by_id(run)
    assert "U2" in actors


def test_consent_timing_out_expires_and_aborts(custom: Custom) -> None:
    """A ``consent`` approval nobody answers ends ``expired`` when its ``timeout`` passes
    (``on_timeout: reject``, the default), and the run is ``aborted`` without its write."""
    run = settled_run(custom.medic.url, custom.consent_expire)
    assert run["status"] == "aborted"
    assert [(a["mode"], a["status"]) for a in run["approvals"]] == [("consent", "expired")]
    assert "restart" not in steps_by_id(run)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_decision_on_an_expired_approval_is_409(custom: Custom, decision: str) -> None:
    """Once a consent has expired it is settled: a late decision by an approver is 409
    ``conflict`` and the approval stays ``expired``."""
    run = run_when(
        custom.medic.url,
        custom.consent_expire,
        "approval expired",
        lambda r: [a["status"] for a in r["approvals"]] == ["expired"],
    )
    approval_id = run["approvals"][0]["id"]
    answer = post_raw(
        f"{custom.medic.url}/api/approvals/{approval_id}",
        json.dumps({"decision": decision, "user": "U1"}).encode(),
        api_auth(),
    )
    assert is_error(answer, 409, "conflict"), answer
    assert approval(custom.medic.url, custom.consent_expire, approval_id)["status"] == "expired"


def test_when_unless_on_failure_continue_and_then_stop(custom: Custom) -> None:
    """``when`` false and ``unless`` true skip a step; an undefined template name fails only
    that step with a clear error, and ``on_failure: continue`` goes on; ``then: stop`` ends
    the run (``succeeded``) after its step, so later steps never run."""
    incident_id = post_alerts(
        custom.medic, delivery(contract_alert("ContractFlow", case="flow", job="api")), None
    )["incident"]["id"]
    run = settled_run(custom.medic.url, incident_id)
    steps = steps_by_id(run)
    assert run["status"] == "succeeded"
    assert [(i, s["status"]) for i, s in steps.items()] == [
        ("noted", "succeeded"),
        ("skipped_when", "skipped"),
        ("skipped_unless", "skipped"),
        ("broken", "failed"),
        ("query", "succeeded"),
        ("stop_here", "succeeded"),
    ]
    assert "no_such_label" in steps["broken"]["error"]


def test_on_failure_abort_fails_the_run(custom: Custom) -> None:
    """A failing step with the default ``on_failure: abort`` fails the run; later steps never
    run."""
    incident_id = post_alerts(
        custom.medic, delivery(contract_alert("ContractAbort", case="abort")), None
    )["incident"]["id"]
    run = settled_run(custom.medic.url, incident_id)
    assert run["status"] == "failed"
    assert [(s["id"], s["status"]) for s in run["steps"]] == [("broken", "failed")]
    assert steps_by_id(run)["broken"]["error"]


def test_promql_filter_quotes_label_values(custom: Custom) -> None:
    """The ``promql`` filter renders a label value as a quoted PromQL string literal, so a
    hostile value cannot change the query's shape."""
    hostile = 'a"}or vector(1)'
    incident_id = post_alerts(
        custom.medic, delivery(contract_alert("ContractFlow", case="promql", job=hostile)), None
    )["incident"]["id"]
    query = steps_by_id(settled_run(custom.medic.url, incident_id))["query"]
    assert [s for s in strings(query["output"]) if 'up{job="a\\"}or vector(1)"}' in s] != []


def test_regex_matchers_are_anchored_and_fallback_runs_only_alone(custom: Custom) -> None:
    """``alertname=~"ContractRegex|…"`` matches ContractRegex (and then the fallback does not
    run) but not ContractRegexLonger, which only the fallback takes."""
    exact = post_alerts(
        custom.medic,
        delivery(contract_alert("ContractRegex", case="exact", severity="page")),
        None,
    )
    longer = post_alerts(
        custom.medic,
        delivery(contract_alert("ContractRegexLonger", case="longer", severity="page")),
        None,
    )
    assert exact["incident"]["playbooks"] == ["contract-regex"]
    assert longer["incident"]["playbooks"] == ["contract-fallback"]


def test_highest_priority_playbook_fixes_the_incident_key(custom: Custom) -> None:
    """Both matching playbooks run, but the incident key is the ``group_by`` of the one with
    the higher ``priority``: same ``case`` joins, other ``case`` opens a new incident."""
    first, joins, apart = (
        contract_alert("ContractPriority", case="prio-x", other="1"),
        contract_alert("ContractPriority", case="prio-x", other="2"),
        contract_alert("ContractPriority", case="prio-y", other="1"),
    )
    ids = [
        post_alerts(custom.medic, delivery(alert), None)["incident"]["id"]
        for alert in (first, joins, apart)
    ]
    detail = detail_of(custom.medic.url, ids[0])
    assert ids[0] == ids[1] != ids[2]
    assert sorted(detail["incident"]["playbooks"]) == ["contract-high", "contract-low"]
    assert detail["incident"]["alert_count"] == 2


def test_cooldown_skips_a_later_run_on_the_same_target(custom: Custom) -> None:
    """After a run on a target, the same playbook on the same target within ``cooldown`` is
    ``skipped`` (even from another incident)."""
    first = post_alerts(
        custom.medic, delivery(contract_alert("ContractCooldown", case="cd-1", thing="t")), None
    )["incident"]["id"]
    done = settled_run(custom.medic.url, first)
    second = post_alerts(
        custom.medic, delivery(contract_alert("ContractCooldown", case="cd-2", thing="t")), None
    )["incident"]["id"]
    assert done["status"] == "succeeded"
    assert first != second
    assert settled_run(custom.medic.url, second)["status"] == "skipped"


def test_a_second_run_on_a_held_target_is_skipped(custom: Custom) -> None:
    """While a run holds a target (waiting for approval), a new run on that target from
    another incident is ``skipped``."""
    first = post_alerts(
        custom.medic, delivery(contract_alert("ContractLock", case="lk-1", thing="held")), None
    )["incident"]["id"]
    holder = settled_run(custom.medic.url, first)
    second = post_alerts(
        custom.medic, delivery(contract_alert("ContractLock", case="lk-2", thing="held")), None
    )["incident"]["id"]
    assert holder["status"] == "waiting_approval"
    assert settled_run(custom.medic.url, second)["status"] == "skipped"


def test_runs_arriving_together_still_get_one_run_per_target(custom: Custom) -> None:
    """Pairs of alerts for different incidents but the same target, delivered in one
    webhook: for each target exactly one run goes on and the other is ``skipped``."""
    pairs = [
        (
            contract_alert("ContractLock", case=f"pair-{n}-a", thing=f"pair-{n}"),
            contract_alert("ContractLock", case=f"pair-{n}-b", thing=f"pair-{n}"),
        )
        for n in range(4)
    ]
    post_alerts(custom.medic, delivery(*[a for pair in pairs for a in pair]), None)
    statuses = [
        sorted(
            settled_run(
                custom.medic.url,
                incident_with(custom.medic.url, a["fingerprint"])["incident"]["id"],
            )["status"]
            for a in pair
        )
        for pair in pairs
    ]
    assert statuses == [["skipped", "waiting_approval"]] * len(pairs)


# --- on_resolved: cancel_pending -----------------------------------------------------------------


def test_alert_resolving_mid_step_cancels_the_rest_of_the_run(spare: MedicProcess) -> None:
    """auto-rollback (``on_resolved: cancel_pending``): when its alert resolves while an
    evidence step is running, the run ends ``aborted`` (cancelled because the alert
    resolved), any approval is ``cancelled``, and no write step runs."""
    payload = variant("sla-availability-violation", "midstep")
    incident_id = post_alerts(spare, payload)["incident"]["id"]
    run_when(
        spare.url,
        incident_id,
        "an evidence step running",
        lambda r: any(s["status"] == "running" for s in r["steps"]),
    )
    post_alerts(spare, resolved(payload))
    run = run_when(
        spare.url,
        incident_id,
        "run past its evidence steps",
        lambda r: r["status"] not in {"pending", "running"},
    )
    assert detail_of(spare.url, incident_id)["incident"]["status"] == "resolved"
    assert run["status"] == "aborted"
    assert {a["status"] for a in run["approvals"]} <= {"cancelled"}
    assert [s["id"] for s in run["steps"] if s["action"] in WRITE_ACTIONS] == []


def test_alert_resolving_during_approval_cancels_the_run(medic: MedicProcess) -> None:
    """service-restart (default ``on_resolved: cancel_pending``): when its alert resolves
    while the consent approval is pending, the approval is ``cancelled`` and the run
    ``aborted``."""
    payload = variant("service-down", "resolve-during-approval")
    incident_id = post_alerts(medic, payload)["incident"]["id"]
    approval_id = pending_approval(medic.url, incident_id)["id"]
    post_alerts(medic, resolved(payload))
    run = run_when(medic.url, incident_id, "run aborted", lambda r: r["status"] == "aborted")
    assert approval(medic.url, incident_id, approval_id)["status"] == "cancelled"
    assert [s["id"] for s in run["steps"] if s["action"] in WRITE_ACTIONS] == []


# --- /healthz, /readyz, /metrics ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_are_200(medic: MedicProcess, path: str) -> None:
    """Liveness and readiness answer 200 while the store is usable."""
    assert request(f"{medic.url}{path}").status == 200


def test_metrics_are_prometheus_text_named_medic(medic: MedicProcess) -> None:
    """``/metrics`` is Prometheus exposition text whose every metric name starts ``medic_``,
    with the counters the README lists; a rejected delivery shows in
    ``medic_deliveries_rejected_total{reason="invalid_json"}``."""

    def rejected_invalid_json() -> float:
        return sum(
            sample_.value
            for family in text_string_to_metric_families(get_text(f"{medic.url}/metrics"))
            for sample_ in family.samples
            if sample_.name == "medic_deliveries_rejected_total"
            and sample_.labels.get("reason") == "invalid_json"
        )

    before = rejected_invalid_json()
    post_raw(f"{medic.url}/webhooks/alertmanager", b"{", am_auth())
    after = rejected_invalid_json()
    answer = request(f"{medic.url}/metrics")
    families = list(text_string_to_metric_families(answer.body.decode()))
    names = {s.name for f in families for s in f.samples}
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    assert families
    assert sorted(n for n in names if not n.startswith("medic_")) == []
    assert {
        "medic_alerts_received_total",
        "medic_alerts_duplicate_total",
        "medic_deliveries_rejected_total",
        "medic_ingest_latency_seconds_count",
        "medic_incidents_opened_total",
    } <= names
    assert after == before + 1


# --- CLI: medic check, medic simulate -----------------------------------------------------------

BAD_CONFIG = """\
server:
  port: notanumber
slack:
  enabld: true
  approvers: U1
safety:
  limits:
    kubernetes.rollback: {max: 3, per: soon}
"""
ALL_SAMPLES = [*SAMPLE_PLAYBOOK, UNMATCHED_SAMPLE]


@dataclass(frozen=True)
class CliResult:
    """One ``medic`` command: exit code, stdout and stderr together, files left in its cwd."""

    code: int
    output: str
    files: list[str]


@pytest.fixture(scope="module", autouse=True)
def cli_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The ``medic`` console script, started when the module starts (so it overlaps the
    server tests) in empty working directories, with no ``MEDIC_*`` from our environment:
    ``check`` on the embedded defaults, on a good playbook directory, on a bad file with a
    bad env override, and on a bad playbook directory; ``simulate`` on a shipped sample and
    on one webhook body holding every sample's alert."""
    inputs = tmp_path_factory.mktemp("cli-inputs")
    (inputs / "bad.yaml").write_text(BAD_CONFIG)
    everyone = sample("service-down")
    everyone["alerts"] = [sample(name)["alerts"][0] for name in ALL_SAMPLES]
    (inputs / "all-samples.json").write_text(json.dumps(everyone))
    good_playbooks = write_files(inputs / "good-playbooks", CONTRACT_PLAYBOOKS)
    bad_playbooks = write_files(inputs / "bad-playbooks", BAD_PLAYBOOKS)
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "check-defaults": (["check"], {}),
        "check-bad-config": (
            ["check", "--config", str(inputs / "bad.yaml")],
            {"MEDIC_STORE__URL": "mysql://nowhere/medic"},
        ),
        "check-bad-playbooks": (["check", str(bad_playbooks)], {}),
        "check-good-playbooks": (["check", str(good_playbooks)], {}),
        "simulate-sample": (["simulate", str(SAMPLES / "service-down.json")], {}),
        "simulate-all": (["simulate", str(inputs / "all-samples.json")], {}),
    }
    started = {}
    for name, (args, env) in commands.items():
        cwd = tmp_path_factory.mktemp(f"cli-{name}")
        proc = subprocess.Popen(
            [str(MEDIC_CLI), *args],
            cwd=cwd,
            env=medic_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = (proc, cwd)
    yield started
    for proc, _ in started.values():
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cli(cli_started: dict[str, Any]) -> dict[str, CliResult]:
    """What each ``medic`` command of ``cli_started`` did."""
    results = {}
    for name, (proc, cwd) in cli_started.items():
        out, err = proc.communicate(timeout=60)
        files = sorted(p.name for p in cwd.iterdir())
        results[name] = CliResult(proc.returncode, out + err, files)
    return results


@pytest.mark.parametrize("command", ["check-defaults", "check-good-playbooks"])
def test_check_passes_on_good_config_and_playbooks(cli: dict[str, CliResult], command: str) -> None:
    """``medic check`` exits 0 on the embedded defaults with the shipped catalogue, and on a
    directory of valid playbooks."""
    assert cli[command].code == 0, cli[command].output


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "check-bad-config",
            {
                ("bad.yaml", 2, "server.port"),
                ("bad.yaml", 4, "slack.enabld"),
                ("bad.yaml", 5, "slack.approvers"),
                ("bad.yaml", 8, "safety.limits.kubernetes.rollback.per"),
            },
        ),
        ("check-bad-config", {("<env>", 0, "store.url")}),
        (
            "check-bad-playbooks",
            {
                ("unknown-action.yaml", 7, "steps.0.uses"),
                ("bad-params.yaml", 8, "steps.0.with.replicas"),
                ("bad-regex.yaml", 3, "match.0"),
                ("bad-step-field.yaml", 9, "steps.0.on_failure"),
            },
        ),
    ],
)
def test_check_reports_bad_config_as_file_line_key_reason(
    cli: dict[str, CliResult], command: str, expected: set[tuple[str, int, str]]
) -> None:
    """``medic check`` on a bad configuration file, env override or playbook directory exits
    1 and reports every problem as ``file:line: key: reason``, one per line."""
    result = cli[command]
    lines = [line for line in result.output.splitlines() if line.strip()]
    matches = [CHECK_LINE.match(line) for line in lines]
    reported = {(Path(m["file"]).name, int(m["line"]), m["key"]) for m in matches if m}
    assert result.code == 1, result.output
    assert lines
    assert [line for line, m in zip(lines, matches, strict=True) if not m] == []
    assert expected <= reported


def test_simulate_a_shipped_sample(cli: dict[str, CliResult]) -> None:
    """``medic simulate`` on a shipped sample exits 0, names the alert, the playbook it
    matches and its step ids, and touches nothing (no store file appears)."""
    result = cli["simulate-sample"]
    assert result.code == 0, result.output
    assert fingerprint(sample("service-down")) in result.output
    assert "service-restart" in result.output
    assert [s for s in ("pod_status", "logs", "approve", "restart") if s not in result.output] == []
    assert result.files == []


def test_simulate_covers_every_sample_alert(cli: dict[str, CliResult]) -> None:
    """``medic simulate`` on one body holding every sample's alert (one matching nothing)
    exits 0, names each alert and each catalogue playbook the samples match, and touches
    nothing."""
    result = cli["simulate-all"]
    assert result.code == 0, result.output
    assert [n for n in ALL_SAMPLES if fingerprint(sample(n)) not in result.output] == []
    assert sorted({p for p in SAMPLE_PLAYBOOK.values() if p not in result.output}) == []
    assert result.files == []
