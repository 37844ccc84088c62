"""An integration: one folder's config model, client lifecycle, actions, routes and hooks.

Packages name their ``Integration`` object in the entry-point group ``medic.integrations``;
Medic builds its action registry and opens the clients from the installed ones.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from pydantic import BaseModel

from bot.actions.cluster import ClusterView
from bot.actions.contract import ActionFunction, ActionSpec
from bot.actions.hooks import InboundMapper, IncidentDesk, IncidentHook, Pager, ServicesFactory
from bot.actions.registry import spec_of
from bot.config import Settings
from bot.http.endpoint import Auth, Content

ENTRY_POINT_GROUP = "medic.integrations"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ClientSetup:
    """What an integration's client factory gets: its own config section and Medic's shared
    pieces. ``tuning`` holds knobs an embedding program (a test) may set, by name."""

    config: BaseModel
    settings: Settings
    http: aiohttp.ClientSession
    tls: ssl.SSLContext | None = None
    tuning: Mapping[str, float] = field(default_factory=dict)
    desk: IncidentDesk | None = None

    def config_as(self, model: type[M]) -> M:
        """The section, typed as the integration's config ``model``."""
        if not isinstance(self.config, model):
            raise TypeError(f"expected a {model.__name__} section, got {type(self.config)}")
        return self.config


ClientFactory = Callable[[ClientSetup], AbstractAsyncContextManager[object]]
"""Opens the integration's shared client (``ctx.clients[name]``) and closes it on exit."""


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTP route the integration serves (e.g. its inbound webhook), and how /openapi.json
    describes it. Its handler reaches Medic through ``inbox_of(request)``; every
    ``HttpError`` it raises is counted as a rejected delivery of the integration."""

    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str = ""
    tag: str = ""
    answer: Content = field(
        default_factory=lambda: Content(description="as the integration answers")
    )
    status: int = 200
    request: Content | None = None
    errors: tuple[int, ...] = ()
    auth: Auth = Auth.NONE
    headers: Mapping[str, str] = field(default_factory=dict)


def _enabled_switch(config: BaseModel | None) -> bool:
    """An integration is on unless its config has an ``enabled`` switch that is off."""
    return bool(getattr(config, "enabled", True))


@dataclass(frozen=True, slots=True)
class Integration:
    """One integration, as a package declares it.

    ``config`` is the model of the top-level config section named ``name`` (unknown keys are
    errors); ``actions`` are ``@action`` functions; ``client`` opens the shared client while
    the integration is enabled; ``enabled`` says, from the section, whether its actions
    really run (else they are recorded as dry runs); ``routes`` are served by Medic's HTTP
    server; ``cluster_view`` turns its open client into the node counts the engine's
    ``safety.max_cordoned_fraction`` guard reads (for an integration that manages nodes).

    Hooks: ``inbound`` maps the events its routes journaled onto incidents (in the intake
    transaction); while it is enabled, ``on_resolved`` and
    ``on_acknowledged`` follow an incident resolved (not by the integration itself) or
    acknowledged in Medic; ``pager`` pages a human when a playbook escalates; ``services``
    are started with Medic and stopped before it stops. ``title`` is how texts name it.
    """

    name: str
    config: type[BaseModel] | None = None
    actions: Sequence[ActionFunction] = ()
    client: ClientFactory | None = None
    enabled: Callable[[Any], bool] = _enabled_switch
    routes: Sequence[Route] = ()
    cluster_view: Callable[[Any], ClusterView | None] | None = None
    title: str = ""
    inbound: InboundMapper | None = None
    on_resolved: IncidentHook | None = None
    on_acknowledged: IncidentHook | None = None
    pager: Pager | None = None
    services: ServicesFactory | None = None

    @property
    def display_name(self) -> str:
        """Its title, else its name."""
        return self.title or self.name

    def specs(self) -> list[ActionSpec]:
        """The declared contract of each of its actions."""
        return [spec_of(fn) for fn in self.actions]

    def section(self, settings: Settings) -> BaseModel | None:
        """This integration's validated config section (its defaults when absent)."""
        found = settings.section(self.name)
        if found is None and self.config is not None:
            return self.config()
        return found

    def is_enabled(self, settings: Settings) -> bool:
        """True when its actions really run under ``settings``."""
        return self.enabled(self.section(settings))
