"""``incidents.alert_count`` and ``incidents.firing_count``, kept by the intake as it files
each alert: every intake batch counted its incidents' alerts row by row (a storm of
thousands of alerts in one incident, counted again for each batch), and every listing
counted them for every incident. Existing incidents are counted once here.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

_incidents = sa.table(
    "incidents", sa.column("seq"), sa.column("alert_count"), sa.column("firing_count")
)
_held = sa.table("incident_alerts", sa.column("incident_seq"), sa.column("status"))


def _count(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(_held.c.incident_seq == _incidents.c.seq, *where)
        .scalar_subquery()
    )


def upgrade() -> None:
    """Add both counts and fill them in from ``incident_alerts``."""
    for name in ("alert_count", "firing_count"):
        op.add_column("incidents", sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.execute(
        _incidents.update().values(
            alert_count=_count(), firing_count=_count(_held.c.status == "firing")
        )
    )


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
