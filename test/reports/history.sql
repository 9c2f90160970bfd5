-- Random history for the reports equality test (test/e2e/reports_equality.sh),
-- driven through the SQL API. Test-only path: after a conversation has ended
-- through the API, reports_backdate() moves its timestamps (uniformly, plus an
-- extra wait before the agent took it) so the history spans days, DST changes
-- and long waits that a test cannot wait for. It runs while the rollup worker
-- is paused, so the worker only ever sees the moved rows.

CREATE TABLE IF NOT EXISTS public.rh_tenant (tenant_id bigint PRIMARY KEY, zone text, bot boolean);

-- shift one closed session's rows: everything by -shift, what happened up to
-- the first hold (or the close, when never held) by a further -extra_wait
CREATE OR REPLACE PROCEDURE public.reports_backdate(t bigint, s bigint, shift interval, extra_wait interval)
LANGUAGE plpgsql AS $$
DECLARE
	held timestamptz;
	cut timestamptz;
BEGIN
	SELECT min(accepted_at) INTO held FROM helpdesk.session_assignment WHERE tenant_id = t AND session_id = s;
	SELECT coalesce(held, closed_at) INTO cut FROM helpdesk.session WHERE tenant_id = t AND id = s;
	UPDATE helpdesk.session SET
		created_at = created_at - shift - CASE WHEN created_at < cut THEN extra_wait ELSE '0' END,
		first_queued_at = first_queued_at - shift - CASE WHEN first_queued_at < cut THEN extra_wait ELSE '0' END,
		queued_at = queued_at - shift - CASE WHEN queued_at < cut THEN extra_wait ELSE '0' END,
		bot_handoff_at = bot_handoff_at - shift - CASE WHEN bot_handoff_at < cut THEN extra_wait ELSE '0' END,
		assigned_at = assigned_at - shift,
		closed_at = closed_at - shift
	WHERE tenant_id = t AND id = s;
	UPDATE helpdesk.message SET
		created_at = created_at - shift - CASE WHEN created_at < cut THEN extra_wait ELSE '0' END
	WHERE tenant_id = t AND session_id = s;
	UPDATE helpdesk.session_assignment SET
		started_at = started_at - shift - CASE WHEN started_at < cut THEN extra_wait ELSE '0' END,
		accepted_at = accepted_at - shift,
		ended_at = ended_at - shift - CASE WHEN ended_at < cut THEN extra_wait ELSE '0' END
	WHERE tenant_id = t AND session_id = s;
	UPDATE helpdesk.csat SET requested_at = requested_at - shift, expires_at = expires_at - shift,
		submitted_at = submitted_at - shift
	WHERE tenant_id = t AND session_id = s;
END $$;

-- a ticket: everything by -shift, its creation (and the clocks started then) by a further -age
CREATE OR REPLACE PROCEDURE public.reports_backdate_ticket(t bigint, k bigint, shift interval, age interval)
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE helpdesk.ticket_sla ts SET started_at = ts.started_at - age
	FROM helpdesk.ticket tk
	WHERE ts.tenant_id = t AND ts.ticket_id = k AND tk.tenant_id = t AND tk.id = k AND ts.started_at = tk.created_at;
	UPDATE helpdesk.ticket SET created_at = created_at - age WHERE tenant_id = t AND id = k;
	UPDATE helpdesk.ticket SET created_at = created_at - shift, updated_at = updated_at - shift,
		first_response_at = first_response_at - shift, resolved_at = resolved_at - shift,
		closed_at = closed_at - shift, last_customer_at = last_customer_at - shift,
		last_agent_at = last_agent_at - shift
	WHERE tenant_id = t AND id = k;
	UPDATE helpdesk.ticket_sla SET started_at = started_at - shift, stopped_at = stopped_at - shift,
		running_since = running_since - shift, warn_at = warn_at - shift, due_at = due_at - shift
	WHERE tenant_id = t AND ticket_id = k;
	UPDATE helpdesk.csat SET requested_at = requested_at - shift, expires_at = expires_at - shift,
		submitted_at = submitted_at - shift
	WHERE tenant_id = t AND ticket_id = k;
END $$;

-- wait (committing) until the dispatcher offered s to someone, or timeout
CREATE OR REPLACE FUNCTION public.rh_offered(t bigint, s bigint) RETURNS bigint
LANGUAGE sql AS $$
	SELECT agent_id FROM helpdesk.session WHERE tenant_id = t AND id = s AND state = 'offered'
$$;

