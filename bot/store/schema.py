"""Tables for the whole data model (SQLAlchemy Core, SQLite and PostgreSQL).

The migrations in ``bot/store/migrations`` build exactly these tables (a test compares them);
change both together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

_REMEMBERED_TIMES = 1_024


def _naive_utc(value: datetime) -> datetime:
    """An aware time as naive UTC; a naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use UTC-aware values")
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stored as naive UTC on every backend, returned timezone-aware (UTC)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to naive UTC before writing."""
        return None if value is None else _naive_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, one call from an aware time to the stored text (the text SQLAlchemy's
        own SQLite ``DATETIME`` writes, microseconds always included); elsewhere the usual
        two steps. Every alert writes several times."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # A batch writes the same few times over and over (its "now", a storm's shared
        # startsAt): each instant's text is remembered. Equal keys are the same instant,
        # whatever their offset, so the same text; a naive time equals no aware key.
        texts: dict[datetime, str] = {}

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            text = texts.get(value)
            if text is None:
                text = _naive_utc(value).isoformat(" ", "microseconds")
                if len(texts) >= _REMEMBERED_TIMES:
                    texts.clear()
                texts[value] = text
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC when reading back."""
        return None if value is None else value.replace(tzinfo=UTC)


def many(name: str) -> sa.BindParameter[Any]:
    """A list parameter (``IN``), so a statement that takes one is built and compiled once."""
    return sa.bindparam(name, expanding=True)


metadata = sa.MetaData()

# Kept from before Alembic: the migrations add a row when the release before Alembic must
# refuse the store (it refuses any version above 1). Alembic's own table is alembic_version.
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("slack_channel", sa.Text),
    sa.Column("pagerduty_incident_id", sa.Text),
    sa.Column("commander", sa.Text, nullable=False, server_default="medic"),
    sa.Column("previous_seq", sa.Integer, sa.ForeignKey("incidents.seq")),
    # Kept by the intake as it files alerts (migration 0006): distinct alerts, and those
    # of them still firing, without counting ``incident_alerts`` again.
    sa.Column("alert_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("firing_count", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_incidents_group_key_status", "group_key", "status"),
    sa.Index("ix_incidents_status", "status"),
)

# The journal: every notification Medic accepted, exactly once per dedup identity.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("generator_url", sa.Text),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq")),
    sa.Column("processed_at", UTCDateTime),
    sa.UniqueConstraint("source", "fingerprint", "starts_at", "status", name="uq_alerts_identity"),
    # The engine's backlog: intake and the read barrier look only at unprocessed rows.
    sa.Index(
        "ix_alerts_unprocessed",
        "id",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    ),
)

# The current state of each distinct alert (fingerprint) inside an incident.
incident_alerts = sa.Table(
    "incident_alerts",
    metadata,
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq"), primary_key=True),
    sa.Column("source", sa.String(16), primary_key=True),
    sa.Column("fingerprint", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq"), nullable=False),
    sa.Column("playbook", sa.Text, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("started_by", sa.Text, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("trigger_alert_id", sa.Integer, sa.ForeignKey("alerts.id")),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("error", sa.Text),
    # The replica driving this run; another takes it over once the owner's heartbeat lapses.
    sa.Column("owner", sa.Text),
    # Set while the run holds one of the ``max_concurrent_runs`` slots all replicas share.
    sa.Column("slot_taken_at", UTCDateTime),
    sa.Index("ix_runs_target_status", "target", "status"),
    sa.Index("ix_runs_owner", "owner"),
    sa.Index("ix_runs_incident", "incident_seq", "seq"),  # the intake's "ran here?" (0007)
    sa.Index(
        "ix_runs_slot_taken",
        "seq",
        postgresql_where=sa.text("slot_taken_at IS NOT NULL"),
        sqlite_where=sa.text("slot_taken_at IS NOT NULL"),
    ),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_seq", sa.Integer, sa.ForeignKey("runs.seq"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("output", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.UniqueConstraint("run_seq", "step_id", name="uq_steps_run_step"),
    sa.Index("ix_steps_action_started", "action", "started_at"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_seq", sa.Integer, sa.ForeignKey("runs.seq"), nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("required", sa.Integer, nullable=False, server_default="1"),
    sa.Column("four_eyes", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("prompt", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text),
    sa.Column("on_timeout", sa.String(16), nullable=False, server_default="reject"),
    sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", UTCDateTime),
)

approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("approval_seq", sa.Integer, sa.ForeignKey("approvals.seq"), primary_key=True),
    sa.Column("user", sa.Text, primary_key=True),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq")),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_audit_incident", "incident_seq", "seq"),
)

# Inbound deliveries already taken (PagerDuty X-Webhook-Id, Slack retries).
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("source", sa.String(16), primary_key=True),
    sa.Column("delivery_id", sa.Text, primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

# The journal of inbound events other than alerts (PagerDuty webhooks), processed by the engine.
inbound_events = sa.Table(
    "inbound_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("processed_at", UTCDateTime),
    sa.UniqueConstraint("source", "event_id", name="uq_inbound_events_identity"),
    sa.Index(
        "ix_inbound_events_unprocessed",
        "seq",
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    ),
)

# Small durable switches (the global pause) that must survive a restart.
switches = sa.Table(
    "switches",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

# Slack: each incident's channel, its pinned status message and how far its timeline thread
# has been delivered (the audit trail is the durable outbox; ``timeline_seq`` its cursor).
slack_channels = sa.Table(
    "slack_channels",
    metadata,
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq"), primary_key=True),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status_ts", sa.Text, nullable=False),
    sa.Column("status_digest", sa.Text, nullable=False, server_default=""),
    sa.Column("topic", sa.Text, nullable=False, server_default=""),
    sa.Column("timeline_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("graph_done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("report_done", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Slack: the message that asks for each approval, so decisions can edit it in place.
slack_approval_messages = sa.Table(
    "slack_approval_messages",
    metadata,
    sa.Column("approval_seq", sa.Integer, sa.ForeignKey("approvals.seq"), primary_key=True),
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq"), nullable=False),
    sa.Column("channel_id", sa.Text, nullable=False),
    sa.Column("ts", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_slack_approval_messages_incident", "incident_seq"),
)

# Alertmanager silences Medic created, expired when their incident resolves.
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("incident_seq", sa.Integer, sa.ForeignKey("incidents.seq"), nullable=False),
    sa.Column("run_seq", sa.Integer, sa.ForeignKey("runs.seq")),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("matchers", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("expired_at", UTCDateTime),
    sa.Index("ix_silences_incident", "incident_seq"),
)

# Every running replica and its heartbeat: a replica whose heartbeat is older than
# ``store.lease_seconds`` is gone, and its runs and leases may be taken over.
replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

# One-at-a-time duties (e.g. narrating an incident's Slack channel) and the replica holding
# each; the lease is valid while its owner's heartbeat is.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
)
