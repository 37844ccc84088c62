"""The shape of a signed Slack request body, checked before bolt reads it.

Bolt trusts a body's shape: it builds its context from ``user``, ``team``, ``channel``,
``enterprise``, ``authorizations`` and the ``event`` / ``message`` inside, and routes a
click by ``actions[0]["action_id"]``, failing (a 500, some with an empty body) on a body
that is not an object or whose fields are not what Slack sends. Medic checks those fields
against Slack's own shapes first: anything else is a 400 ``invalid_payload``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from slack_bolt.request.internals import parse_body

from bot.http.body import problems
from bot.http.errors import ErrorCode, HttpError

BLOCK_ACTIONS = "block_actions"


class _Ref(BaseModel):
    """A user, team, channel or enterprise given as an object: ``{"id": …, …}``."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None


Ref = str | _Ref | None


class _Action(BaseModel):
    """One element of ``actions``: an object (a block action's names its ``action_id``)."""

    model_config = ConfigDict(extra="allow")

    action_id: str | None = None


class _Context(BaseModel):
    """The fields bolt reads to build its context, at the top of a body and, recursively,
    inside its ``event``, ``message``, ``previous_message``, ``item`` and
    ``assistant_thread`` objects. Every other field passes through untouched."""

    model_config = ConfigDict(extra="allow")

    type: str | None = None
    user: Ref = None
    team: Ref = None
    channel: Ref = None
    enterprise: Ref = None
    user_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    enterprise_id: str | None = None
    thread_ts: str | None = None
    authorizations: list[_Context] | None = None
    event: _Context | None = None
    message: _Context | None = None
    previous_message: _Context | None = None
    item: _Context | None = None
    assistant_thread: _Context | None = None
    view: dict[str, Any] | None = None
    function_data: dict[str, Any] | None = None
    response_url: str | None = None
    response_urls: list[dict[str, Any]] | None = None


class SlackEnvelope(_Context):
    """A whole body as bolt parses it: an object; a ``block_actions`` one has a list of
    actions, each naming its ``action_id``."""

    actions: list[_Action] | None = Field(default=None)

    @model_validator(mode="after")
    def _block_actions_name_their_action(self) -> SlackEnvelope:
        if self.type != BLOCK_ACTIONS or self.actions is None:
            return self
        if not self.actions:
            raise ValueError("actions: a block_actions payload has at least one action")
        for index, action in enumerate(self.actions):
            if action.action_id is None:
                raise ValueError(f"actions.{index}: a block action names its action_id")
        return self


def check_envelope(text: str, content_type: str | None) -> None:
    """400 ``invalid_payload`` unless ``text`` (a signed body) parses, the way bolt parses
    it, into the object Slack sends."""
    try:
        body = parse_body(text, content_type)
    except (ValueError, RecursionError) as err:  # bolt parses JSON and forms
        raise HttpError(ErrorCode.INVALID_PAYLOAD, f"not a Slack payload: {err}") from err
    if not isinstance(body, dict):
        raise HttpError(
            ErrorCode.INVALID_PAYLOAD, f"not a Slack payload: a JSON {_kind(body)}, not an object"
        )
    try:
        SlackEnvelope.model_validate(body)
    except ValidationError as err:
        raise HttpError(ErrorCode.INVALID_PAYLOAD, f"not a Slack payload: {problems(err)}") from err


def _kind(value: Any) -> str:
    """The JSON name of ``value``'s type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "array"
