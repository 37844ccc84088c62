"""GET /openapi.json (OpenAPI 3.1, generated from the handlers' models) and GET /docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.http import post_json
from harness.medic import MedicProcess
from harness.prometheus import PrometheusServer
from medickit import API_TOKEN, StartMedic, make_settings
from payloads import am_alert, am_payload, sample

SCHEMATHESIS = Path(sys.executable).with_name("st")
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")
RUN_OPTIONS = ("--max-examples=10", "--seed=1", "--workers=1", "--no-color", "--max-redirects=0")
RUN_OPTIONS += ("--generation-database=none", "--phases=examples,coverage,fuzzing")
RUN_OPTIONS += ("--suppress-health-check=filter_too_much,too_slow",)
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


async def test_every_route_is_described(start_medic: StartMedic, sqlite_url: str) -> None:
    """Every route the server answers is in /openapi.json with the same method, and every
    described operation has a success (or redirect) answer and a documented error shape."""
    client = await start_medic(make_settings(sqlite_url))
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routed == described
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            codes = [int(code) for code in op["responses"]]
            assert any(200 <= code < 400 for code in codes), (method, path)
            for code in (c for c in codes if c >= 400):
                assert op["responses"][str(code)]["content"]["application/json"]["schema"] == (
                    error_ref
                )


async def test_shapes_keep_the_contract_field_names(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """The list, detail and error schemas carry the documented field names and error codes."""
    client = await start_medic(make_settings(sqlite_url))
    schemas = (await (await client.get("/openapi.json")).json())["components"]["schemas"]
    assert set(schemas["IncidentSummary"]["properties"]) >= {
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
    assert set(schemas["IncidentDetail"]["properties"]) == {
        "incident",
        "alerts",
        "runs",
        "timeline",
    }
    assert set(schemas["StepView"]["properties"]) >= {
        "id",
        "action",
        "status",
        "dry_run",
        "output",
        "error",
        "started_at",
        "finished_at",
    }
    assert set(schemas["ApprovalView"]["properties"]) >= {
        "id",
        "step",
        "mode",
        "status",
        "decided_by",
        "decided_at",
        "expires_at",
    }
    assert set(schemas["ErrorBody"]["properties"]) == {"error", "detail"}
    assert set(schemas["ErrorCode"]["enum"]) >= {
        "invalid_json",
        "invalid_payload",
        "unauthorized",
        "forbidden",
        "too_large",
        "not_found",
        "conflict",
        "unavailable",
    }


async def test_docs_page_loads_nothing_from_elsewhere(
    start_medic: StartMedic, sqlite_url: str
) -> None:
    """/docs is HTML that reads /openapi.json from this server and names no other host."""
    client = await start_medic(make_settings(sqlite_url))
    response = await client.get("/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert 'fetch("/openapi.json")' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error_or_schema_break(tmp_path: Path) -> None:
    """schemathesis, driven by /openapi.json against a real `medic serve` (with a real
    Prometheus for the evidence graph, INC-1 with a graphable alert and INC-2 with runs and
    an approval), gets no 5xx and no answer outside the described statuses, media types and
    schemas."""
    graphable = am_alert("fp-up", alertname="TargetDown")
    graphable["generatorURL"] = "http://prometheus.example/graph?g0.expr=up&g0.tab=1"
    with PrometheusServer().start(tmp_path / "prometheus") as prometheus:
        env = {
            "MEDIC_SERVER__API_TOKEN": API_TOKEN,
            "MEDIC_SLACK__APPROVERS": '["U1"]',
            "MEDIC_SLACK__ADMINS": '["U1"]',
            "MEDIC_PROMETHEUS__URL": prometheus.url,
        }
        store = f"sqlite:///{tmp_path / 'medic.db'}"
        medic = MedicProcess(tmp_path, store_url=store, bearer_token=None, extra_env=env)
        with medic.start():
            _run_schemathesis(medic.url, am_payload(graphable), tmp_path)


def _run_schemathesis(url: str, graphable: dict[str, object], tmp_path: Path) -> None:
    for body in (graphable, sample("sla-availability-violation")):
        status, _ = post_json(f"{url}/webhooks/alertmanager", body)
        assert status == 200
        run = subprocess.run(
            [
                *(str(SCHEMATHESIS), "--config-file", str(SCHEMATHESIS_CONFIG), "run"),
                *(f"{url}/openapi.json", "--checks", CHECKS, *RUN_OPTIONS),
                *("--header", f"Authorization: Bearer {API_TOKEN}"),
            ],
            cwd=tmp_path,  # schemathesis keeps its state in ./.schemathesis
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
