"""An index on the runs of each incident: every intake batch asks which playbooks already
ran on the incidents it touches, and resolving an incident reads its runs; both otherwise
scan every run ever recorded.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index ``runs`` on ``(incident_seq, seq)``."""
    op.create_index("ix_runs_incident", "runs", ["incident_seq", "seq"])


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
