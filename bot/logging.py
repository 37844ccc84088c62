"""structlog setup: JSON off a TTY, request/incident ids from contextvars, secrets redacted."""

from __future__ import annotations

import atexit
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|authorization|credential|signature", re.I)
_BEARER = re.compile(r"(?i:\b(bearer\s+|token=))[^\s,;\"']+")


class SecretRedactor:
    """Drop known secret values and secret-looking keys from every event before rendering.

    Every string value of every log line passes here: one regular expression tells
    whether a value holds anything to redact at all (most hold nothing); only those that
    do are scrubbed, secrets longest first, then bearer tokens. Keys are judged once each."""

    _KNOWN_KEYS_MAX = 4096  # keys come from code; a bound in case one ever does not

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        known = "".join(f"{re.escape(s)}|" for s in self._secrets)
        self._suspect = re.compile(known + _BEARER.pattern)
        self._secret_key: dict[str, bool] = {}

    def __call__(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact in place: secret-looking keys, bearer tokens and configured secret values."""
        for key, value in event.items():
            if self._is_secret_key(key):
                event[key] = REDACTED
            elif isinstance(value, str) and self._suspect.search(value) is not None:
                event[key] = self._scrub(value)
        return event

    def _is_secret_key(self, key: str) -> bool:
        found = self._secret_key.get(key)
        if found is None:
            found = _SECRET_KEY.search(key) is not None
            if len(self._secret_key) < self._KNOWN_KEYS_MAX:
                self._secret_key[key] = found
        return found

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
    final: bool = False,
) -> None:
    """Configure structlog for the process: JSON lines unless ``stream`` is a terminal.

    By default (a real stdout) lines are handed to a queue and written by a thread, so a
    slow log pipe never blocks the event loop. An in-memory ``stream`` is written directly.
    ``final``: this process will not configure logging again (``medic serve``), so loggers
    may keep what they bound on first use.
    """
    global _writer  # noqa: PLW0603 -- one log writer per process
    out = stream if stream is not None else sys.stdout
    if threaded is None:
        threaded = stream is None
    renderer: structlog.typing.Processor
    if out.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    if _writer is not None:
        _writer.stop()
        _writer = None
    logger_factory: Any
    if threaded:
        _writer = LineWriter(out)
        atexit.register(_writer.stop)
        writer = _writer
        logger_factory = lambda *_: writer  # noqa: E731 -- structlog wants a factory
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
        # A process that configures logging once for good (``medic serve``) lets every
        # logger keep its bound processors after its first line, instead of binding them
        # again for every line; tests reconfigure, so by default nothing is kept.
        cache_logger_on_first_use=final,
    )


# After the first line of a quiet spell the writer waits this long for more before writing:
# in a storm it wakes (and takes the interpreter lock) a few dozen times a second, not once
# per line; a line waits at most this long.
GATHER_S = 0.02
MAX_BATCH = 1000


class LineWriter:
    """A structlog logger that hands each rendered line to a queue; a thread of its own
    writes them (what has queued up meanwhile in one write), so a slow log pipe never
    blocks the event loop, and a line costs the loop one queue put (no stdlib
    ``LogRecord``, handler or formatter on the way)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._thread.start()

    def msg(self, line: str) -> None:
        """Queue one rendered line (structlog calls it by the level's name)."""
        self._lines.put(line)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def stop(self) -> None:
        """Write what is queued, then end the thread (idempotent)."""
        if self._thread.is_alive():
            self._lines.put(None)
            self._thread.join(timeout=5)

    def _write(self) -> None:
        behind = False  # the last write took a full batch: more is waiting, write on
        while True:
            batch = [self._lines.get()]
            if batch[0] is not None and not behind:
                time.sleep(GATHER_S)
            while not self._lines.empty() and len(batch) < MAX_BATCH:
                batch.append(self._lines.get_nowait())
            behind = len(batch) >= MAX_BATCH
            lines = [line for line in batch if line is not None]
            if lines:
                try:
                    self._out.write("\n".join(lines) + "\n")
                    self._out.flush()
                except (OSError, ValueError):  # the pipe is gone or closed: nothing to tell
                    pass
            if None in batch:
                return


_writer: LineWriter | None = None
