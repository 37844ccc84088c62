"""``runs.slot_taken_at``: the ``max_concurrent_runs`` slots are counted in the store, so the
limit holds for all replicas together.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``runs.slot_taken_at`` and a partial index on the runs holding a slot."""
    op.add_column("runs", sa.Column("slot_taken_at", UTCDateTime))
    held = sa.text("slot_taken_at IS NOT NULL")
    op.create_index("ix_runs_slot_taken", "runs", ["seq"], postgresql_where=held, sqlite_where=held)


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
