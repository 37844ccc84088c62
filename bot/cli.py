"""The ``medic`` command: ``serve``, ``demo``, ``check``, ``simulate``, ``replay``, and the
API commands of :mod:`bot.remote` (``incidents``, ``incident``, ``approve``, ``reject``,
``pause``, ``resume``).

Each command imports what it needs when it runs, so ``medic --help`` and ``medic check``
start fast (the server, Slack, Kubernetes and Kafka clients and matplotlib are not loaded).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.config import Settings, load_settings, parse_duration
from bot.errors import ConfigError, MedicError

if TYPE_CHECKING:
    from bot.playbooks.playbook import PlaybookSet

EXIT_OK = 0
EXIT_INVALID = 1


_PLACE = re.compile(r".+:\d+")
"""The first field of a problem that says where it is: ``file:line`` (``<env>:0`` too)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medic`` console script.

    The one place where a failure becomes an exit status: a command that cannot go on raises
    :class:`~bot.errors.MedicError` (an invalid configuration or playbook, a broken
    integration, a store or client that refuses to start) or :class:`OSError` (a file or
    socket), and each problem is printed here as one line on stderr, exit status 1. Anything
    else is a bug and keeps its traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        command: int = args.run(args)
    except (MedicError, OSError) as err:
        for line in _failure_lines(err):
            print(line, file=sys.stderr)
        return EXIT_INVALID
    return command


def _failure_lines(err: MedicError | OSError) -> list[str]:
    """Each problem of ``err`` on its own line: ``file:line: key: reason`` as it came, any
    other as ``medic: <what>: <reason>``."""
    if isinstance(err, ConfigError):
        return [p if _PLACE.fullmatch(p.split(": ", 1)[0]) else f"medic: {p}" for p in err.problems]
    if isinstance(err, OSError) and err.filename is not None:
        return [f"medic: {err.filename}: {err.strerror}"]
    return [f"medic: {err}"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medic", description="Medic answers production alerts.")
    parser.add_argument("--version", action="version", version=f"medic {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--config", type=Path, help="YAML config file (default: $MEDIC_CONFIG)")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="validate the configuration and playbooks")
    check.add_argument("--config", type=Path, help="YAML config file (default: $MEDIC_CONFIG)")
    check.add_argument("dirs", nargs="*", type=Path, help="playbook directories to validate")
    check.set_defaults(run=_check)

    demo = commands.add_parser(
        "demo", help="replay the sample alerts through a throwaway Medic, auto-approving"
    )
    demo.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for every run (default 60)"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary store")
    demo.set_defaults(run=_demo)

    simulate = commands.add_parser(
        "simulate", help="show the playbooks an alert would run, touching nothing"
    )
    simulate.add_argument("alert", type=Path, help="an Alertmanager webhook body or one alert")
    simulate.add_argument("--config", type=Path, help="YAML config file (default: $MEDIC_CONFIG)")
    simulate.add_argument("dirs", nargs="*", type=Path, help="playbook directories to use")
    simulate.set_defaults(run=_simulate)

    docs = commands.add_parser(
        "docs", help="write the generated reference (actions, configuration, API, playbooks)"
    )
    docs.add_argument(
        "dir", nargs="?", type=Path, default=Path("docs"), help="where to write (default docs/)"
    )
    docs.set_defaults(run=_docs)

    replay = commands.add_parser(
        "replay",
        help="past alerts (the journal, or an Alertmanager alert dump) through the current "
        "playbooks, touching nothing",
    )
    replay.add_argument("--config", type=Path, help="YAML config file (default: $MEDIC_CONFIG)")
    replay.add_argument(
        "--alerts",
        type=Path,
        help="an Alertmanager GET /api/v2/alerts dump (default: the journal of store.url)",
    )
    replay.add_argument("--since", type=parse_duration, help="only the last DURATION, e.g. 7d")
    replay.add_argument("--json", action="store_true", help="the report as JSON")
    replay.add_argument("dirs", nargs="*", type=Path, help="playbook directories to use")
    replay.set_defaults(run=_replay)

    from bot.remote import add_commands  # noqa: PLC0415 -- see the module docstring

    add_commands(commands)
    return parser


