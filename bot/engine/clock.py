"""The clock moved to :mod:`bot.clock` (shared by ingress and engine); kept as an alias."""

from bot.clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "SystemClock"]
