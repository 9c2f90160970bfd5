-- Reports (P1 part, files 00..39): the settings the definitions need, the
-- rollup tables the rollup worker keeps from the event log, and its cursor.
-- Definitions: docs/reports.md. Buckets are quarter hours in UTC
-- (helpdesk._bucket): every time zone in use today is offset from UTC by a
-- multiple of 15 minutes, so a day or an hour in any tenant's zone is a
-- whole number of buckets.

ALTER TABLE helpdesk.tenant
	ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);
COMMENT ON COLUMN helpdesk.tenant.time_zone IS
	'IANA time zone the tenant''s reports count hours and days in (set_report_settings checks it).';

ALTER TABLE helpdesk.queue
	ADD COLUMN short_abandon interval NOT NULL DEFAULT '10 seconds'
		CHECK (short_abandon >= '0 seconds' AND short_abandon <= '1 hour'),
	ADD COLUMN service_level_threshold interval NOT NULL DEFAULT '60 seconds'
		CHECK (service_level_threshold > '0 seconds' AND service_level_threshold <= '1 day');
COMMENT ON COLUMN helpdesk.queue.short_abandon IS
	'Reports: a customer who leaves the queue within this long is a short abandon, left out of abandonment and service level.';
COMMENT ON COLUMN helpdesk.queue.service_level_threshold IS
	'Reports: a session answered (held by an agent) within this long after entering the queue meets the service level.';

-- the first time a session entered a queue (born queued: its creation; from
-- the bot: the hand-off); queued_at is overwritten by every requeue
ALTER TABLE helpdesk.session ADD COLUMN first_queued_at timestamptz;
COMMENT ON COLUMN helpdesk.session.first_queued_at IS
	'When the session first entered a queue (creation, or the bot hand-off / request_agent); first response, wait and service level count from here.';

-- what the rollup worker's bucket recomputes and the reports' raw variants read
CREATE INDEX session_by_created ON helpdesk.session (tenant_id, created_at);
CREATE INDEX session_assignment_by_started ON helpdesk.session_assignment (tenant_id, started_at);
CREATE INDEX session_assignment_by_session ON helpdesk.session_assignment (tenant_id, session_id);
CREATE INDEX ticket_by_created ON helpdesk.ticket (tenant_id, created_at);
CREATE INDEX ticket_by_resolved ON helpdesk.ticket (tenant_id, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX ticket_sla_by_stopped ON helpdesk.ticket_sla (tenant_id, stopped_at) WHERE outcome IS NOT NULL;

CREATE FUNCTION helpdesk._bucket(t timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.date_bin('15 minutes', t, '2000-01-01 00:00:00+00');
COMMENT ON FUNCTION helpdesk._bucket IS
	'The rollup bucket of an instant: its quarter hour in UTC.';

-- Session facts: one row per closed session, counted in the bucket of its
-- creation, under the queue and agent it had when it closed.
CREATE TABLE helpdesk.rollup_session (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	sessions     bigint NOT NULL CHECK (sessions > 0),
	bot_sessions bigint NOT NULL,
	bot_resolved bigint NOT NULL,
	bot_handoffs bigint NOT NULL,
	queued       bigint NOT NULL,
	answered     bigint NOT NULL,
	resolved     bigint NOT NULL,
	escalated    bigint NOT NULL,
	abandoned    bigint NOT NULL,
	short_abandoned bigint NOT NULL,
	sl_eligible  bigint NOT NULL,
	sl_met       bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	wait_count   bigint NOT NULL,
	wait_sum_us  bigint NOT NULL,
	handle_count bigint NOT NULL,
	handle_sum_us bigint NOT NULL,
	reply_count  bigint NOT NULL,
	reply_sum_us bigint NOT NULL,
	abandon_wait_sum_us bigint NOT NULL,
	transfers    bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (bot_sessions <= sessions AND queued <= sessions AND answered <= queued
	       AND sl_met <= sl_eligible AND short_abandoned <= abandoned)
);
COMMENT ON TABLE helpdesk.rollup_session IS
	'Additive session figures per quarter hour (UTC) of creation, tenant, queue, agent, issue type and channel; closed sessions only. Kept by the rollup worker, recomputed by rebuild_rollups; definitions in docs/reports.md.';
COMMENT ON COLUMN helpdesk.rollup_session.queue_id IS 'The session''s queue when it closed; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_session.agent_id IS 'The agent holding it when it closed; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_session.issue_type IS 'The session''s issue type; empty: none.';
COMMENT ON COLUMN helpdesk.rollup_session.frt_sum_us IS 'Sum of first response times in microseconds (frt_count sessions).';
COMMENT ON COLUMN helpdesk.rollup_session.sl_eligible IS 'Queued sessions less short abandons: the service level''s denominator.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_session', '');

-- Offer and assignment facts of closed sessions, in the bucket the offer or
-- assignment started, under its agent and queue.
CREATE TABLE helpdesk.rollup_offer (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id > 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	assignments  bigint NOT NULL CHECK (assignments > 0),
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (offers_accepted + offers_declined + offers_timed_out <= offers)
);
COMMENT ON TABLE helpdesk.rollup_offer IS
	'Additive offer and assignment figures of closed sessions per quarter hour (UTC) the offer or assignment started, tenant, queue and agent (the assignment''s), issue type and channel (the session''s at close).';
COMMENT ON COLUMN helpdesk.rollup_offer.issue_type IS 'The session''s issue type when it closed; empty: none.';
COMMENT ON COLUMN helpdesk.rollup_offer.held IS 'Assignments the agent held (accepted offers, direct assignments, claims).';
COMMENT ON COLUMN helpdesk.rollup_offer.held_sum_us IS 'Sum of accepted -> ended of held assignments, microseconds (the agent''s handling time).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_offer', '');

