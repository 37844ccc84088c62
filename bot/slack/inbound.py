"""``POST /slack/events``: slack-bolt's AsyncApp mounted in Medic's own aiohttp server.

Bolt verifies the signature and the 5-minute window (401 otherwise, before anything runs).
A middleware drops deliveries already taken (Slack retries carry ``X-Slack-Retry-Num``; a
replayed click carries the same ``trigger_id``), so none has a second effect. Listeners are
small: commit the decision or command through the engine's services, then ``ack()`` with the
reply; slower work (ephemeral notes, message edits, channel creation) follows the ack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.approvals.hub import Decision
from bot.errors import ConfigError, DecisionRefused, MedicError, StoreError
from bot.http.body import problems, read_body
from bot.http.errors import ErrorCode, HttpError
from bot.http.text import StorableText
from bot.models import Identity, Via
from bot.runtime import RUNTIME
from bot.slack.commands import Reply, dispatch
from bot.slack.context import SlackContext
from bot.slack.envelope import check_envelope
from bot.slack.render import APPROVE_ACTION, REJECT_ACTION
from bot.slack.signature import MAX_BODY_BYTES, check_signature_headers, signature_matches
from bot.store import slack as slack_store
from bot.store.inbound_events import remember_delivery

log = structlog.get_logger(__name__)

SOURCE = "slack"
_STORE_DOWN = "Medic could not record that (its store is unavailable); nothing changed, try again"


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


MAX_COMMAND_TEXT = 4_000
"""The most characters of ``/incident`` text Medic reads (Slack's commands are one line
of a message box): longer text is refused at once, before it is split into words."""


class SlashCommand(_Loose):
    """The form fields of a slash command that Medic uses; text any store can keep."""

    command: str
    text: StorableText = Field(default="", max_length=MAX_COMMAND_TEXT)
    user_id: StorableText = Field(min_length=1)
    channel_id: StorableText = ""


class _Id(_Loose):
    id: StorableText = Field(min_length=1)


class _Action(_Loose):
    action_id: str
    value: StorableText = ""


class ButtonClick(_Loose):
    """A ``block_actions`` payload with one of Medic's buttons."""

    user: _Id
    channel: _Id | None = None
    actions: list[_Action] = Field(min_length=1)
    response_url: str | None = None


@dataclass(frozen=True, slots=True)
class SlackSurface:
    """The bolt app that answers ``POST /slack/events``."""

    bolt: AsyncApp


SLACK = web.AppKey("slack", SlackSurface)


async def slack_events(request: web.Request) -> web.StreamResponse:
    """Check the signature headers, read the body, check its signature, hand it to bolt and
    bolt's answer back to aiohttp."""
    surface = request.app.get(SLACK)
    if surface is None:
        raise HttpError(ErrorCode.NOT_FOUND, "Slack is not enabled (slack.enabled is false)")
    check_signature_headers(request.headers, time.time())
    settings = request.app[RUNTIME].settings
    raw = await read_body(request, min(MAX_BODY_BYTES, settings.server.max_body_bytes))
    secret = settings.slack.signing_secret
    if secret is None or not signature_matches(request.headers, raw, secret.get_secret_value()):
        raise HttpError(ErrorCode.UNAUTHORIZED, "bad X-Slack-Signature")
    text = _utf8(raw)
    check_envelope(text, _content_type(request))  # bolt fails on bodies of other shapes
    bolt_request = AsyncBoltRequest(
        body=text,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]  # bolt reads it as a mapping
    )
    answer = await surface.bolt.async_dispatch(bolt_request)
    if answer.status == 401:
        raise HttpError(ErrorCode.UNAUTHORIZED, "bad or stale X-Slack-Signature")
    if answer.status == 404:  # bolt has no listener for it
        raise HttpError(ErrorCode.NOT_FOUND, "a Slack request Medic does not handle")
    return await to_aiohttp_response(answer)


