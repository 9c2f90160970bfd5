-- Occupancy (handling time / time online): the history of agent status the
-- rollup worker records from the event log's agent.status events (not a
-- trigger: a status change's transaction writes nothing more), and the
-- quarter-hour rollup of time online and handling time. Definitions:
-- docs/reports.md "Occupancy".

CREATE TABLE helpdesk.agent_status_interval (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	agent_id     bigint NOT NULL,
	event_id     bigint NOT NULL,
	status       text NOT NULL CHECK (status IN ('online', 'away', 'busy', 'offline')),
	started_at   timestamptz NOT NULL,
	ended_at     timestamptz,
	PRIMARY KEY (tenant_id, agent_id, event_id),
	CHECK (ended_at >= started_at)
);
COMMENT ON TABLE helpdesk.agent_status_interval IS
	'Agent status history: one row per agent.status event (its status from that event until the agent''s next one), written by the rollup worker from the event log. Kept when events are pruned.';
COMMENT ON COLUMN helpdesk.agent_status_interval.event_id IS 'The agent.status event (audience agent) that started the interval.';
COMMENT ON COLUMN helpdesk.agent_status_interval.started_at IS
	'The event''s created_at, or the previous interval''s start when that is later (a transaction that started earlier committed its change later).';
COMMENT ON COLUMN helpdesk.agent_status_interval.ended_at IS 'Start of the agent''s next interval; NULL: the current status.';
CREATE UNIQUE INDEX agent_status_interval_open ON helpdesk.agent_status_interval (tenant_id, agent_id)
	WHERE ended_at IS NULL;
CREATE INDEX agent_status_interval_by_ended ON helpdesk.agent_status_interval (tenant_id, ended_at);
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent_status_interval', '');

-- what an occupancy bucket recompute reads: held assignments by their end
CREATE INDEX session_assignment_by_ended ON helpdesk.session_assignment (tenant_id, ended_at)
	WHERE accepted_at IS NOT NULL;

-- Per quarter hour (UTC), tenant, agent and queue: the agent's time online
-- in the bucket (on the queue 0 row only) and its handling time in the
-- queue's sessions; queue_online_us repeats the agent's time online on each
-- row where it handled (a queue's occupancy: its handling time over the
-- time online of the agents who handled it, bucket by bucket).
CREATE TABLE helpdesk.rollup_occupancy (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	agent_id     bigint NOT NULL CHECK (agent_id > 0),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	online_us    bigint NOT NULL CHECK (online_us BETWEEN 0 AND 900000000),
	handling_us  bigint NOT NULL CHECK (handling_us >= 0),
	queue_online_us bigint NOT NULL CHECK (queue_online_us BETWEEN 0 AND 900000000),
	PRIMARY KEY (tenant_id, bucket, agent_id, queue_id),
	CHECK (queue_id = 0 OR online_us = 0),
	CHECK (online_us > 0 OR handling_us > 0)
);
COMMENT ON TABLE helpdesk.rollup_occupancy IS
	'Occupancy figures per quarter hour (UTC), tenant, agent and queue: time online (status online or busy, ended intervals) and handling time (held assignments of closed sessions), both the part inside the bucket.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.queue_id IS 'The assignments'' queue; 0: none, and the row that carries online_us.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.online_us IS 'The agent''s time online inside the bucket, microseconds (queue 0 row only).';
COMMENT ON COLUMN helpdesk.rollup_occupancy.handling_us IS
	'Sum over the agent''s held assignments in the queue of their time inside the bucket (concurrent chats each count), microseconds.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.queue_online_us IS
	'The agent''s time online inside the bucket when it handled in this queue in the bucket, else 0 (denominator of a queue''s occupancy).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_occupancy', '');
