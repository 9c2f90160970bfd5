-- The day tier: each rollup table summed per day in the tenant's time zone
-- (tenant.time_zone), so a 30-day report reads 30 days of rows instead of
-- 2,880 quarter hours. Kept from the quarter-hour rows by the same step that
-- writes them (_rollup_days after the buckets of a step), rebuilt for the
-- whole tenant when its zone changes (set_report_settings). Reports use it
-- for bucket day or total when from and to are local midnights and the
-- dimensions asked for are in it; otherwise they read the quarter hours.

CREATE TABLE helpdesk.rollup_session_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	sessions     bigint NOT NULL,
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
	PRIMARY KEY (tenant_id, day, queue_id, issue_type, channel),
	CHECK (sessions >= 0)
);
COMMENT ON TABLE helpdesk.rollup_session_day IS
	'helpdesk.rollup_session summed per day in the tenant''s time zone, the agent dimension left out (report_sessions and report_funnel without agent).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_session_day', '');

CREATE TABLE helpdesk.rollup_offer_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, queue_id, agent_id),
	CHECK (assignments >= 0)
);
COMMENT ON TABLE helpdesk.rollup_offer_day IS
	'helpdesk.rollup_offer summed per day in the tenant''s time zone, the issue type and channel dimensions left out (report_agents by agent and queue).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_offer_day', '');

CREATE TABLE helpdesk.rollup_ticket_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	created      bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	resolved     bigint NOT NULL,
	resolution_sum_us bigint NOT NULL,
	resolution_business_sum_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, queue_id, agent_id, issue_type, channel),
	CHECK (created >= 0)
);
COMMENT ON TABLE helpdesk.rollup_ticket_day IS
	'helpdesk.rollup_ticket summed per day in the tenant''s time zone, all its dimensions.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket_day', '');

CREATE TABLE helpdesk.rollup_csat_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	target       text NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	requested    bigint NOT NULL,
	responded    bigint NOT NULL,
	score_sum    bigint NOT NULL,
	score_1      bigint NOT NULL,
	score_2      bigint NOT NULL,
	score_3      bigint NOT NULL,
	score_4      bigint NOT NULL,
	score_5      bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, target, queue_id, agent_id),
	CHECK (requested >= 0)
);
COMMENT ON TABLE helpdesk.rollup_csat_day IS
	'helpdesk.rollup_csat summed per day in the tenant''s time zone, the issue type and channel dimensions left out.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_csat_day', '');

CREATE TABLE helpdesk.rollup_occupancy_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	queue_id     bigint NOT NULL,
	online_us    bigint NOT NULL,
	handling_us  bigint NOT NULL,
	queue_online_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id, queue_id),
	CHECK (online_us >= 0 AND handling_us >= 0 AND queue_online_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_occupancy_day IS
	'helpdesk.rollup_occupancy summed per day in the tenant''s time zone, all its dimensions.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_occupancy_day', '');

CREATE TABLE helpdesk.rollup_sla_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	policy_id    bigint NOT NULL,
	target       text NOT NULL,
	hit          bigint NOT NULL,
	missed       bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, policy_id, target),
	CHECK (hit >= 0 AND missed >= 0)
);
COMMENT ON TABLE helpdesk.rollup_sla_day IS
	'helpdesk.rollup_sla summed per day in the tenant''s time zone, by policy and target only (report_sla''s default grouping).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_sla_day', '');

-- report_agents by agent (or for the tenant) and day: offers and occupancy
-- per agent and day, queues summed, in one row (the report reads one table
-- of 30 x agents rows instead of aggregating and full-joining both day
-- tables: EXPLAIN ANALYZE in docs/reports.md "The day tier")
CREATE TABLE helpdesk.rollup_agent_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	online_us    bigint NOT NULL,
	handling_us  bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id),
	CHECK (assignments >= 0 AND online_us >= 0 AND handling_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_agent_day IS
	'helpdesk.rollup_offer_day and helpdesk.rollup_occupancy_day summed per day and agent, the queue dimension left out (report_agents by agent or for the tenant, by day or total).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_agent_day', '');

-- the same by agent and queue (report_agents by queue: a queue's occupancy
-- is its handling time over queue_online_us, rollup_occupancy's)
CREATE TABLE helpdesk.rollup_agent_queue_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	queue_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	queue_online_us bigint NOT NULL,
	handling_us  bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id, queue_id),
	CHECK (assignments >= 0 AND queue_online_us >= 0 AND handling_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_agent_queue_day IS
	'helpdesk.rollup_offer_day and helpdesk.rollup_occupancy_day (its queue_online_us) in one row per day, agent and queue (report_agents by queue, by day or total).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_agent_queue_day', '');