def _load(config: Path | None) -> Settings:
    """The settings, with the installed integrations' sections; ConfigError (or
    IntegrationError) when they cannot be used."""
    from bot.integrations import config_sections  # noqa: PLC0415 -- see the module docstring

    return load_settings(config, config_sections())


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    import structlog  # noqa: PLC0415 -- the server's imports, only when serving
    from aiohttp import web  # noqa: PLC0415

    from bot.app import build_app  # noqa: PLC0415
    from bot.http.server import run as run_server  # noqa: PLC0415
    from bot.logging import configure_logging  # noqa: PLC0415

    level = logging.getLevelNamesMapping()[settings.server.log_level.upper()]
    configure_logging(settings.secret_values(), level=level, final=True)
    log = structlog.get_logger("bot.cli")
    playbooks = _playbooks(settings, [])
    app = build_app(settings, playbooks=playbooks)

    async def stopping(_app: web.Application) -> None:
        log.info("server.stopping", reason="signal or shutdown request")

    app.on_shutdown.append(stopping)
    host, port = settings.server.host, settings.server.port
    log.info(
        "server.starting",
        host=host,
        port=port,
        playbooks=len(playbooks),
        store=settings.store.url.split("://", 1)[0],
        dry_run=settings.safety.dry_run,
        console=_console_url(settings),
    )
    if sys.stderr.isatty():  # a person at a terminal; a pipe or container keeps JSON lines only
        print(f"Medic console: {_console_url(settings)}  (API: /docs)", file=sys.stderr)
    try:
        run_server(app, host, port)
    except OSError as err:
        key = _listen_key(err)
        if key is None:
            raise
        gai = isinstance(err, socket.gaierror)
        reason = err.strerror if gai or err.errno is None else os.strerror(err.errno)
        raise ConfigError([f"{key}: cannot listen on {host}:{port}: {reason}"]) from err
    log.info("server.stopped")
    return EXIT_OK


def _listen_key(err: OSError) -> str | None:
    """The ``server.*`` key to blame when binding the listening socket failed, else None."""
    if isinstance(err, socket.gaierror) or err.errno == errno.EADDRNOTAVAIL:
        return "server.host"
    if err.errno in (errno.EADDRINUSE, errno.EACCES) and err.filename is None:
        return "server.port"
    return None


def _console_url(settings: Settings) -> str:
    """Where a browser finds the web console of this server."""
    host, port = settings.server.host, settings.server.port
    shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 -- a comparison
    return f"{(settings.server.public_url or f'http://{shown}:{port}').rstrip('/')}/ui"


def _playbooks(settings: Settings, dirs: list[Path]) -> PlaybookSet:
    """Load and validate playbooks (``dirs`` alone, else the configured catalogues and
    directories) and check ``safety.limits`` against the same actions; ConfigError listing
    every problem."""
    from bot.integrations import action_registry  # noqa: PLC0415 -- see the module docstring
    from bot.playbooks.loader import (  # noqa: PLC0415
        limit_problems,
        load_configured,
        load_playbooks,
        missing_dirs,
    )

    registry = action_registry()
    problems = limit_problems(settings, registry)
    if not dirs and (missing := missing_dirs(settings)):
        raise ConfigError([*problems, *missing])
    try:
        if dirs:
            playbooks = load_playbooks(dirs, registry)
        else:
            playbooks = load_configured(settings.playbooks, registry)
    except ConfigError as err:
        raise ConfigError([*problems, *err.problems]) from err
    if problems:
        raise ConfigError(problems)
    return playbooks


def _check(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    playbooks = _playbooks(settings, list(args.dirs))
    names = ", ".join(sorted(p.name for p in playbooks)) or "none"
    print(f"configuration OK; {len(playbooks)} playbooks OK: {names}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo  # noqa: PLC0415 -- see the module docstring

    return run_demo(args.timeout, keep=args.keep)


def _replay(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    playbooks = _playbooks(settings, list(args.dirs))
    from bot.replay.run import replay_report  # noqa: PLC0415 -- see the module docstring

    text = replay_report(settings, playbooks, args.alerts, args.since, as_json=args.json)
    sys.stdout.write(text)
    return EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    from bot.reference import write_docs  # noqa: PLC0415 -- only this command needs it

    for path in write_docs(args.dir):
        print(path)
    return EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    playbooks = _playbooks(settings, list(args.dirs))
    from bot.integrations import action_registry  # noqa: PLC0415 -- see the module docstring
    from bot.simulate import simulate_file  # noqa: PLC0415

    return simulate_file(args.alert, playbooks, action_registry())