-- Ticket facts: created (and first response) in the bucket of creation,
-- resolved (and resolution times) in the bucket of resolved_at.
CREATE TABLE helpdesk.rollup_ticket (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	created      bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	resolved     bigint NOT NULL,
	resolution_sum_us bigint NOT NULL,
	resolution_business_sum_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (created > 0 OR resolved > 0)
);
COMMENT ON TABLE helpdesk.rollup_ticket IS
	'Additive ticket figures per quarter hour (UTC): created and first response by creation, resolved and resolution time (calendar and business) by resolved_at; dimensions as the ticket has them now.';
COMMENT ON COLUMN helpdesk.rollup_ticket.agent_id IS 'The assignee; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_ticket.resolution_business_sum_us IS
	'Sum of business_time_between(created, resolved) under the calendar of the ticket''s SLA policy (24/7 without one), microseconds.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket', '');

CREATE TABLE helpdesk.rollup_sla (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	policy_id    bigint NOT NULL CHECK (policy_id >= 0),
	target       text NOT NULL CHECK (target IN ('first_response', 'next_response', 'resolution')),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	hit          bigint NOT NULL,
	missed       bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, policy_id, target, queue_id, agent_id, issue_type, channel),
	CHECK (hit + missed > 0)
);
COMMENT ON TABLE helpdesk.rollup_sla IS
	'SLA targets that stopped with an outcome, per quarter hour (UTC) of stopped_at, policy and target, and the ticket''s queue, assignee, issue type and channel as it has them now.';
COMMENT ON COLUMN helpdesk.rollup_sla.policy_id IS 'The policy of the clock; 0: none (the policy was deleted).';
COMMENT ON COLUMN helpdesk.rollup_sla.agent_id IS 'The ticket''s assignee; 0: none.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_sla', '');

CREATE TABLE helpdesk.rollup_csat (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	target       text NOT NULL CHECK (target IN ('session', 'ticket')),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	requested    bigint NOT NULL CHECK (requested > 0),
	responded    bigint NOT NULL,
	score_sum    bigint NOT NULL,
	score_1      bigint NOT NULL,
	score_2      bigint NOT NULL,
	score_3      bigint NOT NULL,
	score_4      bigint NOT NULL,
	score_5      bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, target, queue_id, agent_id, issue_type, channel),
	CHECK (responded <= requested AND score_1 + score_2 + score_3 + score_4 + score_5 = responded)
);
COMMENT ON TABLE helpdesk.rollup_csat IS
	'Surveys per quarter hour (UTC) they were asked, target, queue and agent (the survey''s), issue type and channel (its session''s or ticket''s): asked, answered, score sum and distribution.';
COMMENT ON COLUMN helpdesk.rollup_csat.issue_type IS 'The issue type of the survey''s session or ticket (a ticket''s as it is now); empty: none.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_csat', '');

-- a ticket's facts move between buckets (a reopen clears resolved_at, an
-- SLA clock stops later): the buckets it was last counted in, so the worker
-- recomputes the old ones too
CREATE TABLE helpdesk.rollup_ticket_seen (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	ticket_id    bigint NOT NULL,
	buckets      timestamptz[] NOT NULL CHECK (cardinality(buckets) BETWEEN 1 AND 10000),
	PRIMARY KEY (tenant_id, ticket_id)
);
COMMENT ON TABLE helpdesk.rollup_ticket_seen IS
	'The buckets each ticket was counted in at its last rollup, so a change that moves a fact (reopen, SLA stop) recomputes the bucket it left.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket_seen', '');

CREATE TABLE helpdesk.rollup_cursor (
	id          boolean PRIMARY KEY DEFAULT true CHECK (id),
	position    bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
	log_id      uuid,
	updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO helpdesk.rollup_cursor DEFAULT VALUES;
COMMENT ON TABLE helpdesk.rollup_cursor IS
	'How far the rollup worker has read the event log (a position of helpdesk.event_log_id()); moved in the transaction that writes the rollups.';

-- Message retention (70_retention.sql) deletes a tenant's old messages, from
-- which the session figures of their buckets were computed: the buckets
-- before the tenant's horizon are kept as they are and never recomputed
-- (_rollup_recompute skips them, rebuild_rollups refuses them). Retention
-- moves it to its cutoff (rounded up to a quarter hour) in the transaction
-- that deletes.
CREATE TABLE helpdesk.rollup_horizon (
	tenant_id    bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	horizon      timestamptz NOT NULL CHECK (horizon = helpdesk._bucket(horizon)),
	updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.rollup_horizon IS
	'Per tenant: rollup buckets before horizon are kept and never recomputed (message retention pruned the raw rows they were computed from). Moved forward only, by retention.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_horizon', '');