-- Replace the day rows of the given local days of a tenant by the sums of
-- its quarter-hour rows.
CREATE FUNCTION helpdesk._rollup_days(t bigint, days date[])
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	DELETE FROM helpdesk.rollup_session_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_session_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.issue_type, r.channel, sum(r.sessions), sum(r.bot_sessions), sum(r.bot_resolved), sum(r.bot_handoffs), sum(r.queued), sum(r.answered), sum(r.resolved), sum(r.escalated), sum(r.abandoned), sum(r.short_abandoned), sum(r.sl_eligible), sum(r.sl_met), sum(r.frt_count), sum(r.frt_sum_us), sum(r.wait_count), sum(r.wait_sum_us), sum(r.handle_count), sum(r.handle_sum_us), sum(r.reply_count), sum(r.reply_sum_us), sum(r.abandon_wait_sum_us), sum(r.transfers)
	FROM helpdesk.rollup_session r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5;
	DELETE FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_offer_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.agent_id, sum(r.assignments), sum(r.offers), sum(r.offers_accepted), sum(r.offers_declined), sum(r.offers_timed_out), sum(r.held), sum(r.held_sum_us), sum(r.transfers_out)
	FROM helpdesk.rollup_offer r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_ticket_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_ticket_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.agent_id, r.issue_type, r.channel, sum(r.created), sum(r.frt_count), sum(r.frt_sum_us), sum(r.resolved), sum(r.resolution_sum_us), sum(r.resolution_business_sum_us)
	FROM helpdesk.rollup_ticket r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5, 6;
	DELETE FROM helpdesk.rollup_csat_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_csat_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.target, r.queue_id, r.agent_id, sum(r.requested), sum(r.responded), sum(r.score_sum), sum(r.score_1), sum(r.score_2), sum(r.score_3), sum(r.score_4), sum(r.score_5)
	FROM helpdesk.rollup_csat r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5;
	DELETE FROM helpdesk.rollup_sla_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_sla_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.policy_id, r.target, sum(r.hit), sum(r.missed)
	FROM helpdesk.rollup_sla r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_occupancy_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.agent_id, r.queue_id, sum(r.online_us), sum(r.handling_us), sum(r.queue_online_us)
	FROM helpdesk.rollup_occupancy r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_agent_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_agent_day
	SELECT x.tenant_id, x.day, x.agent_id, sum(x.assignments), sum(x.offers), sum(x.offers_accepted), sum(x.offers_declined), sum(x.offers_timed_out), sum(x.held), sum(x.held_sum_us), sum(x.transfers_out), sum(x.online_us), sum(x.handling_us)
	FROM (SELECT r.tenant_id, r.day, r.agent_id, r.assignments, r.offers, r.offers_accepted, r.offers_declined, r.offers_timed_out, r.held, r.held_sum_us, r.transfers_out, 0 AS online_us, 0 AS handling_us
	      FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days)
	      UNION ALL
	      SELECT r.tenant_id, r.day, r.agent_id, 0, 0, 0, 0, 0, 0, 0, 0, r.online_us, r.handling_us
	      FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days)) x
	GROUP BY 1, 2, 3;
	DELETE FROM helpdesk.rollup_agent_queue_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_agent_queue_day
	SELECT x.tenant_id, x.day, x.agent_id, x.queue_id, sum(x.assignments), sum(x.offers), sum(x.offers_accepted), sum(x.offers_declined), sum(x.offers_timed_out), sum(x.held), sum(x.held_sum_us), sum(x.transfers_out), sum(x.queue_online_us), sum(x.handling_us)
	FROM (SELECT r.tenant_id, r.day, r.agent_id, r.queue_id, r.assignments, r.offers, r.offers_accepted, r.offers_declined, r.offers_timed_out, r.held, r.held_sum_us, r.transfers_out, 0 AS queue_online_us, 0 AS handling_us
	      FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days)
	      UNION ALL
	      SELECT r.tenant_id, r.day, r.agent_id, r.queue_id, 0, 0, 0, 0, 0, 0, 0, 0, r.queue_online_us, r.handling_us
	      FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days)) x
	GROUP BY 1, 2, 3, 4;
END;
COMMENT ON FUNCTION helpdesk._rollup_days IS
	'Internal: the day tier of a tenant''s given local days, summed from the quarter-hour rollups.';

-- the local days that [b0, b1) touches in the tenant's zone
CREATE FUNCTION helpdesk._local_days(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS date[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT array_agg(d::date ORDER BY d)
	FROM helpdesk.tenant tn,
	     generate_series((b0 AT TIME ZONE tn.time_zone)::date::timestamp,
	                     ((b1 - interval '1 microsecond') AT TIME ZONE tn.time_zone)::date::timestamp,
	                     interval '1 day') d
	WHERE tn.id = t;
END;
COMMENT ON FUNCTION helpdesk._local_days IS
	'Internal: the days in the tenant''s time zone that the instants of [b0, b1) fall on.';
