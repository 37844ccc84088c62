"""The enabled integrations' hooks, called by the engine after incident changes commit."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from bot.actions.hooks import HookContext, InboundMapper, Service
from bot.actions.integration import Integration
from bot.engine.runs.background import BackgroundTasks
from bot.errors import MedicError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """What an escalation's page came to: ``paged``, and by which pager (its title), or
    ``None`` when no pager is enabled."""

    paged: bool
    pager: str | None


class IntegrationHooks:
    """The hooks of the enabled integrations, each with its :class:`HookContext`."""

    def __init__(
        self,
        integrations: Sequence[Integration],
        contexts: Mapping[str, HookContext],
        background: BackgroundTasks,
    ) -> None:
        self._integrations = list(integrations)
        self._contexts = dict(contexts)
        self._background = background

    @classmethod
    def none(cls) -> IntegrationHooks:
        """No integration hooks (an engine assembled without integrations)."""
        return cls([], {}, BackgroundTasks())

    def _enabled(self) -> list[tuple[Integration, HookContext]]:
        return [(i, self._contexts[i.name]) for i in self._integrations if i.name in self._contexts]

    def mappers(self) -> dict[str, InboundMapper]:
        """The ``inbound`` hook of every installed integration, by the source it journals
        under (its name); called whether or not it is enabled, as its route journaled."""
        return {i.name: i.inbound for i in self._integrations if i.inbound is not None}

    def services(self) -> list[Service]:
        """The background services of the enabled integrations (not started)."""
        return [
            service
            for integration, context in self._enabled()
            if integration.services is not None
            for service in integration.services(context)
        ]

    def resolved(self, resolutions: Sequence[tuple[int, str]]) -> None:
        """Incidents resolved (number, actor): each enabled integration's ``on_resolved``
        hook runs in the background, except for what the integration itself resolved."""
        for integration, context in self._enabled():
            hook = integration.on_resolved
            if hook is None:
                continue
            for seq, actor in resolutions:
                if actor != integration.name:  # never echo a system's own resolution back
                    self._spawn(hook(context, seq, actor), f"{integration.name}-resolved-{seq}")

    def acknowledged(self, seq: int, actor: str) -> None:
        """A human acknowledged incident ``seq`` in Medic: ``on_acknowledged`` hooks run in
        the background."""
        for integration, context in self._enabled():
            if integration.on_acknowledged is not None:
                coro = integration.on_acknowledged(context, seq, actor)
                self._spawn(coro, f"{integration.name}-acknowledged-{seq}")

    async def page(self, seq: int, reason: str) -> PageOutcome:
        """Page through the first enabled integration that pages (``pager``)."""
        for integration, context in self._enabled():
            if integration.pager is not None:
                paged = await integration.pager(context, seq, reason)
                return PageOutcome(paged=paged, pager=integration.display_name)
        return PageOutcome(paged=False, pager=None)

    def pager_names(self) -> list[str]:
        """The titles of the installed integrations that can page."""
        return [i.display_name for i in self._integrations if i.pager is not None]

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._background.spawn(_logged(coro, name), name=name)


async def _logged(coro: Awaitable[None], name: str) -> None:
    """Run a hook; a failure is logged, never raised into the background set."""
    try:
        await coro
    except MedicError as err:
        log.warning("integration.hook_failed", hook=name, error=str(err) or type(err).__name__)
    except Exception:
        log.exception("integration.hook_crashed", hook=name)
