BEGIN;
SELECT * FROM no_plan();

-- The access matrix (issue 16): rows of both tenants A and B in every table
-- of schema helpdesk (made through the API; the few tables only the workers
-- write get one row by hand, then every table still empty for a tenant gets
-- a copy of the other tenant's row: a table empty for both fails the test,
-- so it cannot pass vacuously); then
--   * a reader bound to A sees no row of B in any table or view, and its
--     rows of A;
--   * a role with every group role, bound to A, gets 42501 from EVERY
--     function that takes a tenant id when called with B's (dummy values
--     for the other arguments: the check comes before anything else), and
--     from the functions that find their tenant from a slug, token or app;
--   * the calls without a tenant that need every tenant refuse it;
--   * helpdesk_qa reads transcripts but cannot post.

\ir fixtures.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- the independent signer; rolled back

CREATE FUNCTION pg_temp.sign(secret text, method text, path text, ts text, nonce text, body bytea)
RETURNS text LANGUAGE sql AS $$
	SELECT encode(hmac(convert_to(method || E'\n' || path || E'\n' || ts || E'\n' || nonce || E'\n'
		|| encode(digest(body, 'sha256'), 'hex'), 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex') $$;

-- everything a tenant has, through the API (as superuser)
CREATE FUNCTION pg_temp.fill(slug text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	t bigint;
	q bigint;
	a bigint;
	a2 bigint;
	c bigint;
	s bigint;
	s2 bigint;
	k bigint;
	cal bigint;
	qr bigint;
	sec text;
	ts text := extract(epoch FROM now())::bigint::text;
BEGIN
	t := helpdesk.upsert_tenant(slug, 'Tenant ' || slug);
	PERFORM helpdesk.set_csat(t, 'on');
	q := helpdesk.upsert_queue(t, 'main', 'Main', strategy => 'manual', is_default => true);
	a := helpdesk.upsert_agent(t, 'ana', 'Ana');
	a2 := helpdesk.upsert_agent(t, 'bob', 'Bob');
	PERFORM helpdesk.set_agent_password(t, a, 'a long enough password');
	PERFORM helpdesk.set_agent_status(t, a, 'online');
	PERFORM helpdesk.set_agent_status(t, a2, 'online');
	PERFORM helpdesk.set_agent_queue_limit(t, a, q, 3);
	PERFORM helpdesk.upsert_issue_type(t, 'billing', 'Billing', q);
	PERFORM helpdesk.upsert_urgency_rule(t, 'angry', 'angry', 30);
	cal := helpdesk.upsert_calendar(t, 'always', 'Always', 'UTC', '"24/7"');
	PERFORM helpdesk.upsert_sla_policy(t, 'p', 1, first_response => '1 hour', calendar_id => cal);
	PERFORM helpdesk.set_autoclose(t, 'pending', true, '2 hours', '0');
	PERFORM helpdesk.set_system_text(t, 'autoclose_resolved', 'en', 'Closed.');
	PERFORM helpdesk.upsert_webhook(t, 'w', 'http://192.0.2.1/hook', '{*}');
	PERFORM helpdesk.upsert_bot(t, 'b', 'webhook', 'https://bot.test/hook', 'whsec_' || repeat('x', 32), enabled => false);
	sec := helpdesk.upsert_app(t, 'app-' || slug, 'Game');
	PERFORM helpdesk.verify_signed_request('POST', '/p', 'app-' || slug, ts, 'nonce-' || slug || '-0001',
		pg_temp.sign(sec, 'POST', '/p', ts, 'nonce-' || slug || '-0001', 'x'), 'x');
	PERFORM helpdesk.rate_limit_hit(t, 'app-' || slug, 'p1');
	c := helpdesk.upsert_customer(t, 'cust', 'Cust');
	s := (helpdesk.start_session(t, c, first_message => 'hello')).session_id;
	PERFORM helpdesk.claim_session(t, a, s);
	PERFORM helpdesk.mark_read(t, s, 'customer', c, helpdesk.post_message(t, s, 'agent', a, 'hi there'));
	PERFORM helpdesk.close_session(t, s, closed_by => 'agent', actor_id => a);
	s2 := (helpdesk.start_session(t, c, first_message => 'again')).session_id;
	PERFORM helpdesk.claim_session(t, a2, s2);
	PERFORM helpdesk.escalate_session(t, s2, 'from chat');
	k := (helpdesk.create_ticket(t, c, 'broken', 'help')).ticket_id;
	PERFORM helpdesk.assign_ticket(t, k, a, 'system');
	PERFORM helpdesk.reply_ticket(t, k, 'agent', a, 'on it');
	qr := helpdesk.upsert_quick_reply(t, 'hello', 'Greeting', 'Hello!');
	PERFORM helpdesk.render_quick_reply(t, qr, a, session_id => s2);
	-- one waiting, one with a dispatcher's error on its queue
	PERFORM helpdesk.start_session(t, helpdesk.upsert_customer(t, 'cust2', 'Waiting'), first_message => 'anyone?');
	UPDATE helpdesk.queue SET dispatch_error = 'test' WHERE tenant_id = t AND id = q;
	-- uploads, CORS, automation, reports, search, retention
	PERFORM helpdesk.set_cors_origins(t, ARRAY['https://game.example']);
	PERFORM helpdesk.store_upload(t, 'agent', a, 'a.png', 'image/png',
		decode('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'));
	PERFORM helpdesk.set_task_settings(t, ARRAY['已付款'], 'Asia/Shanghai');
	PERFORM helpdesk.receive_task(t, jsonb_build_object('task_id', 'task-' || slug, 'type', 'reply',
		'customer', jsonb_build_object('id', 'cust', 'name', 'Cust'),
		'trigger', jsonb_build_object('type', 'customer_reply', 'keyword', '好的'),
		'action', jsonb_build_object('type', 'send_message', 'message', 'thanks')));
	PERFORM helpdesk.upsert_rule(t, 'vip', 'message.created', '{"all": []}', '[{"type": "send_message", "message": "hi"}]');
	PERFORM helpdesk.set_report_settings(t, 'Asia/Shanghai');
	PERFORM helpdesk.rebuild_rollups(t, now() - interval '1 day', now() + interval '1 hour');
	PERFORM helpdesk.rebuild_search_index(t);
	PERFORM helpdesk.set_message_retention(t, '30 days');
	PERFORM helpdesk.grant_tenant('acc_other', t);
	RETURN t;
END $$;

CREATE ROLE acc_other NOLOGIN;	-- bound to both: tenant_grant has rows of each
INSERT INTO fx SELECT 'ta', pg_temp.fill('acc-a');
INSERT INTO fx SELECT 'tb', pg_temp.fill('acc-b');

-- what only the workers write: one row of A by hand (no worker sees this
-- transaction), FK checks off for the copies below
SET LOCAL session_replication_role = replica;
INSERT INTO helpdesk.webhook_delivery (tenant_id, id, webhook_id, event_pos, msg_id, event_type, body, next_at)
	SELECT w.tenant_id, 1, w.id, 1, 'msg_1', 'message.created', '{}', now()
	FROM helpdesk.webhook w WHERE w.tenant_id = pg_temp.fx('ta');
INSERT INTO helpdesk.webhook_attempt (tenant_id, delivery_id, attempt, webhook_id, status)
	SELECT w.tenant_id, 1, 1, w.id, 500 FROM helpdesk.webhook w WHERE w.tenant_id = pg_temp.fx('ta');
INSERT INTO helpdesk.bot_job (tenant_id, id, session_id, message_id, bot_id)
	SELECT m.tenant_id, 1, m.session_id, m.id, b.id FROM helpdesk.message m
	JOIN helpdesk.bot b ON b.tenant_id = m.tenant_id WHERE m.tenant_id = pg_temp.fx('ta') LIMIT 1;
INSERT INTO helpdesk.event_batch (first_pos, last_pos, ids, max_id, log_id)
	SELECT 1, 1, int8multirange(int8range(min(id), min(id) + 1)), min(id), (SELECT log_id FROM helpdesk.event_cursor)
	FROM helpdesk.event WHERE NOT EXISTS (SELECT 1 FROM helpdesk.event_batch);
INSERT INTO helpdesk.automation_rule_run (tenant_id, id, rule_id, event_pos, event, conditions, actions)
	SELECT r.tenant_id, 1, r.id, 1, 'message.created', '[]', '[]'
	FROM helpdesk.automation_rule r WHERE r.tenant_id = pg_temp.fx('ta');
INSERT INTO helpdesk.automation_rule_xid (tenant_id, xid) VALUES (pg_temp.fx('ta'), 1);
INSERT INTO helpdesk.automation_rule_due (tenant_id, rule_id, object_id, kind, anchor, due_at)
	SELECT r.tenant_id, r.id, 1, 'time.queued', now() + interval '1 day', now() + interval '2 days'
	FROM helpdesk.automation_rule r WHERE r.tenant_id = pg_temp.fx('ta');
INSERT INTO helpdesk.retention_run (tenant_id, id, started_at, finished_at, cutoff, batches,
	chat_messages, ticket_messages, events, uploads, complete)
	VALUES (pg_temp.fx('ta'), 1, now(), now(), now(), 1, 0, 0, 0, 0, true);
INSERT INTO helpdesk.import (tenant_id, id, kind) VALUES (pg_temp.fx('ta'), 1, 'customers');
INSERT INTO helpdesk.import_error (tenant_id, import_id, line, field, message)
	VALUES (pg_temp.fx('ta'), 1, 2, 'vip_level', 'not a number');
INSERT INTO helpdesk.import_customer (tenant_id, import_id, line, external_id) VALUES (pg_temp.fx('ta'), 1, 2, 'x');
INSERT INTO helpdesk.import_agent (tenant_id, import_id, line, external_id) VALUES (pg_temp.fx('ta'), 1, 2, 'x');
INSERT INTO helpdesk.import_queue (tenant_id, import_id, line, external_id) VALUES (pg_temp.fx('ta'), 1, 2, 'x');
INSERT INTO helpdesk.import_quick_reply (tenant_id, import_id, line, shortcode) VALUES (pg_temp.fx('ta'), 1, 2, 'x');
INSERT INTO helpdesk.agent_status_interval (tenant_id, agent_id, event_id, status, started_at, ended_at)
	SELECT a.tenant_id, a.id, 1, 'online', now() - interval '1 hour', now()
	FROM helpdesk.agent a WHERE a.tenant_id = pg_temp.fx('ta') ORDER BY a.id LIMIT 1;
INSERT INTO helpdesk.rollup_occupancy (tenant_id, bucket, agent_id, queue_id, online_us, handling_us, queue_online_us)
	SELECT a.tenant_id, helpdesk._bucket(now()), a.id, 0, 1, 0, 0
	FROM helpdesk.agent a WHERE a.tenant_id = pg_temp.fx('ta') ORDER BY a.id LIMIT 1 ON CONFLICT DO NOTHING;
INSERT INTO helpdesk.rollup_occupancy_day (tenant_id, day, agent_id, queue_id, online_us, handling_us, queue_online_us)
	SELECT a.tenant_id, current_date, a.id, 0, 1, 0, 0
	FROM helpdesk.agent a WHERE a.tenant_id = pg_temp.fx('ta') ORDER BY a.id LIMIT 1 ON CONFLICT DO NOTHING;
INSERT INTO helpdesk.rollup_agent_day (tenant_id, day, agent_id, assignments, offers, offers_accepted,
	offers_declined, offers_timed_out, held, held_sum_us, transfers_out, online_us, handling_us)
	SELECT a.tenant_id, current_date, a.id, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0
	FROM helpdesk.agent a WHERE a.tenant_id = pg_temp.fx('ta') ORDER BY a.id LIMIT 1 ON CONFLICT DO NOTHING;
INSERT INTO helpdesk.rollup_agent_queue_day (tenant_id, day, agent_id, queue_id, assignments, offers, offers_accepted,
	offers_declined, offers_timed_out, held, held_sum_us, transfers_out, queue_online_us, handling_us)
	SELECT a.tenant_id, current_date, a.id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	FROM helpdesk.agent a WHERE a.tenant_id = pg_temp.fx('ta') ORDER BY a.id LIMIT 1 ON CONFLICT DO NOTHING;
INSERT INTO helpdesk.rollup_sla_day (tenant_id, day, policy_id, target, hit, missed)
	VALUES (pg_temp.fx('ta'), current_date, 0, 'resolution', 1, 0) ON CONFLICT DO NOTHING;
INSERT INTO helpdesk.rollup_horizon (tenant_id, horizon) VALUES (pg_temp.fx('ta'), helpdesk._bucket(now() - interval '30 days'));
INSERT INTO helpdesk.sla_event (tenant_id, id, ticket_id, target, kind, round, due)
	SELECT k.tenant_id, 1, k.id, 'first_response', 'warning', 1, now()
	FROM helpdesk.ticket k WHERE k.tenant_id = pg_temp.fx('ta') LIMIT 1;
INSERT INTO helpdesk.moved_log (tenant_id, log_id, last_pos, next_pos)
	VALUES (pg_temp.fx('ta'), '00000000-0000-4000-8000-000000000001', 1, 0);
INSERT INTO helpdesk.moved_event (tenant_id, log_id, pos, audience, audience_id, type, created_at)
	VALUES (pg_temp.fx('ta'), '00000000-0000-4000-8000-000000000001', 1, 'tenant', NULL, 'test.moved', now());

-- every table of schema helpdesk with a tenant column empty for one tenant
-- gets a copy of a row of the other (tenant swapped; unique text columns
-- suffixed); empty for both is a failure below
CREATE FUNCTION pg_temp.copy_missing(a bigint, b bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r record;
	col text;
	src bigint;
	dst bigint;
BEGIN
	FOR r IN SELECT c.oid::regclass AS rel, CASE WHEN c.relname = 'tenant' THEN 'id' ELSE 'tenant_id' END AS col
		FROM pg_class c WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind = 'r'
		  AND (c.relname = 'tenant' OR EXISTS (SELECT 1 FROM pg_attribute x
			WHERE x.attrelid = c.oid AND x.attname = 'tenant_id' AND NOT x.attisdropped))
	LOOP
		col := r.col;
		FOR src, dst IN VALUES (a, b), (b, a) LOOP
			EXECUTE format('INSERT INTO %s OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(NULL::%s, to_jsonb(x) || jsonb_build_object(%L, %s::bigint))).* '
				'FROM %s x WHERE %I = %s AND NOT EXISTS (SELECT 1 FROM %s y WHERE y.%I = %s) LIMIT 1',
				r.rel, r.rel, col, dst, r.rel, col, src, r.rel, col, dst);
		END LOOP;
	END LOOP;
END $$;
SELECT pg_temp.copy_missing(pg_temp.fx('ta'), pg_temp.fx('tb'));
RESET session_replication_role;

-- the roles: a reader and a QA role bound to A; a role with every group
-- role bound to A
CREATE ROLE acc_reader_a LOGIN IN ROLE helpdesk_reader;
CREATE ROLE acc_qa_a LOGIN IN ROLE helpdesk_qa;
CREATE ROLE acc_all_a LOGIN IN ROLE helpdesk_admin, helpdesk_supervisor, helpdesk_agent, helpdesk_qa,
	helpdesk_api, helpdesk_bridge, helpdesk_reader;
SELECT helpdesk.grant_tenant('acc_reader_a', pg_temp.fx('ta'));
SELECT helpdesk.grant_tenant('acc_qa_a', pg_temp.fx('ta'));
SELECT helpdesk.grant_tenant('acc_all_a', pg_temp.fx('ta'));

-- counts per table and view, tenant A and B, as the superuser and as a role
CREATE TEMP TABLE counts (who text, rel text, tenant text, n bigint);
GRANT INSERT ON counts TO PUBLIC;
CREATE FUNCTION pg_temp.count_rows(who text, a bigint, b bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n bigint;
BEGIN
	FOR r IN SELECT c.oid::regclass AS rel, c.relname,
			CASE WHEN c.relname = 'tenant' THEN 'id'
			     WHEN EXISTS (SELECT 1 FROM pg_attribute x WHERE x.attrelid = c.oid
				AND x.attname = 'tenant_id' AND NOT x.attisdropped) THEN 'tenant_id' END AS col
		FROM pg_class c WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
	LOOP
		-- tenant_fence: a row of A or B would refuse their calls below
		-- (55000); its policy is checked in tenant_fence.sql
		CONTINUE WHEN r.relname = 'tenant_fence';
		IF r.col IS NULL THEN
			-- no tenant column: every row counts as B's for a role bound to A
			-- (only the state machines and the grant matrix are public)
			CONTINUE WHEN r.relname IN ('session_transition', 'ticket_transition', 'function_grant');
			IF has_table_privilege(r.rel, 'SELECT') OR who = 'superuser' THEN
				BEGIN
					EXECUTE format('SELECT count(*) FROM %s', r.rel) INTO n;
				EXCEPTION WHEN insufficient_privilege THEN n := 0;
				END;
			ELSE
				n := 0;
			END IF;
			INSERT INTO counts VALUES (who, r.relname, 'B', n);
			CONTINUE;
		END IF;
		FOR t IN 1..2 LOOP
			BEGIN
				EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', r.rel, r.col)
					INTO n USING CASE t WHEN 1 THEN a ELSE b END;
			EXCEPTION WHEN insufficient_privilege THEN
				-- a table the role cannot read at all (agent_credential) shows it nothing
				n := -1;
			END;
			INSERT INTO counts VALUES (who, r.relname, CASE t WHEN 1 THEN 'A' ELSE 'B' END, n);
		END LOOP;
	END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.count_rows(text, bigint, bigint) TO PUBLIC;

SELECT pg_temp.count_rows('superuser', pg_temp.fx('ta'), pg_temp.fx('tb'));
SELECT is((SELECT string_agg(rel, ', ' ORDER BY rel) FROM counts
	WHERE who = 'superuser' AND rel IN (SELECT relname FROM pg_class
		WHERE relnamespace = 'helpdesk'::regnamespace AND relkind = 'r') AND tenant = 'B' AND n = 0),
	NULL, 'every table has rows of tenant B (and the ones with a tenant, of A): the matrix is not vacuous');
SELECT is((SELECT string_agg(rel, ', ' ORDER BY rel) FROM counts
	WHERE who = 'superuser' AND tenant = 'A' AND n = 0), NULL,
	'every table and view with a tenant column has rows of tenant A');

SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb \gset
SET LOCAL ROLE acc_reader_a;
SELECT pg_temp.count_rows('reader', :ta, :tb);
RESET ROLE;
SET LOCAL ROLE acc_qa_a;
SELECT pg_temp.count_rows('qa', :ta, :tb);
RESET ROLE;

SELECT is(n, 0::bigint, format('%s bound to A sees no row of B in helpdesk.%s', who, rel))
	FROM counts WHERE who IN ('reader', 'qa') AND tenant = 'B' AND n >= 0 ORDER BY who, rel;
SELECT is(r.n, s.n, format('%s bound to A sees every row of A in helpdesk.%s', r.who, r.rel))
	FROM counts r JOIN counts s ON s.who = 'superuser' AND s.rel = r.rel AND s.tenant = 'A'
	WHERE r.who IN ('reader', 'qa') AND r.tenant = 'A' AND r.n >= 0 ORDER BY r.who, r.rel;
SELECT is((SELECT string_agg(DISTINCT rel, ', ') FROM counts WHERE who IN ('reader', 'qa') AND n < 0),
	'agent_credential', 'readers cannot read agent_credential at all (and can read every other table)');
SET LOCAL ROLE acc_reader_a;
SELECT throws_ok('SELECT secret FROM helpdesk.webhook', '42501', NULL, 'sealed columns are not readable');
SELECT is((SELECT count(*) FROM helpdesk.tenant_grants WHERE tenant_id = :tb), 0::bigint,
	'tenant_grants shows no binding of B');
RESET ROLE;

-- 42501 for every function with a tenant id, called with B's id
CREATE TEMP TABLE calls (fn text, args text, state text, msg text);
GRANT INSERT ON calls TO PUBLIC;
CREATE FUNCTION pg_temp.call_all(tb bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p record;
	args text;
	st text;
	msg text;
	ty text;
	nm text;
BEGIN
	FOR p IN SELECT f.oid, f.proname, f.proargtypes::regtype[] AS types, f.proargnames AS names, f.pronargs
		FROM pg_proc f
		WHERE f.pronamespace = 'helpdesk'::regnamespace AND f.prokind = 'f'
		  AND 'tenant_id' = ANY (f.proargnames[1:f.pronargs])
		  AND f.proname NOT IN ('may_read_tenant', '_require_tenant')
		  -- no one's (internal) or everyone's pure ones: the ACL test covers them
		  AND EXISTS (SELECT 1 FROM helpdesk.function_grant g WHERE g.function_name = f.proname
			AND g.roles <> '{}' AND g.roles <> '{PUBLIC}')
		ORDER BY 2
	LOOP
		args := '';
		FOR i IN 1..p.pronargs LOOP
			ty := p.types[i - 1]::text;
			nm := p.names[i];
			args := args || CASE WHEN i > 1 THEN ', ' ELSE '' END || CASE
				WHEN nm = 'tenant_id' THEN tb::text
				WHEN ty IN ('bigint', 'integer', 'smallint', 'double precision', 'real', 'numeric') THEN '1::' || ty
				WHEN ty = 'text' THEN '''x''::text'
				WHEN ty = 'jsonb' THEN '''{}''::jsonb'
				WHEN ty = 'boolean' THEN 'false'
				WHEN ty = 'interval' THEN '''1 minute''::interval'
				WHEN ty = 'timestamp with time zone' THEN 'now()'
				WHEN ty = 'uuid' THEN 'gen_random_uuid()'
				WHEN ty = 'bytea' THEN '''''::bytea'
				WHEN ty = 'regrole' THEN '''helpdesk_reader''::regrole'
				ELSE '''{}''::' || ty END;
		END LOOP;
		BEGIN
			EXECUTE format('SELECT helpdesk.%I(%s)', p.proname, args);
			st := '00000';
			msg := 'no error';
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		END;
		INSERT INTO calls VALUES (p.proname, args, st, msg);
	END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.call_all(bigint) TO PUBLIC;
SET LOCAL ROLE acc_all_a;
SELECT pg_temp.call_all(:tb);
RESET ROLE;
SELECT cmp_ok((SELECT count(DISTINCT fn) FROM calls), '>=', 80::bigint,
	'the tenant id functions found in the catalog (at least the 80 of this version)');
SELECT is(state || ' ' || msg, '42501 role acc_all_a may not act for tenant ' || :tb,
	format('%s(%s) as a role bound to A, with B''s id', fn, args))
	FROM calls ORDER BY fn, args;

-- the same role is served for A (the check is not a blanket refusal)
SET LOCAL ROLE acc_all_a;
SELECT lives_ok(format('SELECT helpdesk.session_messages(%s, %s)', :ta,
	(SELECT min(id) FROM helpdesk.session WHERE tenant_id = :ta)), 'the role bound to A reads A');
RESET ROLE;

-- tenants found from a slug, an app or a token
SELECT helpdesk.issue_token(:tb, 'customer', (SELECT min(id) FROM helpdesk.customer WHERE tenant_id = :tb),
	'10 minutes') AS tok_b \gset
SELECT helpdesk.upsert_app(:tb, 'app-acc-b', 'Game', repeat('s', 40)) \g /dev/null
SELECT extract(epoch FROM now())::bigint::text AS now_s \gset
SET LOCAL ROLE acc_all_a;
SELECT throws_ok(format('SELECT helpdesk.agent_login(%L, %L, %L)', 'acc-b', 'ana', 'a long enough password'),
	'42501', 'role acc_all_a may not act for tenant ' || :tb, 'agent_login into B');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok_b'),
	'42501', 'role acc_all_a may not act for tenant ' || :tb, 'verify_token of a token of B');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''app-acc-b'', %L, ''nonce-acc-b-9999'', %L, ''x'')',
	:'now_s', pg_temp.sign(repeat('s', 40), 'POST', '/p', :'now_s', 'nonce-acc-b-9999', 'x')),
	'42501', 'role acc_all_a may not act for tenant ' || :tb, 'verify_signed_request for an app of B');
SELECT throws_ok(format('SELECT helpdesk.presence_timeout_ms(ARRAY[%s, %s])', :ta, :tb),
	'42501', 'role acc_all_a may not act for tenant ' || :tb, 'presence_timeout_ms with B among its tenants');
-- what needs every tenant
SELECT throws_ok(sql, '42501', 'role acc_all_a may not act for every tenant', sql)
	FROM unnest(ARRAY[
		'SELECT helpdesk.events_since(0, 10)',
		'SELECT helpdesk.bridge_events(0, 10)',
		'SELECT helpdesk.prune_events(''1 day'')',
		'SELECT helpdesk.prune_webhook_deliveries(''1 day'')',
		'SELECT helpdesk.prune_player_api()',
		'SELECT helpdesk.upsert_tenant(''acc-new'', ''New'')',
		'SELECT helpdesk.upsert_tenant(''acc-b'', ''Renamed'')',
		'SELECT helpdesk.grant_tenant(''acc_qa_a'', NULL)']) sql;
RESET ROLE;
SELECT is((SELECT id FROM helpdesk.customer WHERE tenant_id = :tb AND id = (SELECT min(id) FROM helpdesk.customer
	WHERE tenant_id = :tb)) IS NOT NULL, true, 'B''s data untouched');
SELECT is((SELECT name FROM helpdesk.tenant WHERE id = :tb), 'Tenant acc-b', 'B not renamed');

-- QA reads transcripts and scores but cannot post
SET LOCAL ROLE acc_qa_a;
SELECT lives_ok(format('SELECT * FROM helpdesk.session_messages(%s, %s)', :ta,
	(SELECT min(id) FROM helpdesk.session WHERE tenant_id = :ta)), 'qa reads a transcript of A');
SELECT cmp_ok((SELECT count(*) FROM helpdesk.csat), '>', 0::bigint, 'qa reads A''s scores');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''agent'', 1, ''x'')', :ta,
	(SELECT min(id) FROM helpdesk.session WHERE tenant_id = :ta)), '42501',
	'permission denied for function post_message', 'qa cannot post');
SELECT throws_ok(format('SELECT helpdesk.reply_ticket(%s, 1, ''agent'', 1, ''x'')', :ta), '42501',
	'permission denied for function reply_ticket', 'qa cannot reply to a ticket');
SELECT throws_ok('INSERT INTO helpdesk.message (tenant_id, session_id, sender_kind, body) VALUES (1, 1, ''agent'', ''x'')',
	'42501', NULL, 'qa cannot write tables');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