def _utf8(raw: bytes) -> str:
    """The body as text; 400 when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HttpError(ErrorCode.INVALID_PAYLOAD, f"body is not UTF-8: {err.reason}") from err


def _content_type(request: web.Request) -> str | None:
    """The media type as bolt reads it (the header up to any ``;``), None without one."""
    header = request.headers.get("Content-Type")
    return header.split(";")[0] if header else None


def build_bolt(ctx: SlackContext) -> AsyncApp:
    """The bolt app with Medic's middleware and listeners."""
    slack = ctx.settings.slack
    if slack.bot_token is None or slack.signing_secret is None:
        raise ConfigError(["slack: enabled needs bot_token and signing_secret"])
    token = slack.bot_token.get_secret_value()

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

    app = AsyncApp(
        signing_secret=slack.signing_secret.get_secret_value(),
        client=AsyncWebClient(base_url=slack.api_url),
        authorize=authorize,
        name="medic",
        logger=logging.getLogger("medic.slack.bolt"),
        # Each listener commits its decision, then acks: bolt answers with that ack however
        # long the commit took (a store under load can take more than bolt's 3 s wait, after
        # which it answered 404 "unhandled" for a click it had in fact counted).
        process_before_response=True,
    )
    app.middleware(_once(ctx))
    app.command("/incident")(_incident_command(ctx))
    app.action(APPROVE_ACTION)(_click(ctx, Decision.APPROVE))
    app.action(REJECT_ACTION)(_click(ctx, Decision.REJECT))
    return app


Next = Callable[[], Awaitable[BoltResponse]]


def _once(ctx: SlackContext) -> Callable[..., Awaitable[BoltResponse]]:
    async def once(req: AsyncBoltRequest, resp: BoltResponse, next: Next) -> BoltResponse:
        key = _delivery_key(req.body)
        if key is not None:
            try:
                async with ctx.db.begin() as conn:
                    fresh = await remember_delivery(conn, SOURCE, key, datetime.now(UTC))
            except StoreError:
                return BoltResponse(status=503, body=_STORE_DOWN)
            if not fresh:
                retry = req.headers.get("x-slack-retry-num", ["0"])[0]
                log.info("slack.duplicate_delivery", key=key, retry=retry)
                return BoltResponse(status=200, body="")
        return await next()

    return once


def _delivery_key(body: dict[str, Any]) -> str | None:
    for field in ("trigger_id", "event_id"):
        value = body.get(field)
        if isinstance(value, str) and value:
            return f"{field}:{value}"
    return None


def _incident_command(ctx: SlackContext) -> Callable[..., Awaitable[None]]:
    async def incident_command(ack: Any, command: dict[str, Any]) -> None:
        try:
            call = SlashCommand.model_validate(command)
        except ValidationError as err:
            text = f"Medic could not read that command ({problems(err)}); nothing changed."
            await ack(text=text, response_type="ephemeral")
            return
        try:
            reply = await dispatch(ctx, call.text, call.user_id, call.channel_id)
        except StoreError:
            reply = Reply(_STORE_DOWN)
        await ack(text=reply.text, response_type="in_channel" if reply.public else "ephemeral")
        if reply.poke is not None:
            ctx.sync.poke(reply.poke)

    return incident_command


def _click(ctx: SlackContext, decision: Decision) -> Callable[..., Awaitable[None]]:
    async def click(ack: Any, body: dict[str, Any]) -> None:
        try:
            payload = ButtonClick.model_validate(body)
        except ValidationError:
            await ack()
            return
        user, approval_id = payload.user.id, payload.actions[0].value
        channel = payload.channel.id if payload.channel is not None else None
        refusal: str | None = None
        try:
            await ctx.approvals.decide(approval_id, Identity(user, Via.SLACK), decision)
        except DecisionRefused as err:
            refusal = f":no_entry: Not counted: {err.detail}"
        except StoreError:
            refusal = _STORE_DOWN
        await ack()
        if refusal is not None:
            await _tell(ctx, payload, refusal)
        if channel is not None:
            await _poke_channel(ctx, channel)

    return click


async def _tell(ctx: SlackContext, click: ButtonClick, text: str) -> None:
    """Tell the clicker alone: through the interaction's response_url, else ephemerally."""
    try:
        if click.response_url:
            await ctx.client.respond(click.response_url, text)
        elif click.channel is not None:
            await ctx.client.ephemeral(click.channel.id, click.user.id, text)
    except MedicError as err:
        log.warning("slack.reply_failed", user=click.user.id, error=str(err))


async def _poke_channel(ctx: SlackContext, channel: str) -> None:
    try:
        async with ctx.db.connect() as conn:
            seq = await slack_store.incident_in_channel(conn, channel)
    except StoreError:
        return
    if seq is not None:
        ctx.sync.poke(seq)
