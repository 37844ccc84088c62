"""medic-echo: ``echo.say`` says a text with the configured greeting (a notify action)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel, ConfigDict, Field

from bot.plugins import (
    ActionKind,
    ActionOutput,
    ActionParams,
    ClientSetup,
    Integration,
    PermanentError,
    StepContext,
    StepResult,
    action,
)


class EchoConfig(BaseModel):
    """The top-level ``echo:`` section of medic.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    greeting: str = Field(default="hello", min_length=1)


class EchoClient:
    """The shared client: holds the greeting; counts how many are open (for the tests)."""

    open_clients = 0

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.said: list[str] = []
        EchoClient.open_clients += 1

    def say(self, text: str) -> str:
        """The greeting and the text, remembered."""
        line = f"{self.greeting}, {text}"
        self.said.append(line)
        return line

    def close(self) -> None:
        """Forget this client."""
        EchoClient.open_clients -= 1


@asynccontextmanager
async def open_client(setup: ClientSetup) -> AsyncIterator[EchoClient]:
    """One client per Medic process, closed at shutdown."""
    client = EchoClient(setup.config_as(EchoConfig).greeting)
    try:
        yield client
    finally:
        client.close()


class SayParams(ActionParams):
    """``with:`` of ``echo.say``."""

    text: str = Field(min_length=1)


class SayOutput(ActionOutput):
    """``steps.<id>.output`` of ``echo.say``: every field has a default (a dry run holds
    the defaults, plus ``would`` and ``params``)."""

    said: str = ""


def describe_say(params: SayParams) -> str:
    """Dry-run sentence (while ``echo.enabled`` is false)."""
    return f"would say {params.text!r}"


@action(
    "echo.say",
    kind=ActionKind.NOTIFY,
    integration="echo",
    describe=describe_say,
    output=SayOutput,
)
async def say(ctx: StepContext, params: SayParams) -> StepResult:
    """Say ``text`` with the configured greeting."""
    client = ctx.clients.get("echo")
    if not isinstance(client, EchoClient):
        raise PermanentError("the echo client is not open")
    said = client.say(params.text)
    return StepResult(output=SayOutput(said=said).model_dump(), summary=f"said {said!r}")


integration = Integration(name="echo", config=EchoConfig, actions=[say], client=open_client)
