"""Narration: told what happened after each commit; never steers the engine."""

from bot.narrator.base import Narrator
from bot.narrator.console import ConsoleNarrator, terminal_narration
from bot.narrator.dispatch import NarrationDispatcher

__all__ = ["ConsoleNarrator", "NarrationDispatcher", "Narrator", "terminal_narration"]
