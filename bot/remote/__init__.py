"""``medic incidents|incident|approve|reject|pause|resume``: the HTTP API from a terminal.

They talk to a running Medic (``--url``, else ``$MEDIC_URL``, else http://127.0.0.1:8080)
with a token from ``$MEDIC_TOKEN`` or a file (``--token-file`` or ``$MEDIC_TOKEN_FILE``): a
personal token (``server.api_users``) acts as its user; the bridge token
(``server.api_token``) needs ``--user``. Answers are read into the same pydantic models the
server writes; ``--json`` prints the server's JSON as is, for scripts. Exit 0 on success, 1
when Medic refuses (its ``error: detail`` on stderr) or cannot be reached.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.models import IncidentStatus


def add_commands(commands: Any) -> None:
    """Register the API commands on the ``medic`` parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="Medic's base URL (default: $MEDIC_URL or http://127.0.0.1:8080)"
    )
    common.add_argument(
        "--token-file", type=Path, help="file holding the token (default: $MEDIC_TOKEN_FILE)"
    )
    common.add_argument("--json", action="store_true", help="print Medic's JSON answer as is")

    listing = commands.add_parser("incidents", parents=[common], help="list incidents")
    listing.add_argument("--status", choices=[s.value for s in IncidentStatus])
    listing.add_argument("--limit", type=int, help="at most this many, newest first")
    listing.set_defaults(run=_later("incidents"))

    one = commands.add_parser("incident", parents=[common], help="show one incident")
    one.add_argument("incident", help="INC-<n>")
    one.set_defaults(run=_later("incident"))

    for verb in ("approve", "reject"):
        decide = commands.add_parser(verb, parents=[common], help=f"{verb} an approval")
        decide.add_argument("approval", help="APR-<n>")
        decide.add_argument("--user", help="who decides (only with the bridge token)")
        decide.set_defaults(run=_later("decide"), decision=verb)

    for verb, text in (("pause", "pause every write step"), ("resume", "end the pause")):
        switch = commands.add_parser(verb, parents=[common], help=text)
        switch.add_argument("reason", nargs="*", help="why (pause only)")
        switch.add_argument("--user", help="who acts (only with the bridge token)")
        switch.set_defaults(run=_later("switch"), verb=verb)


def _later(name: str) -> Callable[[argparse.Namespace], int]:
    """The command ``name`` of :mod:`bot.remote.client`, imported when it runs (``medic
    --help`` stays fast)."""

    def run(args: argparse.Namespace) -> int:
        from bot.remote import client  # noqa: PLC0415 -- see the docstring

        command: Callable[[argparse.Namespace], int] = getattr(client, name)
        return command(args)

    return run