-- One tenant's history: n sessions, m tickets. seed makes it repeatable;
-- backdate => false leaves the times as they happened (the live phase).
CREATE OR REPLACE PROCEDURE public.reports_history(t bigint, n int, m int, seed float8, backdate boolean)
LANGUAGE plpgsql AS $$
DECLARE
	qs bigint[];
	manual_q bigint;
	auto_q bigint;
	ags bigint[];
	i int;
	j int;
	c bigint;
	s bigint;
	st text;
	a bigint;
	a2 bigint;
	r float8;
	w int;
	bot boolean;
	k bigint;
	day_shift interval;
	pol bigint;
BEGIN
	PERFORM setseed(seed);
	SELECT r.bot INTO bot FROM public.rh_tenant r WHERE r.tenant_id = t;
	SELECT array_agg(id ORDER BY id) INTO qs FROM helpdesk.queue WHERE tenant_id = t;
	SELECT id INTO manual_q FROM helpdesk.queue WHERE tenant_id = t AND strategy = 'manual' ORDER BY id LIMIT 1;
	SELECT id INTO auto_q FROM helpdesk.queue WHERE tenant_id = t AND strategy <> 'manual' ORDER BY id LIMIT 1;
	SELECT array_agg(id ORDER BY id) INTO ags FROM helpdesk.agent WHERE tenant_id = t;
	FOR i IN 1 .. n LOOP
		c := helpdesk.upsert_customer(t, 'c-' || seed || '-' || i);
		r := random();
		-- most in the manual queue (synchronous claims), some through the dispatcher's offers
		SELECT ss.session_id, ss.state INTO s, st
		FROM helpdesk.start_session(t, c, channel => (ARRAY['web', 'ios', 'android'])[1 + floor(random() * 3)::int],
		                            queue_id => CASE WHEN r < 0.8 THEN manual_q ELSE auto_q END,
		                            issue_type => (ARRAY[NULL, 'billing', 'bug', 'account'])[1 + floor(random() * 4)::int],
		                            first_message => 'hello ' || i) ss;
		IF st = 'bot' THEN
			PERFORM helpdesk.post_message(t, s, 'bot', NULL, 'bot answer');
			IF random() < 0.3 THEN
				-- the bot resolves it
				PERFORM helpdesk.close_session(t, s, NULL, 'bot');
				COMMIT;
				IF backdate THEN CALL public.reports_backdate(t, s, make_interval(hours => floor(random() * 24 * 40)::int), '0'); END IF;
				COMMIT;
				CONTINUE;
			END IF;
			COMMIT;
			PERFORM helpdesk.handoff_to_agent(t, s, CASE WHEN r < 0.8 THEN manual_q ELSE auto_q END);
		END IF;
		COMMIT;
		w := floor(random() * 40)::int;   -- seconds of extra wait (short and long abandons)
		IF random() < 0.2 THEN
			-- the customer leaves before anyone took it
			IF random() < 0.5 THEN PERFORM helpdesk.post_message(t, s, 'customer', c, 'anyone?'); END IF;
			PERFORM helpdesk.close_session(t, s, NULL, 'customer', c);
		ELSIF r >= 0.8 THEN
			-- the dispatcher offers it: decline, let it time out, or accept
			FOR j IN 1 .. 300 LOOP
				a := public.rh_offered(t, s);
				EXIT WHEN a IS NOT NULL;
				PERFORM pg_sleep(0.02);
				COMMIT;
			END LOOP;
			IF a IS NULL THEN
				PERFORM helpdesk.close_session(t, s, 'nobody', 'system');
			ELSE
				IF random() < 0.3 THEN
					PERFORM helpdesk.decline_offer(t, a, s, 'busy');
					COMMIT;
				ELSIF random() < 0.2 THEN
					-- the offer times out (offer_timeout 1 s)
					PERFORM pg_sleep(1.3);
					COMMIT;
				END IF;
				a := NULL;
				FOR j IN 1 .. 300 LOOP
					a := public.rh_offered(t, s);
					EXIT WHEN a IS NOT NULL;
					PERFORM pg_sleep(0.02);
					COMMIT;
				END LOOP;
				IF a IS NULL THEN
					PERFORM helpdesk.close_session(t, s, NULL, 'customer', c);
				ELSE
					PERFORM helpdesk.accept_offer(t, a, s);
					PERFORM helpdesk.post_message(t, s, 'agent', a, 'hi, how can I help');
					PERFORM helpdesk.post_message(t, s, 'customer', c, 'my thing');
					PERFORM helpdesk.post_message(t, s, 'agent', a, 'done');
					PERFORM helpdesk.close_session(t, s, NULL, 'agent', a);
				END IF;
			END IF;
		ELSE
			a := ags[1 + floor(random() * array_length(ags, 1))::int];
			PERFORM helpdesk.claim_session(t, a, s);
			IF random() < 0.8 THEN PERFORM helpdesk.post_message(t, s, 'agent', a, 'hello, ' || i); END IF;
			FOR j IN 1 .. floor(random() * 4)::int LOOP
				PERFORM helpdesk.post_message(t, s, 'customer', c, 'question ' || j);
				IF random() < 0.5 THEN PERFORM helpdesk.post_message(t, s, 'customer', c, 'and more'); END IF;
				IF random() < 0.8 THEN PERFORM helpdesk.post_message(t, s, 'agent', a, 'answer ' || j); END IF;
			END LOOP;
			IF random() < 0.15 THEN
				-- transfer to a colleague, who claims it
				a2 := ags[1 + (array_position(ags, a) % array_length(ags, 1))];
				PERFORM helpdesk.transfer_session(t, s, a, NULL, manual_q, 'over to you');
				COMMIT;
				PERFORM helpdesk.claim_session(t, a2, s);
				PERFORM helpdesk.post_message(t, s, 'agent', a2, 'taking over');
				a := a2;
			END IF;
			IF random() < 0.1 THEN
				PERFORM helpdesk.escalate_session(t, s, 'follow up');
				IF (SELECT state FROM helpdesk.session WHERE tenant_id = t AND id = s) <> 'closed' THEN
					PERFORM helpdesk.close_session(t, s, NULL, 'agent', a);
				END IF;
			ELSE
				IF random() < 0.5 THEN
					PERFORM helpdesk.close_session(t, s, NULL, 'agent', a);
				ELSE
					PERFORM helpdesk.close_session(t, s, NULL, 'customer', c);
				END IF;
			END IF;
		END IF;
		COMMIT;
		IF random() < 0.6 AND EXISTS (SELECT 1 FROM helpdesk.csat WHERE tenant_id = t AND session_id = s) THEN
			PERFORM helpdesk.submit_csat(t, 'session', s, c, 1 + floor(random() * 5)::int);
			COMMIT;
		END IF;
		IF backdate THEN
			CALL public.reports_backdate(t, s, make_interval(hours => floor(random() * 24 * 40)::int,
			                                                 mins => floor(random() * 60)::int),
			                             make_interval(secs => w));
			COMMIT;
		END IF;
	END LOOP;

	FOR i IN 1 .. m LOOP
		c := helpdesk.upsert_customer(t, 'tc-' || seed || '-' || i);
		SELECT ct.ticket_id INTO k FROM helpdesk.create_ticket(t, c, 'ticket ' || i, 'it broke',
			-- the first ticket is urgent and answered late: every history has a missed SLA target
			priority => CASE WHEN i = 1 THEN 'urgent' ELSE (ARRAY['low', 'normal', 'high', 'urgent'])[1 + floor(random() * 4)::int] END,
			issue_type => (ARRAY[NULL, 'billing', 'bug'])[1 + floor(random() * 3)::int],
			queue_id => qs[1 + floor(random() * array_length(qs, 1))::int]) ct;
		a := ags[1 + floor(random() * array_length(ags, 1))::int];
		IF random() < 0.7 THEN PERFORM helpdesk.assign_ticket(t, k, a, 'system'); END IF;
		IF i = 1 OR random() < 0.15 THEN
			-- late enough for the 1 s first response target of urgent and high tickets
			COMMIT;
			PERFORM pg_sleep(1.2);
		END IF;
		IF random() < 0.8 THEN PERFORM helpdesk.reply_ticket(t, k, 'agent', a, 'looking'); END IF;
		IF random() < 0.6 THEN
			PERFORM helpdesk.set_ticket_status(t, k, 'resolved', 'agent', a);
			IF random() < 0.3 THEN
				PERFORM helpdesk.set_ticket_status(t, k, 'open', 'agent', a);
				IF random() < 0.5 THEN PERFORM helpdesk.set_ticket_status(t, k, 'resolved', 'agent', a); END IF;
			END IF;
		END IF;
		COMMIT;
		IF random() < 0.5 AND EXISTS (SELECT 1 FROM helpdesk.csat WHERE tenant_id = t AND ticket_id = k) THEN
			PERFORM helpdesk.submit_csat(t, 'ticket', k, c, 1 + floor(random() * 5)::int);
			COMMIT;
		END IF;
		IF backdate THEN
			CALL public.reports_backdate_ticket(t, k, make_interval(hours => floor(random() * 24 * 40)::int),
			                                    make_interval(mins => floor(random() * 60 * 72)::int));
			COMMIT;
		END IF;
	END LOOP;
