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
    """A failure that may succeed if tried again (network, store outage)."""


class PermanentError(MedicError):
    """A failure that will not succeed if tried again (bad input, refused request)."""


class StoreUnavailable(RetryableError):
    """The store could not commit or read."""


class StoreRefused(PermanentError):
    """This replica must not use the store (a newer schema, SQLite held by another replica)."""


class GuardRefused(PermanentError):
    """A safety guard refused an action; no override."""


class ApprovalDenied(PermanentError):
    """An approval was rejected or expired."""


class DecisionRefused(PermanentError):
    """A human decision (approve, reject, pause, resume, run) that cannot be taken.

    ``code`` is ``not_found``, ``forbidden`` or ``conflict``.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
