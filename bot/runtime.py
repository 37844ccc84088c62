"""The typed state every handler shares, created once per app in ``cleanup_ctx``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.config import Settings
from bot.ingress.committer import AlertCommitter
from bot.metrics import Metrics
from bot.narrator import NarrationDispatcher
from bot.store import Database


@dataclass(frozen=True, slots=True)
class Runtime:
    """Settings, store, writer, narration and metrics of one running Medic."""

    settings: Settings
    db: Database
    committer: AlertCommitter
    narration: NarrationDispatcher
    metrics: Metrics


RUNTIME = web.AppKey("runtime", Runtime)
