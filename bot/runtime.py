"""The typed state every handler shares, created once per app in ``cleanup_ctx``."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.engine.approvals.hub import ApprovalService
from bot.engine.deps import EngineDeps
from bot.engine.intake.worker import IntakeWorker
from bot.engine.runs.background import BackgroundTasks
from bot.engine.runs.manager import RunManager
from bot.engine.safety.pause import PauseSwitch
from bot.errors import StoreError
from bot.metrics import Metrics
from bot.narrator import NarrationDispatcher
from bot.playbooks.playbook import PlaybookSet
from bot.store import Database
from bot.store.committer import AlertCommitter

# Readers wait at most this long for intake to catch up with what was acknowledged.
CATCH_UP_S = 15.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """Settings, store, writer, engine, narration and metrics of one running Medic."""

    settings: Settings
    db: Database
    committer: AlertCommitter
    intake: IntakeWorker
    runs: RunManager
    approvals: ApprovalService
    pause: PauseSwitch
    playbooks: PlaybookSet
    narration: NarrationDispatcher
    metrics: Metrics
    background: BackgroundTasks
    engine: EngineDeps
    clock: Clock
    http: aiohttp.ClientSession
    catch_up_s: float = CATCH_UP_S

    async def caught_up(self) -> bool:
        """Wait (at most ``catch_up_s``) until every alert and event acknowledged so far, by
        any replica, is in its incident; False when the wait ran out first, or the store
        could not say (the read that follows reports the store's state itself)."""
        try:
            return await self.intake.barrier.wait(self.catch_up_s)
        except StoreError:
            return False


RUNTIME = web.AppKey("runtime", Runtime)