END $$;

-- every rollup row equals the raw truth, both ways, for every tenant; returns the differences
CREATE OR REPLACE FUNCTION public.rollup_diff() RETURNS TABLE (tbl text, n bigint)
LANGUAGE sql AS $$
	WITH ts AS (SELECT id FROM helpdesk.tenant),
	lo AS (SELECT '2000-01-01'::timestamptz AS b0, '2100-01-01'::timestamptz AS b1)
	SELECT 'session', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_session r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_session(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_session(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_session r)) x
	UNION ALL
	SELECT 'offer', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_offer r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_offer(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_offer(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_offer r)) x
	UNION ALL
	SELECT 'ticket', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_ticket r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_ticket(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_ticket(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_ticket r)) x
	UNION ALL
	SELECT 'sla', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_sla r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_sla(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_sla(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_sla r)) x
	UNION ALL
	SELECT 'csat', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_csat r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_csat(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_csat(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_csat r)) x
	UNION ALL
	SELECT 'occupancy', count(*) FROM (
		(SELECT r.* FROM helpdesk.rollup_occupancy r EXCEPT ALL SELECT f.* FROM ts, lo, helpdesk._fact_occupancy(ts.id, lo.b0, lo.b1) f)
		UNION ALL
		(SELECT f.* FROM ts, lo, helpdesk._fact_occupancy(ts.id, lo.b0, lo.b1) f EXCEPT ALL SELECT r.* FROM helpdesk.rollup_occupancy r)) x
