"""Everything the run engine works with, built once per process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from bot.actions import ActionRegistry
from bot.actions.cluster import ClusterView
from bot.clock import Clock
from bot.config import Settings
from bot.engine.approvals.hub import ApprovalHub
from bot.engine.integrations.hooks import IntegrationHooks
from bot.engine.runs.background import BackgroundTasks, InFlight, RunEnds
from bot.engine.runs.slots import RunSlots
from bot.engine.safety.pause import PauseSwitch
from bot.metrics import Metrics
from bot.narrator import NarrationDispatcher
from bot.playbooks.playbook import PlaybookSet
from bot.store import Database


@dataclass(frozen=True, slots=True)
class EngineDeps:
    """The engine's collaborators."""

    db: Database
    settings: Settings
    playbooks: PlaybookSet
    registry: ActionRegistry
    clock: Clock
    narration: NarrationDispatcher
    hub: ApprovalHub
    pause: PauseSwitch
    http: aiohttp.ClientSession
    cluster: ClusterView
    install: str = ""
    clients: dict[str, object] = field(default_factory=dict)
    enabled: frozenset[str] = frozenset()
    background: BackgroundTasks = field(default_factory=BackgroundTasks)
    hooks: IntegrationHooks = field(default_factory=IntegrationHooks.none)
    action_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    slots: RunSlots | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    run_ends: RunEnds = field(default_factory=RunEnds)
    breaker_clear: set[int] = field(default_factory=set)
    """Runs the remediation breaker let through once; it cannot close on them afterwards
    (see :func:`bot.engine.safety.breaker.held`), so their later write steps skip the check."""
    metrics: Metrics | None = None
    incident_channel: Callable[[str], Awaitable[str]] | None = None
    """The chat channel of an incident (by id), opened if it has none yet."""

    def integration_ready(self, name: str | None) -> bool:
        """True when actions of integration ``name`` can really run: it is enabled (actions
        of a disabled integration record dry runs of what they would do)."""
        return name is None or name in self.enabled


@asynccontextmanager
async def slot_released(deps: EngineDeps, run_seq: int) -> AsyncIterator[None]:
    """While a run waits on a human or the pause, its ``max_concurrent_runs`` slot is free
    for other runs (evidence gathering goes on); it is taken back before the run continues."""
    if deps.slots is None:
        yield
        return
    await deps.slots.give_back(run_seq)
    try:
        yield
    finally:
        await deps.slots.take(run_seq)
