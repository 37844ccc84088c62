"""Medic's error hierarchy: each class maps to one outcome."""

from __future__ import annotations


class MedicError(Exception):
    """Base of every error Medic raises on purpose."""


class ConfigError(MedicError):
    """The configuration is invalid; ``problems`` holds ``file:line: key: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RetryableError(MedicError):
    """A system that may answer later (unreachable, 429/5xx, busy), after the client's own
    bounded retries. A step that raises it fails like any other (the engine does not run a
    step again by itself; a human can, with ``/incident run``); work outside steps (Slack
    delivery, silence expiry) keeps the work and tries again on its next round."""


class PermanentError(MedicError):
    """A failure that will not succeed if tried again (bad input, refused request)."""


class StoreError(MedicError):
    """The store failed the work; the store raises nothing else (no driver error leaves
    ``bot.store``)."""


class StoreUnavailable(StoreError, RetryableError):
    """The store could not commit or read: unreachable, busy or gone (may work later)."""


class StoreRefused(StoreError, PermanentError):
    """The store refused the work, the same way each time: this replica must not use it (a
    newer schema, SQLite held by another replica), or it rejected the data."""


class GuardRefused(PermanentError):
    """A safety guard refused an action; no override."""


class DecisionRefused(PermanentError):
    """A human decision (approve, reject, pause, resume, run) that cannot be taken.

    ``code`` is ``not_found``, ``forbidden`` or ``conflict``.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
