-- Report functions: SQL over the rollup tables (source => 'rollup', the
-- default) or over the same rows computed from the raw tables (source =>
-- 'raw': the _fact_* functions; for checks and the benchmark). Each
-- function checks its arguments in C first (_report_check: tenant access,
-- quarter-hour range, bucket, group_by) and returns one row per bucket
-- ('hour' or 'day' in the tenant's time zone, or 'total') and group;
-- dimensions not grouped by are NULL. Definitions: docs/reports.md.

CREATE FUNCTION helpdesk._report_check(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[], bucket text, allowed text[])
RETURNS text LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_report_check';
COMMENT ON FUNCTION helpdesk._report_check IS
	'Internal: checks a report''s arguments (tenant, whole quarter hours, at most 400 days, bucket hour/day/total, group_by among allowed) and returns the tenant''s time zone.';

-- The statement of a report: $1 tenant, $2 from, $3 to, $4 time zone.
-- dims: pairs of (group_by name, column); the column is NULL unless grouped.
-- null_when: per dimension the stored value meaning none ('0': a bigint id,
-- '': a text), returned as NULL. The day tier (day_table, which has the
-- dimensions day_dims) answers bucket day or total over whole local days.
CREATE FUNCTION helpdesk._report_query(rollup_table text, fact_function text, dims text[],
	null_when text[], measures text, group_by text[], bucket text, source text,
	day_table text, day_dims text[], tz text, "from" timestamptz, "to" timestamptz)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sel text;
	grp text := '1';
	i int;
	use_day boolean;
BEGIN
	IF source IS NULL OR source NOT IN ('rollup', 'raw') THEN
		RAISE EXCEPTION 'invalid source %', coalesce('"' || left(source, 64) || '"', 'NULL')
			USING ERRCODE = '22023', HINT = 'Use one of: rollup, raw.';
	END IF;
	use_day := source = 'rollup' AND day_table IS NOT NULL AND bucket IN ('day', 'total')
		AND group_by <@ day_dims
		AND "from" = date_trunc('day', "from" AT TIME ZONE tz) AT TIME ZONE tz
		AND "to" = date_trunc('day', "to" AT TIME ZONE tz) AT TIME ZONE tz;
	sel := CASE
		WHEN bucket = 'total' THEN '$2'
		WHEN use_day THEN '(r.day::timestamp AT TIME ZONE $4)'
		ELSE format('(date_trunc(%L, r.bucket AT TIME ZONE $4) AT TIME ZONE $4)', bucket) END;
	-- the day tier groups by its date and converts each group's day to an
	-- instant once, not each row's (a 30-day report reads thousands of rows)
	IF use_day AND bucket = 'day' THEN
		grp := 'r.day';
	END IF;
	FOR i IN 1 .. array_length(dims, 1) / 2 LOOP
		IF dims[2 * i - 1] = ANY (group_by) THEN
			sel := sel || format(', nullif(r.%I, %L)', dims[2 * i], null_when[i]);
			grp := grp || ', ' || (i + 1);
		ELSE
			sel := sel || CASE null_when[i] WHEN '0' THEN ', NULL::bigint' ELSE ', NULL::text' END;
		END IF;
	END LOOP;
	RETURN format('SELECT %s, %s FROM %s GROUP BY %s ORDER BY %s', sel, measures,
		CASE
			WHEN use_day THEN format('helpdesk.%I r WHERE r.tenant_id = $1 AND r.day >= ($2 AT TIME ZONE $4)::date '
			                         'AND r.day < ($3 AT TIME ZONE $4)::date', day_table)
			WHEN source = 'rollup' THEN format('helpdesk.%I r WHERE r.tenant_id = $1 AND r.bucket >= $2 AND r.bucket < $3',
			                          rollup_table)
			ELSE format('helpdesk.%I($1, $2, $3) r', fact_function) END,
		grp, grp);
END $$;
COMMENT ON FUNCTION helpdesk._report_query IS
	'Internal: the SQL of a report over a rollup table (its day tier when that answers it) or its raw twin, grouped by bucket and the dimensions asked for.';

CREATE FUNCTION helpdesk.report_sessions(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, agent_id bigint, issue_type text,
	channel text, sessions bigint, bot_sessions bigint, bot_resolved bigint, bot_handoffs bigint,
	queued bigint, answered bigint, resolved bigint, escalated bigint, abandoned bigint,
	short_abandoned bigint, sl_eligible bigint, sl_met bigint, service_level numeric,
	abandonment_rate numeric, bot_resolution_rate numeric, bot_handoff_rate numeric,
	first_response_count bigint, first_response_avg_s numeric, wait_count bigint, wait_avg_s numeric,
	handle_count bigint, handle_avg_s numeric, reply_count bigint, reply_avg_s numeric,
	abandon_wait_avg_s numeric, transfers bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_session', '_fact_session',
		'{queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{0,0,"",""}',
		$m$sum(r.sessions)::bigint, sum(r.bot_sessions)::bigint, sum(r.bot_resolved)::bigint,
		   sum(r.bot_handoffs)::bigint, sum(r.queued)::bigint, sum(r.answered)::bigint,
		   sum(r.resolved)::bigint, sum(r.escalated)::bigint, sum(r.abandoned)::bigint,
		   sum(r.short_abandoned)::bigint, sum(r.sl_eligible)::bigint, sum(r.sl_met)::bigint,
		   round(sum(r.sl_met) / nullif(sum(r.sl_eligible), 0), 6),
		   round((sum(r.abandoned) - sum(r.short_abandoned)) / nullif(sum(r.queued) - sum(r.short_abandoned), 0), 6),
		   round(sum(r.bot_resolved) / nullif(sum(r.bot_sessions), 0), 6),
		   round(sum(r.bot_handoffs) / nullif(sum(r.bot_sessions), 0), 6),
		   sum(r.frt_count)::bigint, round(sum(r.frt_sum_us) / nullif(sum(r.frt_count), 0) / 1e6, 3),
		   sum(r.wait_count)::bigint, round(sum(r.wait_sum_us) / nullif(sum(r.wait_count), 0) / 1e6, 3),
		   sum(r.handle_count)::bigint, round(sum(r.handle_sum_us) / nullif(sum(r.handle_count), 0) / 1e6, 3),
		   sum(r.reply_count)::bigint, round(sum(r.reply_sum_us) / nullif(sum(r.reply_count), 0) / 1e6, 3),
		   round(sum(r.abandon_wait_sum_us) / nullif(sum(r.abandoned) - sum(r.short_abandoned), 0) / 1e6, 3),
		   sum(r.transfers)::bigint$m$,
		group_by, bucket, source, 'rollup_session_day', '{queue,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_sessions IS
	'Chat figures of a tenant''s sessions created in [from, to) (whole quarter hours, closed sessions only): volume, bot, abandonment, service level, first response, wait, handle and reply times, transfers; by hour or day in the tenant''s zone (or total) and by queue, agent, issue_type, channel. source => ''raw'' computes the same from the raw tables.';

CREATE FUNCTION helpdesk.report_agents(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{agent}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, agent_id bigint, queue_id bigint, issue_type text,
	channel text, assignments bigint,
	offers bigint, offers_accepted bigint, offers_declined bigint, offers_timed_out bigint,
	acceptance_rate numeric, held bigint, handle_time_s numeric, handle_avg_s numeric,
	transfers_out bigint, online_s numeric, occupancy_handling_s numeric, occupancy numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{agent,queue,issue_type,channel}');
	dims text[] := '{agent,agent_id,queue,queue_id,issue_type,issue_type,channel,channel}';
	-- by queue: the time online of the agents who handled in it (queue_online_us)
	online text := CASE WHEN 'queue' = ANY (group_by) THEN 'r.queue_online_us' ELSE 'r.online_us' END;
	m_offers text := $m$sum(r.assignments)::bigint, sum(r.offers)::bigint, sum(r.offers_accepted)::bigint,
			   sum(r.offers_declined)::bigint, sum(r.offers_timed_out)::bigint,
			   round(sum(r.offers_accepted) / nullif(sum(r.offers), 0), 6),
			   sum(r.held)::bigint, round(sum(r.held_sum_us) / 1e6, 3),
			   round(sum(r.held_sum_us) / nullif(sum(r.held), 0) / 1e6, 3),
			   sum(r.transfers_out)::bigint$m$;
	m_occupancy text := format('round(sum(%1$s) / 1e6, 3), round(sum(r.handling_us) / 1e6, 3), '
	                         'round(sum(r.handling_us) / nullif(sum(%1$s), 0), 6)', online);
BEGIN
	-- by issue type or channel: offers only (time online is not by channel);
	-- rollup_offer has them, its day tier not
	IF 'issue_type' = ANY (group_by) OR 'channel' = ANY (group_by) THEN
		RETURN QUERY EXECUTE format(
			'SELECT a.*, NULL::numeric, NULL::numeric, NULL::numeric FROM (%s) a',
			helpdesk._report_query('rollup_offer', '_fact_offer', dims, '{0,0,"",""}', m_offers,
				group_by, bucket, source, 'rollup_offer_day', '{agent,queue}', tz, "from", "to"))
		USING tenant_id, "from", "to", tz;
		RETURN;
	END IF;
	-- by day or total over whole local days: the agent day tiers hold both
	-- figures per agent (and queue) and day, one table to read and no join
	IF source = 'rollup' AND bucket IN ('day', 'total')
	   AND "from" = date_trunc('day', "from" AT TIME ZONE tz) AT TIME ZONE tz
	   AND "to" = date_trunc('day', "to" AT TIME ZONE tz) AT TIME ZONE tz THEN
		RETURN QUERY EXECUTE helpdesk._report_query('rollup_agent_day', '_fact_offer',
			dims, '{0,0,"",""}', m_offers || ', ' || m_occupancy,
			group_by, bucket, source,
			CASE WHEN 'queue' = ANY (group_by) THEN 'rollup_agent_queue_day' ELSE 'rollup_agent_day' END,
			'{agent,queue}', tz, "from", "to")
		USING tenant_id, "from", "to", tz;
		RETURN;
	END IF;
	-- offers (rollup_offer) and occupancy (rollup_occupancy) grouped alike, joined by group
	RETURN QUERY EXECUTE format(
		'SELECT coalesce(a.b, o.b), coalesce(a.ag, o.ag), coalesce(a.qu, o.qu), NULL::text, NULL::text, coalesce(a.n, 0), '
		'coalesce(a.offers, 0), coalesce(a.acc, 0), coalesce(a.dec, 0), coalesce(a.tmo, 0), a.rate, '
		'coalesce(a.held, 0), coalesce(a.hts, 0), a.havg, coalesce(a.tr, 0), '
		'coalesce(o.online_s, 0), coalesce(o.handling_s, 0), o.occ '
		'FROM (%s) a(b, ag, qu, it, ch, n, offers, acc, dec, tmo, rate, held, hts, havg, tr) '
		'FULL JOIN (%s) o(b, ag, qu, it, ch, online_s, handling_s, occ) '
		'ON o.b = a.b AND coalesce(o.ag, -1) = coalesce(a.ag, -1) AND coalesce(o.qu, -1) = coalesce(a.qu, -1) '
		'ORDER BY 1, 2, 3',
		helpdesk._report_query('rollup_offer', '_fact_offer',
			dims, '{0,0,"",""}', m_offers,
			group_by, bucket, source, 'rollup_offer_day', '{agent,queue}', tz, "from", "to"),
		helpdesk._report_query('rollup_occupancy', '_fact_occupancy',
			dims, '{0,0,"",""}', m_occupancy,
			group_by, bucket, source, 'rollup_occupancy_day', '{agent,queue}', tz, "from", "to"))
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_agents IS
	'Offers and assignments of closed sessions started in [from, to), by agent (default), queue, issue_type and channel (the session''s at close): offers accepted, declined, timed out, held assignments and their handling time, transfers out; and occupancy: time online (online or busy), handling time inside the buckets, and their ratio (by queue: over the time online of the agents who handled in it; NULL by issue_type or channel).';

CREATE FUNCTION helpdesk.report_tickets(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, agent_id bigint, issue_type text,
	channel text, created bigint, resolved bigint, backlog_change bigint,
	first_response_count bigint, first_response_avg_s numeric, resolution_avg_s numeric,
	resolution_business_avg_s numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_ticket', '_fact_ticket',
		'{queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{0,0,"",""}',
		$m$sum(r.created)::bigint, sum(r.resolved)::bigint, (sum(r.created) - sum(r.resolved))::bigint,
		   sum(r.frt_count)::bigint, round(sum(r.frt_sum_us) / nullif(sum(r.frt_count), 0) / 1e6, 3),
		   round(sum(r.resolution_sum_us) / nullif(sum(r.resolved), 0) / 1e6, 3),
		   round(sum(r.resolution_business_sum_us) / nullif(sum(r.resolved), 0) / 1e6, 3)$m$,
		group_by, bucket, source, 'rollup_ticket_day', '{queue,agent,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_tickets IS
	'Tickets created in [from, to) (with their first response) and resolved in it (resolution time in calendar and business time); by bucket and queue, agent (assignee), issue_type, channel.';

CREATE FUNCTION helpdesk.report_sla(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{policy,target}', bucket text DEFAULT 'total', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, policy_id bigint, target text, queue_id bigint, agent_id bigint,
	issue_type text, channel text, hit bigint, missed bigint, attainment numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{policy,target,queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_sla', '_fact_sla',
		'{policy,policy_id,target,target,queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}',
		'{0,"",0,0,"",""}',
		$m$sum(r.hit)::bigint, sum(r.missed)::bigint,
		   round(sum(r.hit) / nullif(sum(r.hit) + sum(r.missed), 0), 6)$m$,
		group_by, bucket, source, 'rollup_sla_day', '{policy,target}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_sla IS
	'SLA targets that stopped in [from, to): hit, missed and attainment by policy and target, and by the ticket''s queue, agent (assignee), issue_type and channel as it has them now.';

CREATE FUNCTION helpdesk.report_csat(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, target text, queue_id bigint, agent_id bigint,
	issue_type text, channel text, requested bigint, responded bigint, response_rate numeric, score_avg numeric,
	score_1 bigint, score_2 bigint, score_3 bigint, score_4 bigint, score_5 bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{target,queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_csat', '_fact_csat',
		'{target,target,queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{"",0,0,"",""}',
		$m$sum(r.requested)::bigint, sum(r.responded)::bigint,
		   round(sum(r.responded) / nullif(sum(r.requested), 0), 6),
		   round(sum(r.score_sum) / nullif(sum(r.responded), 0), 4),
		   sum(r.score_1)::bigint, sum(r.score_2)::bigint, sum(r.score_3)::bigint,
		   sum(r.score_4)::bigint, sum(r.score_5)::bigint$m$,
		group_by, bucket, source, 'rollup_csat_day', '{target,queue,agent}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_csat IS
	'Surveys asked in [from, to): asked, answered, response rate, average score and the distribution 1..5, by target (session, ticket), queue and agent, issue_type and channel (of the survey''s session or ticket).';

CREATE FUNCTION helpdesk.report_funnel(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'total', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, issue_type text, channel text,
	sessions bigint, bot bigint, queued bigint, answered bigint, resolved bigint, escalated bigint,
	abandoned bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_session', '_fact_session',
		'{queue,queue_id,issue_type,issue_type,channel,channel}', '{0,"",""}',
		$m$sum(r.sessions)::bigint, sum(r.bot_sessions)::bigint, sum(r.queued)::bigint,
		   sum(r.answered)::bigint, sum(r.resolved)::bigint, sum(r.escalated)::bigint,
		   (sum(r.abandoned) - sum(r.short_abandoned))::bigint$m$,
		group_by, bucket, source, 'rollup_session_day', '{queue,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_funnel IS
	'The funnel of sessions created in [from, to): all, through the bot, queued, answered (held by an agent), resolved in chat (answered, not escalated), escalated to a ticket, abandoned (not short).';
