"""Durable switches (the global pause) that survive a restart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import switches

PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class SwitchState:
    """A switch's value and who set it, when."""

    value: dict[str, Any]
    changed_by: str
    changed_at: datetime


async def read_switch(conn: AsyncConnection, name: str) -> SwitchState | None:
    """The switch, or None when never set."""
    row = (
        (await conn.execute(sa.select(switches).where(switches.c.name == name))).mappings().first()
    )
    if row is None:
        return None
    return SwitchState(
        value=row["value"], changed_by=row["changed_by"], changed_at=row["changed_at"]
    )


async def write_switch(
    conn: AsyncConnection, name: str, value: dict[str, Any], changed_by: str, at: datetime
) -> None:
    """Set the switch."""
    updated = await conn.execute(
        switches.update()
        .where(switches.c.name == name)
        .values(value=value, changed_by=changed_by, changed_at=at)
    )
    if updated.rowcount == 0:
        await conn.execute(
            switches.insert().values(name=name, value=value, changed_by=changed_by, changed_at=at)
        )


INSTALL = "install"


async def install_id(conn: AsyncConnection, at: datetime) -> str:
    """This installation's id, created once (it names Medic's pages in PagerDuty)."""
    state = await read_switch(conn, INSTALL)
    if state is not None:
        return str(state.value["id"])
    new = uuid.uuid4().hex[:12]
    await write_switch(conn, INSTALL, {"id": new}, "medic", at)
    return new
