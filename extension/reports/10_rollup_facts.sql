-- The raw truth: each rollup table's rows for a tenant and a range of
-- buckets, computed straight from the raw tables (session, message,
-- session_assignment, ticket, ticket_sla, csat). The rollup worker and
-- rebuild_rollups store exactly these rows; the reports' source => 'raw'
-- aggregates them instead of the stored ones. Definitions: docs/reports.md.

-- microseconds from a to b, exactly (NULL when either is)
CREATE FUNCTION helpdesk._us(a timestamptz, b timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (EXTRACT(epoch FROM b - a) * 1000000)::bigint;
COMMENT ON FUNCTION helpdesk._us IS 'Whole microseconds from a to b (reports'' sums).';

-- one row per closed session created in [b0, b1)
CREATE FUNCTION helpdesk._session_facts(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS TABLE (tenant_id bigint, session_id bigint, bucket timestamptz, queue_id bigint,
	agent_id bigint, issue_type text, channel text, bot boolean, bot_resolved boolean,
	bot_handoff boolean, queued boolean, answered boolean, resolved boolean, escalated boolean,
	abandoned boolean, short_abandoned boolean, sl_eligible boolean, sl_met boolean,
	frt_us bigint, wait_us bigint, handle_us bigint, reply_count bigint, reply_sum_us bigint,
	abandon_wait_us bigint, transfers bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.tenant_id, s.id, helpdesk._bucket(s.created_at),
	       coalesce(s.queue_id, 0), coalesce(s.agent_id, 0), coalesce(s.issue_type, ''), s.channel,
	       s.first_queued_at IS DISTINCT FROM s.created_at OR s.bot_handoff_at IS NOT NULL,
	       s.first_queued_at IS NULL,
	       s.first_queued_at > s.created_at OR s.bot_handoff_at IS NOT NULL,
	       s.first_queued_at IS NOT NULL,
	       a.first_held IS NOT NULL,
	       a.first_held IS NOT NULL AND NOT esc.e,
	       esc.e,
	       ab.ab,
	       ab.ab AND s.closed_at - s.first_queued_at < coalesce(q.short_abandon, '10 seconds'),
	       s.first_queued_at IS NOT NULL
	         AND NOT (ab.ab AND s.closed_at - s.first_queued_at < coalesce(q.short_abandon, '10 seconds')),
	       a.first_held IS NOT NULL
	         AND a.first_held - s.first_queued_at <= coalesce(q.service_level_threshold, '60 seconds'),
	       helpdesk._us(s.first_queued_at, fr.first_reply),
	       helpdesk._us(s.first_queued_at, a.first_held),
	       helpdesk._us(a.first_held, s.closed_at),
	       rp.n, rp.sum_us,
	       CASE WHEN ab.ab THEN helpdesk._us(s.first_queued_at, s.closed_at) END,
	       a.transfers
	FROM helpdesk.session s
	LEFT JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id
	CROSS JOIN LATERAL (
		SELECT min(sa.accepted_at) AS first_held,
		       count(*) FILTER (WHERE sa.end_reason = 'transferred') AS transfers
		FROM helpdesk.session_assignment sa
		WHERE sa.tenant_id = s.tenant_id AND sa.session_id = s.id) a
	CROSS JOIN LATERAL (
		SELECT min(m.created_at) AS first_reply
		FROM helpdesk.message m
		WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id AND m.sender_kind = 'agent'
		  AND s.first_queued_at IS NOT NULL) fr
	CROSS JOIN LATERAL (
		-- reply pairs: the first customer message after an agent message (or
		-- the queue entry) and the next agent message; g = agent messages before
		SELECT count(*) AS n, coalesce(sum(helpdesk._us(p.customer_at, p.agent_at)), 0) AS sum_us
		FROM (SELECT min(g.created_at) FILTER (WHERE g.sender_kind = 'customer') AS customer_at,
		             min(g.created_at) FILTER (WHERE g.sender_kind = 'agent') AS agent_at
		      FROM (SELECT m.sender_kind, m.created_at,
		                   count(*) FILTER (WHERE m.sender_kind = 'agent')
		                     OVER (ORDER BY m.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS grp
		            FROM helpdesk.message m
		            WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id
		              AND m.sender_kind IN ('customer', 'agent')
		              AND m.created_at >= s.first_queued_at) g
		      GROUP BY g.grp) p
		WHERE p.customer_at IS NOT NULL AND p.agent_at IS NOT NULL) rp
	CROSS JOIN LATERAL (
		SELECT EXISTS (SELECT 1 FROM helpdesk.ticket tk
		               WHERE tk.tenant_id = s.tenant_id AND tk.session_id = s.id) AS e) esc
	CROSS JOIN LATERAL (
		SELECT s.first_queued_at IS NOT NULL AND a.first_held IS NULL
		       AND s.closed_by = 'customer' AS ab) ab
	WHERE s.tenant_id = t AND s.created_at >= b0 AND s.created_at < b1 AND s.state = 'closed';
END;
COMMENT ON FUNCTION helpdesk._session_facts IS
	'Raw truth: the report figures of each closed session created in [b0, b1) (docs/reports.md).';

CREATE FUNCTION helpdesk._fact_session(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_session
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT f.tenant_id, f.bucket, f.queue_id, f.agent_id, f.issue_type, f.channel,
	       count(*), count(*) FILTER (WHERE f.bot), count(*) FILTER (WHERE f.bot_resolved),
	       count(*) FILTER (WHERE f.bot_handoff), count(*) FILTER (WHERE f.queued),
	       count(*) FILTER (WHERE f.answered), count(*) FILTER (WHERE f.resolved),
	       count(*) FILTER (WHERE f.escalated), count(*) FILTER (WHERE f.abandoned),
	       count(*) FILTER (WHERE f.short_abandoned), count(*) FILTER (WHERE f.sl_eligible),
	       count(*) FILTER (WHERE f.sl_met),
	       count(f.frt_us), coalesce(sum(f.frt_us), 0),
	       count(f.wait_us), coalesce(sum(f.wait_us), 0),
	       count(f.handle_us), coalesce(sum(f.handle_us), 0),
	       sum(f.reply_count), sum(f.reply_sum_us),
	       coalesce(sum(f.abandon_wait_us) FILTER (WHERE NOT f.short_abandoned), 0),
	       sum(f.transfers)
	FROM helpdesk._session_facts(t, b0, b1) f
	GROUP BY f.tenant_id, f.bucket, f.queue_id, f.agent_id, f.issue_type, f.channel;
END;
COMMENT ON FUNCTION helpdesk._fact_session IS
	'Raw truth: rollup_session rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_offer(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_offer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT sa.tenant_id, helpdesk._bucket(sa.started_at), coalesce(sa.queue_id, 0), sa.agent_id,
	       coalesce(s.issue_type, ''), s.channel, count(*),
	       count(*) FILTER (WHERE sa.kind = 'offer'),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NOT NULL),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NULL AND sa.end_reason = 'declined'),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NULL AND sa.end_reason = 'timeout'),
	       count(*) FILTER (WHERE sa.accepted_at IS NOT NULL),
	       coalesce(sum(helpdesk._us(sa.accepted_at, sa.ended_at)) FILTER (WHERE sa.accepted_at IS NOT NULL), 0),
	       count(*) FILTER (WHERE sa.end_reason = 'transferred')
	FROM helpdesk.session_assignment sa
	JOIN helpdesk.session s ON s.tenant_id = sa.tenant_id AND s.id = sa.session_id
	WHERE sa.tenant_id = t AND sa.started_at >= b0 AND sa.started_at < b1 AND s.state = 'closed'
	GROUP BY 1, 2, 3, 4, 5, 6;
END;
COMMENT ON FUNCTION helpdesk._fact_offer IS
	'Raw truth: rollup_offer rows of a tenant for the buckets in [b0, b1) (assignments of closed sessions).';

CREATE FUNCTION helpdesk._fact_ticket(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_ticket
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT x.tenant_id, x.bucket, x.queue_id, x.agent_id, x.issue_type, x.channel,
	       sum(x.created), sum(x.frt_count), sum(x.frt_sum_us), sum(x.resolved),
	       sum(x.res_us), sum(x.res_business_us)
	FROM (
		SELECT tk.tenant_id, helpdesk._bucket(tk.created_at) AS bucket, coalesce(tk.queue_id, 0) AS queue_id,
		       coalesce(tk.assignee_id, 0) AS agent_id, coalesce(tk.issue_type, '') AS issue_type,
		       tk.channel, 1 AS created, (tk.first_response_at IS NOT NULL)::int AS frt_count,
		       coalesce(helpdesk._us(tk.created_at, tk.first_response_at), 0) AS frt_sum_us,
		       0 AS resolved, 0::bigint AS res_us, 0::bigint AS res_business_us
		FROM helpdesk.ticket tk
		WHERE tk.tenant_id = t AND tk.created_at >= b0 AND tk.created_at < b1
		UNION ALL
		SELECT tk.tenant_id, helpdesk._bucket(tk.resolved_at), coalesce(tk.queue_id, 0),
		       coalesce(tk.assignee_id, 0), coalesce(tk.issue_type, ''), tk.channel,
		       0, 0, 0, 1, helpdesk._us(tk.created_at, tk.resolved_at),
		       (EXTRACT(epoch FROM CASE WHEN p.calendar_id IS NULL THEN greatest(tk.resolved_at - tk.created_at, '0 s')
		                                 ELSE helpdesk.business_time_between(tk.tenant_id, p.calendar_id,
		                                                                     tk.created_at, tk.resolved_at) END)
		        * 1000000)::bigint
		FROM helpdesk.ticket tk
		LEFT JOIN helpdesk.sla_policy p ON p.tenant_id = tk.tenant_id AND p.id = tk.sla_policy_id
		WHERE tk.tenant_id = t AND tk.resolved_at >= b0 AND tk.resolved_at < b1) x
	GROUP BY 1, 2, 3, 4, 5, 6;
END;
COMMENT ON FUNCTION helpdesk._fact_ticket IS
	'Raw truth: rollup_ticket rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_sla(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_sla
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT ts.tenant_id, helpdesk._bucket(ts.stopped_at), coalesce(ts.policy_id, 0), ts.target,
	       coalesce(tk.queue_id, 0), coalesce(tk.assignee_id, 0), coalesce(tk.issue_type, ''), tk.channel,
	       count(*) FILTER (WHERE ts.outcome = 'hit'), count(*) FILTER (WHERE ts.outcome = 'missed')
	FROM helpdesk.ticket_sla ts
	JOIN helpdesk.ticket tk ON tk.tenant_id = ts.tenant_id AND tk.id = ts.ticket_id
	WHERE ts.tenant_id = t AND ts.stopped_at >= b0 AND ts.stopped_at < b1 AND ts.outcome IS NOT NULL
	GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
END;
COMMENT ON FUNCTION helpdesk._fact_sla IS
	'Raw truth: rollup_sla rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_csat(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_csat
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT c.tenant_id, helpdesk._bucket(c.requested_at), c.target, coalesce(c.queue_id, 0),
	       coalesce(c.agent_id, 0), coalesce(s.issue_type, tk.issue_type, ''), coalesce(s.channel, tk.channel),
	       count(*), count(c.score), coalesce(sum(c.score), 0),
	       count(*) FILTER (WHERE c.score = 1), count(*) FILTER (WHERE c.score = 2),
	       count(*) FILTER (WHERE c.score = 3), count(*) FILTER (WHERE c.score = 4),
	       count(*) FILTER (WHERE c.score = 5)
	FROM helpdesk.csat c
	LEFT JOIN helpdesk.session s ON c.target = 'session' AND s.tenant_id = c.tenant_id AND s.id = c.session_id
	LEFT JOIN helpdesk.ticket tk ON c.target = 'ticket' AND tk.tenant_id = c.tenant_id AND tk.id = c.ticket_id
	WHERE c.tenant_id = t AND c.requested_at >= b0 AND c.requested_at < b1
	GROUP BY 1, 2, 3, 4, 5, 6, 7;
END;
COMMENT ON FUNCTION helpdesk._fact_csat IS
	'Raw truth: rollup_csat rows of a tenant for the buckets in [b0, b1).';

-- The raw truth of rollup_occupancy for a tenant's buckets in [b0, b1):
-- ended status intervals (online, busy) and held assignments of closed
-- sessions, each cut to the quarter hours it overlaps.
CREATE FUNCTION helpdesk._fact_occupancy(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_occupancy
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH onl AS (
		SELECT i.agent_id, g.b,
		       sum(helpdesk._us(greatest(i.started_at, g.b), least(i.ended_at, g.b + interval '15 minutes'))) AS us
		FROM helpdesk.agent_status_interval i,
		     generate_series(greatest(helpdesk._bucket(i.started_at), b0),
		                     least(helpdesk._bucket(i.ended_at), b1 - interval '15 minutes'),
		                     interval '15 minutes') g(b)
		WHERE i.tenant_id = t AND i.ended_at > b0 AND i.started_at < b1
		  AND i.status IN ('online', 'busy') AND i.ended_at > i.started_at
		  AND i.ended_at > g.b AND i.started_at < g.b + interval '15 minutes'
		GROUP BY 1, 2),
	hold AS (
		SELECT sa.agent_id, coalesce(sa.queue_id, 0) AS queue_id, g.b,
		       sum(helpdesk._us(greatest(sa.accepted_at, g.b), least(sa.ended_at, g.b + interval '15 minutes'))) AS us
		FROM helpdesk.session_assignment sa
		JOIN helpdesk.session s ON s.tenant_id = sa.tenant_id AND s.id = sa.session_id,
		     generate_series(greatest(helpdesk._bucket(sa.accepted_at), b0),
		                     least(helpdesk._bucket(sa.ended_at), b1 - interval '15 minutes'),
		                     interval '15 minutes') g(b)
		WHERE sa.tenant_id = t AND sa.accepted_at IS NOT NULL AND sa.ended_at > b0 AND sa.accepted_at < b1
		  AND sa.ended_at > sa.accepted_at AND s.state = 'closed'
		  AND sa.ended_at > g.b AND sa.accepted_at < g.b + interval '15 minutes'
		GROUP BY 1, 2, 3),
	k AS (SELECT agent_id, 0::bigint AS queue_id, b FROM onl UNION SELECT agent_id, queue_id, b FROM hold)
	SELECT t, k.b, k.agent_id, k.queue_id,
	       CASE WHEN k.queue_id = 0 THEN coalesce(onl.us, 0) ELSE 0 END,
	       coalesce(hold.us, 0),
	       CASE WHEN hold.us > 0 THEN coalesce(onl.us, 0) ELSE 0 END
	FROM k
	LEFT JOIN onl ON onl.agent_id = k.agent_id AND onl.b = k.b
	LEFT JOIN hold ON hold.agent_id = k.agent_id AND hold.queue_id = k.queue_id AND hold.b = k.b
	WHERE (k.queue_id = 0 AND onl.us > 0) OR hold.us > 0;
END;
COMMENT ON FUNCTION helpdesk._fact_occupancy IS
	'Raw truth: rollup_occupancy rows of a tenant for the buckets in [b0, b1) (ended status intervals, held assignments of closed sessions).';

-- the buckets a ticket's facts fall in now
CREATE FUNCTION helpdesk._ticket_buckets(t bigint, ticket bigint)
RETURNS timestamptz[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT array_agg(DISTINCT b ORDER BY b) FROM (
		SELECT helpdesk._bucket(tk.created_at) FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.id = ticket
		UNION ALL
		SELECT helpdesk._bucket(tk.resolved_at) FROM helpdesk.ticket tk
		WHERE tk.tenant_id = t AND tk.id = ticket AND tk.resolved_at IS NOT NULL
		UNION ALL
		SELECT helpdesk._bucket(ts.stopped_at) FROM helpdesk.ticket_sla ts
		WHERE ts.tenant_id = t AND ts.ticket_id = ticket AND ts.outcome IS NOT NULL
		UNION ALL
		SELECT helpdesk._bucket(c.requested_at) FROM helpdesk.csat c
		WHERE c.tenant_id = t AND c.ticket_id = ticket) x(b);
END;
COMMENT ON FUNCTION helpdesk._ticket_buckets IS
	'The rollup buckets a ticket is counted in now (creation, resolution, SLA stops, surveys).';

-- where a recompute of a tenant's buckets from b0 on may start: not before
-- its horizon (rollup_horizon)
CREATE FUNCTION helpdesk._rollup_from(t bigint, b0 timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN greatest(b0, (SELECT h.horizon FROM helpdesk.rollup_horizon h WHERE h.tenant_id = t));
COMMENT ON FUNCTION helpdesk._rollup_from IS
	'Internal: b0, or the tenant''s rollup horizon when that is later (buckets before it are kept, never recomputed).';

-- Replace the stored rollups of a tenant's buckets in [b0, b1) by the raw
-- truth, except those before its horizon (kept). The worker runs it per
-- dirty bucket, rebuild_rollups per range.
CREATE FUNCTION helpdesk._rollup_recompute(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	DELETE FROM helpdesk.rollup_session r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_session SELECT * FROM helpdesk._fact_session(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_offer r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_offer SELECT * FROM helpdesk._fact_offer(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_ticket r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_ticket SELECT * FROM helpdesk._fact_ticket(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_sla r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_sla SELECT * FROM helpdesk._fact_sla(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_csat r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_csat SELECT * FROM helpdesk._fact_csat(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_occupancy r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_occupancy SELECT * FROM helpdesk._fact_occupancy(t, helpdesk._rollup_from(t, b0), b1);
END;
COMMENT ON FUNCTION helpdesk._rollup_recompute IS
	'Internal: replaces a tenant''s rollup rows of the buckets in [b0, b1) by the raw truth (_fact_*), from its rollup horizon on (earlier buckets are kept).';

-- tickets counted in a range get their seen buckets from the raw rows again
CREATE FUNCTION helpdesk._rollup_reseen(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH ids AS (
		SELECT tk.id FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.created_at >= b0 AND tk.created_at < b1
		UNION SELECT tk.id FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.resolved_at >= b0 AND tk.resolved_at < b1
		UNION SELECT ts.ticket_id FROM helpdesk.ticket_sla ts
		      WHERE ts.tenant_id = t AND ts.stopped_at >= b0 AND ts.stopped_at < b1 AND ts.outcome IS NOT NULL
		UNION SELECT c.ticket_id FROM helpdesk.csat c
		      WHERE c.tenant_id = t AND c.requested_at >= b0 AND c.requested_at < b1 AND c.ticket_id IS NOT NULL)
	INSERT INTO helpdesk.rollup_ticket_seen (tenant_id, ticket_id, buckets)
	SELECT t, ids.id, helpdesk._ticket_buckets(t, ids.id) FROM ids
	ON CONFLICT (tenant_id, ticket_id) DO UPDATE
	SET buckets = (SELECT array_agg(DISTINCT x ORDER BY x)
	               FROM unnest(helpdesk.rollup_ticket_seen.buckets || excluded.buckets) x);
END;
COMMENT ON FUNCTION helpdesk._rollup_reseen IS
	'Internal: adds the buckets each ticket counted in [b0, b1) is in now to its rollup_ticket_seen row (after those buckets were recomputed, so the row covers every bucket that counts the ticket).';

CREATE FUNCTION helpdesk.rebuild_rollups(tenant_id bigint, "from" timestamptz, "to" timestamptz)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_rebuild_rollups';
COMMENT ON FUNCTION helpdesk.rebuild_rollups IS
	'Recompute a tenant''s rollups for [from, to) (widened to whole quarter hours) from the raw rows; returns the buckets recomputed. At most 400 days per call.';

CREATE FUNCTION helpdesk.set_report_settings(tenant_id bigint, time_zone text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_report_settings';
COMMENT ON FUNCTION helpdesk.set_report_settings IS
	'The IANA time zone a tenant''s reports count hours and days in (default UTC). Zones whose offset is not a multiple of 15 minutes are refused.';

CREATE FUNCTION helpdesk.set_queue_report_settings(tenant_id bigint, queue_id bigint,
	short_abandon interval DEFAULT NULL, service_level_threshold interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_report_settings';
COMMENT ON FUNCTION helpdesk.set_queue_report_settings IS
	'A queue''s short_abandon (0 s .. 1 h, default 10 s) and service_level_threshold (1 s .. 1 day, default 60 s); NULL keeps the value. Applies to sessions closed afterwards (rebuild_rollups applies it to the past).';
