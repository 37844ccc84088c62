"""Several replicas on one store: who is alive, who owns each run, named leases.

``replicas`` holds one row per running ``medic serve`` with its heartbeat; a run's
``owner`` is the replica driving it (taken over once that replica's heartbeat lapses);
``leases`` names one-at-a-time duties (narrating an incident's Slack channel) and who holds
them. ``schema_version`` 2 makes the release before Alembic refuse this store.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``replicas``, ``leases`` and ``runs.owner``; record schema version 2."""
    op.create_table(
        "replicas",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("taken_at", UTCDateTime, nullable=False),
    )
    op.add_column("runs", sa.Column("owner", sa.Text))
    op.create_index("ix_runs_owner", "runs", ["owner"])
    schema_version = sa.table(
        "schema_version", sa.column("version", sa.Integer), sa.column("applied_at", UTCDateTime)
    )
    op.bulk_insert(schema_version, [{"version": 2, "applied_at": datetime.now(UTC)}])


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
