"""structlog setup: JSON off a TTY, request/incident ids from contextvars, secrets redacted."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|authorization|credential|signature", re.I)
_BEARER = re.compile(r"(?i:\b(bearer\s+|token=))[^\s,;\"']+")


class SecretRedactor:
    """Drop known secret values and secret-looking keys from every event before rendering.

    Every string value of every log line passes here: plain substring checks tell whether a
    value could hold anything to redact at all (most cannot: no configured secret, no
    "bearer" or "token=" in any case); only those that could are searched and scrubbed,
    secrets longest first, then bearer tokens. Keys are judged once each."""

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
            elif (
                isinstance(value, str)
                and self._may_hold_secret(value)
                and self._suspect.search(value) is not None
            ):
                event[key] = self._scrub(value)
        return event

    def _may_hold_secret(self, text: str) -> bool:
        """A quick superset of what the search finds (``str.lower`` folds every character
        the search's case-insensitive ``bearer``/``token=`` also accepts, the Kelvin sign
        included); a search costs several times these checks."""
        lowered = text.lower()
        if "bearer" in lowered or "token=" in lowered:
            return True
        return any(secret in text for secret in self._secrets)

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
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if out.isatty() else render_json
    )
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
            UtcTimestamp(),
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


class UtcTimestamp:
    """``timestamp``: now in UTC, ISO 8601 with microseconds and ``Z``
    (``2026-12-04T05:06:07.123456Z``); the text up to the second is made once a second."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock  # nanoseconds since the epoch
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads read it whole

    def __call__(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Add the timestamp."""
        now = self._clock() // 1000
        second, micro = divmod(now, 1_000_000)
        known, text = self._second
        if second != known:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, text)
        event["timestamp"] = f"{text}.{micro:06d}Z"
        return event


def _fallback(value: Any) -> Any:
    """What structlog's ``JSONRenderer`` writes for a value JSON has no form for."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


# structlog's JSONRenderer calls ``json.dumps(event, default=...)``, which builds an encoder
# for every line (a third of the line's rendering); this one is built once.
_ENCODER = json.JSONEncoder(default=_fallback)


def render_json(logger: object, method: str, event: MutableMapping[str, Any]) -> str:
    """The event as one JSON line, exactly as structlog's ``JSONRenderer`` writes it."""
    return _ENCODER.encode(event)


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
