"""structlog setup: JSON off a TTY, request/incident ids from contextvars, secrets redacted."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|authorization|credential|signature", re.I)
_BEARER = re.compile(r"(?i)\b(bearer\s+|token=)[^\s,;\"']+")


class SecretRedactor:
    """Drop known secret values and secret-looking keys from every event before rendering."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact in place: secret-looking keys, bearer tokens and configured secret values."""
        for key, value in list(event.items()):
            if _SECRET_KEY.search(key):
                event[key] = REDACTED
            elif isinstance(value, str):
                event[key] = self._scrub(value)
        return event

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def configure_logging(
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    level: int = logging.INFO,
    *,
    threaded: bool | None = None,
) -> None:
    """Configure structlog for the process: JSON lines unless ``stream`` is a terminal.

    By default (a real stdout) lines are handed to a queue and written by a thread, so a
    slow log pipe never blocks the event loop. An in-memory ``stream`` is written directly.
    """
    global _listener  # noqa: PLW0603 -- one log writer per process
    out = stream if stream is not None else sys.stdout
    if threaded is None:
        threaded = stream is None
    renderer: structlog.typing.Processor
    if out.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    if _listener is not None:
        _listener.stop()
        _listener = None
    logger_factory: Any
    if threaded:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(message)s"))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _listener = logging.handlers.QueueListener(records, handler)
        _listener.start()
        atexit.register(_listener.stop)
        medic_logger = logging.getLogger("medic")
        medic_logger.handlers = [logging.handlers.QueueHandler(records)]
        medic_logger.propagate = False
        medic_logger.setLevel(level)
        logger_factory = lambda *_: medic_logger  # noqa: E731 -- structlog wants a factory
    else:
        logger_factory = structlog.PrintLoggerFactory(out)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            SecretRedactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,
    )


_listener: logging.handlers.QueueListener | None = None
