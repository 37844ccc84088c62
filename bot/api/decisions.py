"""Human decisions over HTTP: approvals, pause/resume, manual runs.

The same services back Slack's buttons and commands; these endpoints serve CLIs, tests
and other chat tools. Who decides comes from the token (:mod:`bot.http.identity`): a
personal token from ``server.api_users`` is its user, the bridge token ``server.api_token``
names the user in the body. With neither configured the endpoints do not exist (404).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.engine.approvals.hub import Decision
from bot.errors import DecisionRefused, StoreError
from bot.http.body import read_body, validate_json
from bot.http.errors import ErrorCode, HttpError
from bot.http.identity import authenticate, identify
from bot.models import ApprovalStatus, Identity, parse_incident_id
from bot.runtime import RUNTIME, Runtime

_REFUSALS = {
    "invalid": ErrorCode.INVALID_PAYLOAD,
    "not_found": ErrorCode.NOT_FOUND,
    "forbidden": ErrorCode.FORBIDDEN,
    "conflict": ErrorCode.CONFLICT,
}


class ApprovalState(BaseModel):
    """An approval after a decision."""

    id: str
    status: ApprovalStatus
    decided_by: str | None
    approvals: int = Field(description="approving decisions so far")
    required: int = Field(description="approving decisions it needs (2 with four eyes)")


class DecisionAnswer(BaseModel):
    """The answer to ``POST /api/approvals/{id}``."""

    approval: ApprovalState


class PauseState(BaseModel):
    """The global pause switch after ``POST /api/pause`` or ``/api/resume``."""

    paused: bool
    reason: str = Field(description="who paused and why; empty when running")


class RunStarted(BaseModel):
    """The answer to ``POST /api/incidents/{id}/runs``."""

    run: str = Field(description="the new run's id, RUN-<n>")


class DecisionBody(BaseModel):
    """``POST /api/approvals/{id}``."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    user: str | None = Field(default=None, min_length=1, max_length=128)


class SwitchBody(BaseModel):
    """``POST /api/pause`` and ``/api/resume``."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str = Field(default="", max_length=500)


class RunBody(BaseModel):
    """``POST /api/incidents/{id}/runs``."""

    model_config = ConfigDict(extra="forbid")

    playbook: str = Field(min_length=1)
    user: str | None = Field(default=None, min_length=1, max_length=128)
    params: dict[str, str] = Field(default_factory=dict)


async def _authorized_body(request: web.Request, model: type[Any]) -> tuple[Runtime, Identity, Any]:
    """The runtime, who is acting (from the token, checked against the body's ``user``) and
    the validated body: parsed and checked as the webhooks' are (:func:`validate_json`:
    strict types, bounded nesting and numbers, only storable text), 400 otherwise."""
    runtime = request.app[RUNTIME]
    server = runtime.settings.server
    credential = authenticate(request, server)
    body = validate_json(model, await read_body(request, server.max_body_bytes))
    return runtime, identify(credential, body.user), body


def _json(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=body.model_dump_json(), status=status)


def _refused(err: DecisionRefused) -> HttpError:
    return HttpError(_REFUSALS.get(err.code, ErrorCode.CONFLICT), err.detail)


async def decide_approval(request: web.Request) -> web.Response:
    """Approve or reject; the same rules as a Slack click."""
    runtime, who, body = await _authorized_body(request, DecisionBody)
    try:
        outcome = await runtime.approvals.decide(
            request.match_info["approval_id"], who, Decision(body.decision)
        )
    except DecisionRefused as err:
        raise _refused(err) from err
    except StoreError as err:
        raise HttpError(ErrorCode.UNAVAILABLE, "the store could not commit the decision") from err
    state = ApprovalState(
        id=outcome.approval_id,
        status=outcome.status,
        decided_by=outcome.decided_by,
        approvals=outcome.approvals,
        required=outcome.required,
    )
    return _json(DecisionAnswer(approval=state))


def _admin(runtime: Runtime, user: str) -> None:
    if user not in runtime.settings.slack.admins:
        raise HttpError(ErrorCode.FORBIDDEN, f"{user} is not in slack.admins")


async def pause(request: web.Request) -> web.Response:
    """Turn the global pause on: no automatic write step starts anywhere."""
    runtime, who, body = await _authorized_body(request, SwitchBody)
    _admin(runtime, who.user)
    await runtime.pause.pause(who, body.reason or "no reason given")
    return _json(PauseState(paused=True, reason=runtime.pause.reason))


async def resume(request: web.Request) -> web.Response:
    """Turn the global pause off (refused while ``safety.paused`` is configured)."""
    runtime, who, _body = await _authorized_body(request, SwitchBody)
    _admin(runtime, who.user)
    try:
        await runtime.pause.resume(who)
    except DecisionRefused as err:
        raise _refused(err) from err
    return _json(PauseState(paused=runtime.pause.paused, reason=runtime.pause.reason))


async def start_run(request: web.Request) -> web.Response:
    """A human starts a playbook on an incident (what ``/incident run`` does)."""
    runtime, who, body = await _authorized_body(request, RunBody)
    seq = parse_incident_id(request.match_info["incident_id"])
    if seq is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no incident {request.match_info['incident_id']!r}")
    # The same people as ``/incident run``: admins, approvers, members of approver groups.
    admin = who.user in runtime.settings.slack.admins
    if not admin and not await runtime.approvals.authorized(who.user):
        raise HttpError(ErrorCode.FORBIDDEN, f"{who.user} may not start runs")
    playbook = runtime.playbooks.get(body.playbook)
    if playbook is None:
        raise HttpError(ErrorCode.NOT_FOUND, f"no playbook {body.playbook!r}")
    await runtime.caught_up()
    try:
        run_seq = await runtime.runs.start_manual(seq, playbook, who, body.params)
    except DecisionRefused as err:
        raise _refused(err) from err
    return _json(RunStarted(run=f"RUN-{run_seq}"), status=201)
