-- The store schema as Medic 0.1.0 (schema_version 1, before Alembic) created it on sqlite:
-- the DDL its metadata.create_all emitted, kept to test upgrading such a store.

CREATE TABLE inbound_events (
	seq INTEGER NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	event_id TEXT NOT NULL, 
	event_type TEXT NOT NULL, 
	payload JSON NOT NULL, 
	received_at DATETIME NOT NULL, 
	processed_at DATETIME, 
	PRIMARY KEY (seq), 
	CONSTRAINT uq_inbound_events_identity UNIQUE (source, event_id)
);

CREATE TABLE incidents (
	seq INTEGER NOT NULL, 
	title TEXT NOT NULL, 
	severity VARCHAR(8) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	group_key TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	resolved_at DATETIME, 
	slack_channel TEXT, 
	pagerduty_incident_id TEXT, 
	commander TEXT DEFAULT 'medic' NOT NULL, 
	previous_seq INTEGER, 
	PRIMARY KEY (seq), 
	FOREIGN KEY(previous_seq) REFERENCES incidents (seq)
);

CREATE INDEX ix_incidents_group_key_status ON incidents (group_key, status);

CREATE INDEX ix_incidents_status ON incidents (status);

CREATE TABLE schema_version (
	version INTEGER NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);

CREATE TABLE switches (
	name TEXT NOT NULL, 
	value JSON NOT NULL, 
	changed_by TEXT NOT NULL, 
	changed_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);

CREATE TABLE webhook_deliveries (
	source VARCHAR(16) NOT NULL, 
	delivery_id TEXT NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (source, delivery_id)
);

CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	fingerprint TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME, 
	labels JSON NOT NULL, 
	annotations JSON NOT NULL, 
	generator_url TEXT, 
	group_key TEXT NOT NULL, 
	received_at DATETIME NOT NULL, 
	incident_seq INTEGER, 
	processed_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_alerts_identity UNIQUE (source, fingerprint, starts_at, status), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq)
);

CREATE TABLE audit_events (
	seq INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor TEXT NOT NULL, 
	kind TEXT NOT NULL, 
	incident_seq INTEGER, 
	text TEXT NOT NULL, 
	detail JSON NOT NULL, 
	PRIMARY KEY (seq), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq)
);

CREATE INDEX ix_audit_incident ON audit_events (incident_seq, seq);

CREATE TABLE incident_alerts (
	incident_seq INTEGER NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	fingerprint TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME, 
	labels JSON NOT NULL, 
	annotations JSON NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (incident_seq, source, fingerprint), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq)
);

CREATE TABLE slack_channels (
	incident_seq INTEGER NOT NULL, 
	channel_id TEXT NOT NULL, 
	name TEXT NOT NULL, 
	status_ts TEXT NOT NULL, 
	status_digest TEXT DEFAULT '' NOT NULL, 
	topic TEXT DEFAULT '' NOT NULL, 
	timeline_seq INTEGER DEFAULT '0' NOT NULL, 
	pinned BOOLEAN DEFAULT 0 NOT NULL, 
	graph_done BOOLEAN DEFAULT 0 NOT NULL, 
	report_done BOOLEAN DEFAULT 0 NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (incident_seq), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq)
);

CREATE TABLE runs (
	seq INTEGER NOT NULL, 
	incident_seq INTEGER NOT NULL, 
	playbook TEXT NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	target TEXT, 
	started_by TEXT NOT NULL, 
	params JSON NOT NULL, 
	trigger_alert_id INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	error TEXT, 
	PRIMARY KEY (seq), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq), 
	FOREIGN KEY(trigger_alert_id) REFERENCES alerts (id)
);

CREATE INDEX ix_runs_target_status ON runs (target, status);

CREATE TABLE approvals (
	seq INTEGER NOT NULL, 
	run_seq INTEGER NOT NULL, 
	step_id TEXT NOT NULL, 
	mode VARCHAR(8) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	required INTEGER DEFAULT '1' NOT NULL, 
	four_eyes BOOLEAN DEFAULT 0 NOT NULL, 
	prompt TEXT DEFAULT '' NOT NULL, 
	reason TEXT, 
	on_timeout VARCHAR(16) DEFAULT 'reject' NOT NULL, 
	escalated BOOLEAN DEFAULT 0 NOT NULL, 
	requested_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	decided_by TEXT, 
	decided_at DATETIME, 
	PRIMARY KEY (seq), 
	FOREIGN KEY(run_seq) REFERENCES runs (seq)
);

CREATE TABLE silences (
	id TEXT NOT NULL, 
	incident_seq INTEGER NOT NULL, 
	run_seq INTEGER, 
	step_id TEXT NOT NULL, 
	matchers JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	expired_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq), 
	FOREIGN KEY(run_seq) REFERENCES runs (seq)
);

CREATE INDEX ix_silences_incident ON silences (incident_seq);

CREATE TABLE steps (
	seq INTEGER NOT NULL, 
	run_seq INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	step_id TEXT NOT NULL, 
	action TEXT NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	dry_run BOOLEAN DEFAULT 0 NOT NULL, 
	output JSON, 
	error TEXT, 
	started_at DATETIME, 
	finished_at DATETIME, 
	PRIMARY KEY (seq), 
	CONSTRAINT uq_steps_run_step UNIQUE (run_seq, step_id), 
	FOREIGN KEY(run_seq) REFERENCES runs (seq)
);

CREATE TABLE approval_decisions (
	approval_seq INTEGER NOT NULL, 
	user TEXT NOT NULL, 
	decision VARCHAR(8) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (approval_seq, user), 
	FOREIGN KEY(approval_seq) REFERENCES approvals (seq)
);

CREATE TABLE slack_approval_messages (
	approval_seq INTEGER NOT NULL, 
	incident_seq INTEGER NOT NULL, 
	channel_id TEXT NOT NULL, 
	ts TEXT NOT NULL, 
	digest TEXT DEFAULT '' NOT NULL, 
	PRIMARY KEY (approval_seq), 
	FOREIGN KEY(approval_seq) REFERENCES approvals (seq), 
	FOREIGN KEY(incident_seq) REFERENCES incidents (seq)
);

CREATE INDEX ix_slack_approval_messages_incident ON slack_approval_messages (incident_seq);

INSERT INTO schema_version (version, applied_at) VALUES (1, '2026-11-30 12:00:00');
