"""Partial indexes on the journals' unprocessed rows: intake takes its batches from them, and
every read's read-your-writes barrier asks them what is still unprocessed, so neither scans
the whole journal.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

_UNPROCESSED = sa.text("processed_at IS NULL")


def upgrade() -> None:
    """Index ``alerts.id`` and ``inbound_events.seq`` where ``processed_at`` is null."""
    for name, table, column in (
        ("ix_alerts_unprocessed", "alerts", "id"),
        ("ix_inbound_events_unprocessed", "inbound_events", "seq"),
    ):
        op.create_index(
            name, table, [column], postgresql_where=_UNPROCESSED, sqlite_where=_UNPROCESSED
        )


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
