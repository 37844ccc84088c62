"""An index on the steps of each action by start time: every write step counts its action's
recent attempts against ``safety.limits`` (and the remediation breaker reads the same
steps), which otherwise scans every step ever recorded.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index ``steps`` on ``(action, started_at)``."""
    op.create_index("ix_steps_action_started", "steps", ["action", "started_at"])


def downgrade() -> None:
    """Medic does not downgrade a store: restore a backup instead."""
    raise NotImplementedError("downgrades are not supported")
