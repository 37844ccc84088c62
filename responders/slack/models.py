"""Params models of the ``slack.*`` actions."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from bot.actions.contract import ActionOutput, ActionParams
from responders.common import NonEmptyStr, is_template
from responders.slack.const import CHANNEL, SECURITY_CHANNEL


def _check_channel(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if value == SECURITY_CHANNEL or is_template(value) or CHANNEL.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is not a channel: use {SECURITY_CHANNEL!r} (slack.security_channel), "
        "a channel id such as C0123ABCD, or #name; leave it out for the incident channel"
    )


Channel = Annotated[str, AfterValidator(_check_channel)]


class NotifyParams(ActionParams):
    """``slack.notify``: post ``text`` to the incident channel (``channel`` None), to
    ``security`` (``slack.security_channel``), or to a channel id or ``#name``."""

    text: NonEmptyStr
    channel: Channel | None = None


class NotifyOutput(ActionOutput):
    """``slack.notify``: where the message went (None in a dry run) and its text."""

    channel: str | None = None
    ts: str | None = None
    text: str = ""