$$;

-- every report, rollup vs raw, by day and hour in the tenant's zone, all groupings; returns differing rows
CREATE OR REPLACE FUNCTION public.report_diff(t bigint, b0 timestamptz, b1 timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	total bigint := 0;
	d bigint;
	b text;
	rep text;
	g text;
BEGIN
	FOREACH b IN ARRAY ARRAY['hour', 'day', 'total'] LOOP
		FOREACH rep IN ARRAY ARRAY['report_sessions:{queue,agent,issue_type,channel}', 'report_sessions:{}',
		                           'report_agents:{agent,queue}', 'report_agents:{agent}', 'report_agents:{}',
		                           'report_agents:{agent,queue,issue_type,channel}', 'report_agents:{channel}',
		                           'report_tickets:{queue,agent,issue_type,channel}',
		                           'report_tickets:{}', 'report_sla:{policy,target}',
		                           'report_sla:{policy,target,queue,agent,issue_type,channel}', 'report_sla:{issue_type}',
		                           'report_csat:{target,queue,agent}', 'report_csat:{target,queue,agent,issue_type,channel}',
		                           'report_csat:{issue_type}',
		                           'report_funnel:{queue,issue_type,channel}', 'report_funnel:{}'] LOOP
			g := split_part(rep, ':', 2);
			EXECUTE format('SELECT count(*) FROM ((SELECT * FROM helpdesk.%1$I($1, $2, $3, %2$L, %3$L) EXCEPT ALL '
			               'SELECT * FROM helpdesk.%1$I($1, $2, $3, %2$L, %3$L, ''raw'')) UNION ALL '
			               '(SELECT * FROM helpdesk.%1$I($1, $2, $3, %2$L, %3$L, ''raw'') EXCEPT ALL '
			               'SELECT * FROM helpdesk.%1$I($1, $2, $3, %2$L, %3$L))) x',
			               split_part(rep, ':', 1), g, b) INTO d USING t, b0, b1;
			total := total + d;
		END LOOP;
	END LOOP;
	RETURN total;
END $$;

-- Occupancy: random status changes of every agent of a tenant through the
-- API (set_agent_status), each agent ending online. backdate => true moves
-- all agent.status events of the agent audience (the ones the history reads) back over
-- the 40 days the backdated sessions span, in id order with random gaps,
-- some of them equal (two changes in one instant) and some an hour before
-- the previous one (an earlier-started transaction committed later: the
-- history clamps to the previous start). Runs with the rollup worker paused when backdating.
CREATE OR REPLACE PROCEDURE public.reports_status_history(t bigint, n int, seed float8, backdate boolean)
LANGUAGE plpgsql AS $$
DECLARE
	a record;
	i int;
	st text;
	cur text;
	at timestamptz;
	prev timestamptz;
	e record;
	r float8;
BEGIN
	PERFORM setseed(seed);
	FOR a IN SELECT id, status FROM helpdesk.agent WHERE tenant_id = t ORDER BY id LOOP
		cur := a.status;
		FOR i IN 1 .. n LOOP
			st := (ARRAY['online', 'away', 'busy', 'offline'])[1 + floor(random() * 4)::int];
			CONTINUE WHEN st = cur;
			PERFORM helpdesk.set_agent_status(t, a.id, st);
			cur := st;
		END LOOP;
		IF cur <> 'online' THEN
			PERFORM helpdesk.set_agent_status(t, a.id, 'online');
		END IF;
	END LOOP;
	IF backdate THEN
		FOR a IN SELECT id FROM helpdesk.agent WHERE tenant_id = t ORDER BY id LOOP
			at := now() - interval '40 days';
			prev := at;
			-- all of the agent's status events, so none stays later than the moved ones
			FOR e IN SELECT ev.id FROM helpdesk.event ev
				WHERE ev.tenant_id = t AND ev.type = 'agent.status' AND ev.audience = 'agent'
				  AND ev.audience_id = a.id ORDER BY ev.id LOOP
				r := random();
				-- 5 %: the same instant as the previous; 10 %: an hour before it
				-- (committed later than it began); else a random gap
				at := at + CASE WHEN r < 0.05 THEN interval '0'
				                ELSE make_interval(secs => floor(random() * 40 * 86400 / (n + 1))) END;
				UPDATE helpdesk.event ev SET created_at = CASE WHEN r > 0.9 THEN prev - interval '1 hour' ELSE at END
				WHERE ev.id = e.id;
				prev := CASE WHEN r > 0.9 THEN prev ELSE at END;
			END LOOP;
		END LOOP;
	END IF;
END $$;

-- The status history straight from the event log (the raw truth of
-- agent_status_interval), and its rows that differ from the stored ones.
CREATE OR REPLACE FUNCTION public.status_diff() RETURNS bigint LANGUAGE sql AS $$
	WITH ev AS (
		SELECT ev.tenant_id, ev.audience_id AS agent_id, ev.id, ev.payload->>'status' AS status,
		       max(ev.created_at) OVER (PARTITION BY ev.tenant_id, ev.audience_id ORDER BY ev.id) AS at
		FROM helpdesk.event ev WHERE ev.type = 'agent.status' AND ev.audience = 'agent'),
	iv AS (SELECT ev.tenant_id, ev.agent_id, ev.id, ev.status, ev.at,
	              lead(ev.at) OVER (PARTITION BY ev.tenant_id, ev.agent_id ORDER BY ev.id) AS till FROM ev)
	SELECT count(*) FROM (
		(SELECT tenant_id, agent_id, id, status, at, till FROM iv
		 EXCEPT ALL SELECT tenant_id, agent_id, event_id, status, started_at, ended_at FROM helpdesk.agent_status_interval)
		UNION ALL
		(SELECT tenant_id, agent_id, event_id, status, started_at, ended_at FROM helpdesk.agent_status_interval
		 EXCEPT ALL SELECT tenant_id, agent_id, id, status, at, till FROM iv)) x
$$;

-- per tenant and agent: time online and handling time (µs) straight from
-- the event log and session_assignment, for the occupancy figures
CREATE OR REPLACE FUNCTION public.occupancy_raw(t bigint)
RETURNS TABLE (agent_id bigint, online_us numeric, handling_us numeric) LANGUAGE sql AS $$
	WITH ev AS (
		SELECT ev.audience_id AS agent_id, ev.id, ev.payload->>'status' AS status,
		       max(ev.created_at) OVER (PARTITION BY ev.audience_id ORDER BY ev.id) AS at
		FROM helpdesk.event ev WHERE ev.tenant_id = t AND ev.type = 'agent.status' AND ev.audience = 'agent'),
	iv AS (SELECT ev.*, lead(ev.at) OVER (PARTITION BY ev.agent_id ORDER BY ev.id) AS till FROM ev),
	onl AS (SELECT iv.agent_id, sum(helpdesk._us(iv.at, iv.till)) AS us FROM iv
	        WHERE iv.till IS NOT NULL AND iv.status IN ('online', 'busy') GROUP BY 1),
	hold AS (SELECT sa.agent_id, sum(helpdesk._us(sa.accepted_at, sa.ended_at)) AS us
	         FROM helpdesk.session_assignment sa JOIN helpdesk.session s ON s.tenant_id = sa.tenant_id AND s.id = sa.session_id
	         WHERE sa.tenant_id = t AND s.state = 'closed' AND sa.accepted_at IS NOT NULL AND sa.ended_at > sa.accepted_at
	         GROUP BY 1)
	SELECT coalesce(onl.agent_id, hold.agent_id), coalesce(onl.us, 0), coalesce(hold.us, 0)
	FROM onl FULL JOIN hold ON hold.agent_id = onl.agent_id
$$;
