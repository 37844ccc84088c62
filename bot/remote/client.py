"""The API commands' work: one HTTP request each, the answer read into the server's own
models and printed for a human (or as JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.api.decisions import DecisionAnswer, PauseState
from bot.http.errors import ErrorBody
from bot.store.views import IncidentDetail, IncidentList

ModelT = TypeVar("ModelT", bound=BaseModel)
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 30.0
EXIT_OK = 0
EXIT_REFUSED = 1


class RemoteError(Exception):
    """Medic refused the request or could not be reached."""


def incidents(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("status", args.status), ("limit", args.limit)) if v is not None}
    path = "/api/incidents" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    return _run(args, lambda: _show_list(_call(args, "GET", path, IncidentList)))


def incident(args: argparse.Namespace) -> int:
    path = f"/api/incidents/{urllib.parse.quote(args.incident, safe='')}"
    return _run(args, lambda: _show_detail(_call(args, "GET", path, IncidentDetail)))


def decide(args: argparse.Namespace) -> int:
    body = {"decision": args.decision} | ({"user": args.user} if args.user else {})
    path = f"/api/approvals/{urllib.parse.quote(args.approval, safe='')}"

    def show() -> str:
        approval = _call(args, "POST", path, DecisionAnswer, body).approval
        return (
            f"{approval.id}: {approval.status.value} "
            f"({approval.approvals} of {approval.required} approvals)"
        )

    return _run(args, show)


def switch(args: argparse.Namespace) -> int:
    body: dict[str, str] = {"reason": " ".join(args.reason)} if args.reason else {}
    if args.user:
        body["user"] = args.user

    def show() -> str:
        state = _call(args, "POST", f"/api/{args.verb}", PauseState, body)
        return f"paused: {state.reason}" if state.paused else "running (not paused)"

    return _run(args, show)


def _run(args: argparse.Namespace, show: Any) -> int:
    try:
        text: str = show()
    except RemoteError as err:
        print(f"medic: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(args.raw if args.json else text)
    return EXIT_OK


def _call(
    args: argparse.Namespace, method: str, path: str, model: type[ModelT], body: Any = None
) -> ModelT:
    """One request; the answer read into ``model`` (kept as JSON text in ``args.raw``)."""
    base = (args.url or os.environ.get("MEDIC_URL") or DEFAULT_URL).rstrip("/")
    headers = {"Accept": "application/json"}
    token = _token(args.token_file)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310 -- the user's own --url
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 -- as above
            raw = response.read().decode()
    except urllib.error.HTTPError as err:
        raise RemoteError(_refusal(err)) from err
    except (urllib.error.URLError, OSError) as err:
        raise RemoteError(f"cannot reach {base}: {err}") from err
    args.raw = raw
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        raise RemoteError(f"{base}{path} answered something else than Medic's API: {err}") from err


def _refusal(err: urllib.error.HTTPError) -> str:
    text = err.read().decode(errors="replace")
    try:
        body = ErrorBody.model_validate_json(text)
    except ValidationError:
        return f"HTTP {err.code}: {text[:200]}"
    return f"{body.error.value}: {body.detail}"


def _token(token_file: Path | None) -> str | None:
    path = token_file or (
        Path(os.environ["MEDIC_TOKEN_FILE"]) if "MEDIC_TOKEN_FILE" in os.environ else None
    )
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as err:
            raise SystemExit(f"medic: cannot read the token file {path}: {err.strerror}") from err
    return os.environ.get("MEDIC_TOKEN") or None


def _age(then: datetime) -> str:
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _show_list(listing: IncidentList) -> str:
    if not listing.incidents:
        return "no incidents"
    rows = [("ID", "STATUS", "SEV", "AGE", "ALERTS", "PLAYBOOKS", "TITLE")]
    rows += [
        (i.id, i.status, i.severity, _age(i.created_at), str(i.alert_count),
         ",".join(i.playbooks) or "-", i.title)
        for i in listing.incidents
    ]  # fmt: skip
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]) - 1)]
    return "\n".join(  # every column padded to its width but the last (the title), then it
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _show_detail(detail: IncidentDetail) -> str:
    incident = detail.incident
    lines = [
        f"{incident.id}  {incident.title}",
        f"status {incident.status}, {incident.severity}, opened {_age(incident.created_at)} ago, "
        f"{incident.alert_count} alert(s)",
    ]
    for alert in detail.alerts:
        name = alert.labels.get("alertname", alert.fingerprint)
        lines.append(f"  alert {name} [{alert.status}] {alert.annotations.get('summary', '')}")
    for run in detail.runs:
        lines.append(f"  run {run.id} {run.playbook} [{run.status}] target {run.target or '-'}")
        for step in run.steps:
            dry = " (dry run)" if step.dry_run else ""
            error = f": {step.error}" if step.error else ""
            lines.append(f"    step {step.id} {step.action} [{step.status}]{dry}{error}")
        for approval in run.approvals:
            by = f" by {approval.decided_by}" if approval.decided_by else ""
            lines.append(f"    approval {approval.id} ({approval.mode}) [{approval.status}]{by}")
    lines.append("timeline:")
    lines += [f"  {t.at:%Y-%m-%d %H:%M:%S} {t.actor}: {t.text}" for t in detail.timeline]
    return "\n".join(lines)
