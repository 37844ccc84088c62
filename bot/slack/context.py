"""What Slack's listeners work with, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.engine.approvals.hub import ApprovalService
from bot.engine.deps import EngineDeps
from bot.engine.runs.manager import RunManager
from bot.engine.safety.pause import PauseSwitch
from bot.playbooks.playbook import PlaybookSet
from bot.slack.sync import SlackSync
from bot.store import Database
from responders.slack.client import SlackClient


@dataclass(frozen=True, slots=True)
class SlackContext:
    """The engine services behind buttons and commands, plus Slack's own client and sync."""

    settings: Settings
    db: Database
    engine: EngineDeps
    approvals: ApprovalService
    pause: PauseSwitch
    runs: RunManager
    playbooks: PlaybookSet
    client: SlackClient
    sync: SlackSync

    async def may_act(self, user: str) -> bool:
        """Approvers (directly or by group) and admins may resolve incidents and start runs."""
        return user in self.settings.slack.admins or await self.approvals.authorized(user)
