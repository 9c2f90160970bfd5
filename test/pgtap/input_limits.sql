BEGIN;
SELECT plan(165);

-- Input validation at the edges (extension/validate.c and its callers):
-- intervals whose months/days/microseconds overflow 64 bits, integers that
-- atoi() would truncate, arrays indexed from 0, negative retention, empty or
-- oversized issue types, attachment sizes and URLs, menus, jsonb size and
-- nesting, and error messages that echo huge or multibyte input.

\ir fixtures.psql
SET LOCAL helpdesk.token_secret = 'tap-secret-0123456789abcdef-0123456789';

-- 'SQLSTATE: message' of the error a statement raises, or 'no error'
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text;
	s text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, s = RETURNED_SQLSTATE;
	RETURN s || ': ' || m;
END $$;

-- How the error message of a statement is shaped: 'no error', 'invalid
-- UTF-8' (convert_to verifies the bytes), 'N bytes' when it is 300 bytes or
-- more, else 'bounded'.
CREATE FUNCTION pg_temp.message_shape(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m text;
BEGIN
	BEGIN
		EXECUTE q;
		RETURN 'no error';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS m = MESSAGE_TEXT;
	END;
	BEGIN
		PERFORM convert_to(m, 'UTF8');
	EXCEPTION WHEN OTHERS THEN
		RETURN 'invalid UTF-8';
	END;
	IF octet_length(m) >= 300 THEN
		RETURN octet_length(m) || ' bytes';
	END IF;
	RETURN 'bounded';
END $$;

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A');
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'a1', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana');
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1');
INSERT INTO fx SELECT 's1', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'));
UPDATE helpdesk.session SET state = 'active', agent_id = pg_temp.fx('a1'), assigned_at = now()
 WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s1');

------------------------------------------------------------------------------
-- intervals: every interval argument of the API refuses a value whose months,
-- days and microseconds overflow 64 bits when summed (the old check wrapped
-- it into range, and every later dispatcher pass failed on it)
------------------------------------------------------------------------------
CREATE TEMP TABLE interval_arg (arg text PRIMARY KEY, call text NOT NULL, message text NOT NULL);
INSERT INTO interval_arg VALUES
	('upsert_tenant(heartbeat_interval)',
	 $$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A', heartbeat_interval => %L)$$,
	 'heartbeat_interval must be between 1 and 3600 seconds'),
	('upsert_queue(offer_timeout)',
	 $$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'fq', 'FQ', offer_timeout => %L)$$,
	 'offer_timeout must be between 1 and 3600 seconds'),
	('upsert_queue(max_wait)',
	 $$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'fq', 'FQ', max_wait => %L)$$,
	 'max_wait must be between 1 and 604800 seconds'),
	('set_routing(presence_grace)',
	 $$SELECT helpdesk.set_routing(pg_temp.fx('ta'), presence_grace => %L)$$,
	 'presence_grace must be between 0 and 86400 seconds'),
	('set_routing(idle_warn_after)',
	 $$SELECT helpdesk.set_routing(pg_temp.fx('ta'), idle_warn_after => %L)$$,
	 'idle_warn_after must be between 1 and 604800 seconds'),
	('set_routing(idle_close_after)',
	 $$SELECT helpdesk.set_routing(pg_temp.fx('ta'), idle_close_after => %L)$$,
	 'idle_close_after must be between 1 and 604800 seconds'),
	('set_queue_routing(sticky_window)',
	 $$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), sticky_window => %L)$$,
	 'sticky_window must be between 0 and 31536000 seconds'),
	('set_queue_routing(idle_warn_after)',
	 $$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), idle_warn_after => %L)$$,
	 'idle_warn_after must be between 1 and 604800 seconds'),
	('set_queue_routing(idle_close_after)',
	 $$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), idle_close_after => %L)$$,
	 'idle_close_after must be between 1 and 604800 seconds'),
	('issue_token(ttl)',
	 $$SELECT helpdesk.issue_token(pg_temp.fx('ta'), 'agent', pg_temp.fx('a1'), %L)$$,
	 'ttl must be between 1 and 2592000 seconds'),
	('issue_bot_token(ttl)',
	 $$SELECT helpdesk.issue_bot_token(pg_temp.fx('ta'), 1, %L)$$,
	 'ttl must be between 1 and 2592000 seconds'),
	('agent_login(ttl)',
	 $$SELECT helpdesk.agent_login('tap-limits-no-tenant', 'nobody', 'a password', %L)$$,
	 'ttl must be between 1 and 2592000 seconds'),
	('prune_events(keep)',
	 $$SELECT helpdesk.prune_events(%L)$$,
	 'keep must be between 0 and 3155760000 seconds'),
	('set_message_retention(keep)',
	 $$SELECT helpdesk.set_message_retention(pg_temp.fx('ta'), %L)$$,
	 'keep must be between 86400 and 3155760000 seconds'),
	('upsert_bot(timeout)',
	 $$SELECT helpdesk.upsert_bot(pg_temp.fx('ta'), 'lim-bot', timeout => %L)$$,
	 'timeout must be between 1 and 120 seconds'),
	('system_text(duration)',
	 $$SELECT helpdesk.system_text(pg_temp.fx('ta'), 'idle_warning', 'en', %L)$$,
	 'duration must be between 0 and 31536000 seconds'),
	('set_ticket_settings(reopen_window)',
	 $$SELECT helpdesk.set_ticket_settings(pg_temp.fx('ta'), reopen_window => %L)$$,
	 'reopen_window must be between 0 and 315360000 seconds'),
	('business_time_add(amount)',
	 $$SELECT helpdesk.business_time_add(pg_temp.fx('ta'), 0, now(), %L)$$,
	 'amount must be between 0 and 316224000 seconds'),
	('set_queue_sla(chat_first_response)',
	 $$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), pg_temp.fx('qa'), %L)$$,
	 'chat_first_response must be between 1 and 604800 seconds'),
	('upsert_sla_policy(first_response)',
	 $$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'p', 1, first_response => %L)$$,
	 'first_response must be between 1 and 31622400 seconds'),
	('upsert_sla_policy(next_response)',
	 $$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'p', 1, next_response => %L)$$,
	 'next_response must be between 1 and 31622400 seconds'),
	('upsert_sla_policy(resolution)',
	 $$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'p', 1, resolution => %L)$$,
	 'resolution must be between 1 and 31622400 seconds'),
	('set_autoclose(close_after)',
	 $$SELECT helpdesk.set_autoclose(pg_temp.fx('ta'), 'pending', close_after => %L)$$,
	 'close_after must be between 1 and 31536000 seconds'),
	('set_autoclose(warn_before)',
	 $$SELECT helpdesk.set_autoclose(pg_temp.fx('ta'), 'pending', warn_before => %L)$$,
	 'warn_before must be between 1 and 31536000 seconds'),
	('set_csat(window)',
	 $$SELECT helpdesk.set_csat(pg_temp.fx('ta'), "window" => %L)$$,
	 'window must be between 60 and 31536000 seconds'),
	('upsert_webhook(timeout)',
	 $$SELECT helpdesk.upsert_webhook(pg_temp.fx('ta'), 'lim', 'http://a.example/', '{*}', timeout => %L)$$,
	 'timeout must be between 1 and 60 seconds'),
	('set_queue_report_settings(short_abandon)',
	 $$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), short_abandon => %L)$$,
	 'short_abandon must be between 0 and 3600 seconds'),
	('set_queue_report_settings(service_level_threshold)',
	 $$SELECT helpdesk.set_queue_report_settings(pg_temp.fx('ta'), pg_temp.fx('qa'), service_level_threshold => %L)$$,
	 'service_level_threshold must be between 1 and 86400 seconds'),
	('prune_webhook_deliveries(keep)',
	 $$SELECT helpdesk.prune_webhook_deliveries(%L)$$,
	 'keep must be between 0 and 3155760000 seconds'),
	('prune_uploads(keep)',
	 $$SELECT helpdesk.prune_uploads(%L)$$,
	 'keep must be between 0 and 3155760000 seconds'),
	('upsert_rule(wait_for)',
	 $$SELECT helpdesk.upsert_rule(pg_temp.fx('ta'), 'lim', 'time.queued', '{"all": []}', '[{"type": "close"}]', wait_for => %L)$$,
	 'wait_for must be between 1 and 7776000 seconds'),
	('prune_uploads(grace)',
	 $$SELECT helpdesk.prune_uploads('1 day', %L)$$,
	 'grace must be between 0 and 3155760000 seconds');

SELECT set_eq(
	$$SELECT p.proname || '(' || a.name || ')'
	  FROM pg_proc p
	  CROSS JOIN LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
	       coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs]))) AS a(type, name, mode)
	  WHERE p.pronamespace = 'helpdesk'::regnamespace AND a.type = 'interval'::regtype
	    AND a.mode IN ('i', 'b')$$,
	$$SELECT arg FROM interval_arg$$,
	'every interval argument of the API is checked below');

SELECT is(pg_temp.err(format(i.call, v.value)), '22023: ' || i.message,
	i.arg || ' refuses ' || v.value)
FROM interval_arg i,
	(VALUES ('2000000000 mons -129143135:26:45.995904'), ('-2000000000 mons 129143135:26:45.995904')) AS v(value)
ORDER BY i.arg, v.value;

SELECT is(pg_temp.err($$SELECT helpdesk.prune_events('-1 day')$$),
	'22023: keep must be between 0 and 3155760000 seconds', 'prune_events refuses a negative keep');
SELECT is(pg_temp.err($$SELECT helpdesk.prune_events('-1 s')$$),
	'22023: keep must be between 0 and 3155760000 seconds', 'prune_events refuses keep -1 s');
SELECT lives_ok($$SELECT helpdesk.prune_events('100 years')$$, 'prune_events: keep 100 years is fine');

-- what was checked is what is stored: months count as 30 days, days as 24 h,
-- and the stored interval has that exact length whatever the calendar says
SELECT lives_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'fq', 'FQ',
	offer_timeout => '1 year -360 days 10 s', max_wait => '1 mon -29 days')$$,
	'upsert_queue: mixed-sign intervals within range are accepted');
SELECT row_eq(
	$$SELECT extract(epoch FROM offer_timeout), extract(epoch FROM max_wait),
	         extract(epoch FROM (now() + offer_timeout) - now())
	  FROM helpdesk.queue WHERE tenant_id = pg_temp.fx('ta') AND external_id = 'fq'$$,
	ROW(10::numeric, 86400::numeric, 10::numeric),
	'upsert_queue: the stored intervals are the lengths that were checked (10 s, 1 day)');
SELECT lives_ok($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), presence_grace => '1 year -360 days 30 s')$$,
	'set_routing: a mixed-sign presence_grace within range is accepted');
SELECT is((SELECT extract(epoch FROM presence_grace) FROM helpdesk.tenant WHERE id = pg_temp.fx('ta')),
	30::numeric, 'set_routing: the stored presence_grace is 30 s, not 5 days and 30 s');
SELECT lives_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), idle_warn_after => '0 s')$$,
	'set_queue_routing: idle_warn_after 0 s still clears');
SELECT is((SELECT idle_warn_after FROM helpdesk.queue WHERE id = pg_temp.fx('qa')), NULL,
	'set_queue_routing: idle_warn_after 0 s stored as NULL (the tenant''s)');
SELECT is(pg_temp.err($$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), idle_warn_after => '1 mon -30 days')$$),
	'no error', 'set_queue_routing: an interval of length 0 also clears');

------------------------------------------------------------------------------
-- integers parsed from jsonb: strict and range-checked (atoi() read
-- 4294967297 as 1)
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 4294967297}')$$),
	'22023: skill "x" has level 4294967297; levels are whole numbers 1..10', 'upsert_agent: skill level 2^32 + 1');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 18446744073709551617}')$$),
	'22023: skill "x" has level 18446744073709551617; levels are whole numbers 1..10', 'upsert_agent: skill level 2^64 + 1');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 0}')$$),
	'22023: skill "x" has level 0; levels are whole numbers 1..10', 'upsert_agent: skill level 0');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": -3}')$$),
	'22023: skill "x" has level -3; levels are whole numbers 1..10', 'upsert_agent: negative skill level');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 2.5}')$$),
	'22023: skill "x" has level 2.5; levels are whole numbers 1..10', 'upsert_agent: fractional skill level');
SELECT matches(pg_temp.err($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 1e300}')$$),
	'^22023: skill "x" has level 1000000000000000000000000000000000000000000000000000000000000000\.\.\. \(301 characters\); levels are whole numbers 1\.\.10$',
	'upsert_agent: a 301-digit level is refused and cut in the message');
SELECT lives_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"x": 1e1, "y": 1}')$$,
	'upsert_agent: levels 1e1 and 1 are whole numbers');
SELECT is((SELECT skills FROM helpdesk.agent WHERE id = pg_temp.fx('a1')), '{"x": 10, "y": 1}'::jsonb,
	'upsert_agent: the levels are stored as given');

------------------------------------------------------------------------------
-- vip_boost_seconds: 11 entries indexed from 1, one dimension, no NULLs
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), vip_boost_seconds => '[0:10]={0,1,2,3,4,5,6,7,8,9,10}')$$),
	'22023: vip_boost_seconds must be indexed from 1 (entry 1 is vip level 0), got lower bound 0',
	'set_routing: vip_boost_seconds indexed from 0');
SELECT is(pg_temp.err($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), vip_boost_seconds => '[2:12]={0,1,2,3,4,5,6,7,8,9,10}')$$),
	'22023: vip_boost_seconds must be indexed from 1 (entry 1 is vip level 0), got lower bound 2',
	'set_routing: vip_boost_seconds indexed from 2');
SELECT is(pg_temp.err($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), vip_boost_seconds => '{{0,1,2,3,4,5,6,7,8,9,10}}')$$),
	'22023: vip_boost_seconds must be a one-dimensional array, got 2 dimensions',
	'set_routing: a two-dimensional vip_boost_seconds');
SELECT is(pg_temp.err($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), vip_boost_seconds => '{}')$$),
	'22023: vip_boost_seconds must be a one-dimensional array, got 0 dimensions',
	'set_routing: an empty vip_boost_seconds');
SELECT is(pg_temp.err($$SELECT helpdesk.set_routing(pg_temp.fx('ta'), vip_boost_seconds => '{0,1,NULL,3,4,5,6,7,8,9,10}')$$),
	'22023: vip_boost_seconds[3] must be 0..86400 seconds', 'set_routing: a NULL in vip_boost_seconds');
SELECT is((SELECT vip_boost_seconds FROM helpdesk.tenant WHERE id = pg_temp.fx('ta')),
	'{0,30,60,120,180,300,420,600,900,1200,1800}'::int[], 'set_routing: the refused arrays left the default');

------------------------------------------------------------------------------
-- issue types
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('ta'), 'r1', NULL, 10, '')$$),
	'22023: issue_type must be 1 to 100 characters long, got 0', 'upsert_urgency_rule: empty issue_type');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('ta'), 'r1', NULL, 10, repeat('t', 101))$$),
	'22023: issue_type must be 1 to 100 characters long, got 101', 'upsert_urgency_rule: issue_type of 101 characters');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('ta'), 'r1', 'x', 10, repeat('é', 600000))$$),
	'22023: issue_type must be 1 to 100 characters long, got 600000', 'upsert_urgency_rule: a huge issue_type');
SELECT is(pg_temp.err($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'), issue_type => '')$$),
	'22023: issue_type must be 1 to 100 characters long, got 0', 'start_session: empty issue_type');
SELECT is(pg_temp.err($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'), issue_type => repeat('t', 101))$$),
	'22023: issue_type must be 1 to 100 characters long, got 101', 'start_session: issue_type of 101 characters');
SELECT is((SELECT count(*) FROM helpdesk.urgency_rule WHERE tenant_id = pg_temp.fx('ta')), 0::bigint,
	'no urgency rule was stored by the refused calls');

------------------------------------------------------------------------------
-- attachments: size a whole number 0..2^53-1, URL with a host
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.post_file(attachment text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.err(format($q$SELECT helpdesk.post_message(%s, %s, 'customer', %s, NULL, 'file', attachment => %L)$q$,
		pg_temp.fx('ta'), pg_temp.fx('s1'), pg_temp.fx('c1'), attachment))
$$;
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": 1e30, "mime": "text/plain"}'),
	'22023: attachment.size must be a whole number of bytes from 0 to 9007199254740991, got 1000000000000000000000000000000',
	'post_message: attachment size 1e30');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": 9007199254740992, "mime": "text/plain"}'),
	'22023: attachment.size must be a whole number of bytes from 0 to 9007199254740991, got 9007199254740992',
	'post_message: attachment size 2^53');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": -1, "mime": "text/plain"}'),
	'22023: attachment.size must be a whole number of bytes from 0 to 9007199254740991, got -1',
	'post_message: negative attachment size');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": 0.5, "mime": "text/plain"}'),
	'22023: attachment.size must be a whole number of bytes from 0 to 9007199254740991, got 0.5',
	'post_message: fractional attachment size');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": "10", "mime": "text/plain"}'),
	'22023: attachment.size is required and must be a number of bytes', 'post_message: attachment size as a string');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": 9007199254740991, "mime": "text/plain"}'),
	'no error', 'post_message: attachment size 2^53 - 1 is fine');
SELECT is(pg_temp.post_file('{"url": "https://x.test/a", "name": "a", "size": 0, "mime": "text/plain"}'),
	'no error', 'post_message: attachment size 0 is fine');

SELECT is(pg_temp.post_file(format('{"url": %s, "name": "a", "size": 1, "mime": "text/plain"}', to_json(u))),
	'22023: attachment.url must name a host (https://host/path, no spaces), got "' || u || '"',
	'post_message: attachment URL ' || u)
FROM unnest(ARRAY['https://', 'http://', 'https:///a.png', 'https://?x=1', 'https://#top',
	'https://:443/a.png', 'https://user@/a.png', 'https://[]/a.png', 'https://[::1/a.png',
	'https://host:99999/a.png', 'https://host:/a.png', 'https://host:8o/a.png',
	'https://exa mple.test/a.png', 'https://x.test/a b.png', E'https://x.test/a\tb', 'https://ho<st/a']) AS u;
SELECT is(pg_temp.post_file(format('{"url": %s, "name": "a", "size": 1, "mime": "text/plain"}', to_json(u))),
	'no error', 'post_message: attachment URL ' || u)
FROM unnest(ARRAY['https://cdn.example.test/a.png', 'https://cdn.example.test:8443/a.png?v=1#x',
	'http://user:pw@host.test/a', 'https://[::1]:8443/a.png', 'https://127.0.0.1/a', 'https://bücher.example/a']) AS u;

------------------------------------------------------------------------------
-- menus: a prompt and distinct option ids
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a1'), 'pick', 'menu',
	options => '[{"id": "a", "label": "A"}, {"id": "b", "label": "B"}, {"id": "a", "label": "A again"}]')$$),
	'22023: menu option ids must be distinct: "a" appears twice', 'post_message: menu with a duplicate option id');
SELECT is(pg_temp.err($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a1'), NULL, 'menu',
	options => '[{"id": "a", "label": "A"}]')$$),
	'22023: menu messages need a prompt: a non-empty body above the options', 'post_message: menu without a prompt');
SELECT is(pg_temp.err($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a1'), '', 'menu',
	options => '[{"id": "a", "label": "A"}]')$$),
	'22023: menu messages need a prompt: a non-empty body above the options', 'post_message: menu with an empty prompt');
SELECT is(pg_temp.err($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a1'), 'pick', 'menu',
	options => '[{"id": "a", "label": "A"}, {"id": "A", "label": "B"}]')$$),
	'no error', 'post_message: option ids differing in case are distinct');

------------------------------------------------------------------------------
-- free-form jsonb: at most 64 KB and 8 levels deep
------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.big_object(keys int, prefix text DEFAULT 'k') RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_object_agg(prefix || g, repeat('x', 100)) FROM generate_series(1, keys) g
$$;
SELECT matches(pg_temp.err(format($$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A', settings => %L)$$, pg_temp.big_object(1000))),
	'^54000: settings is [0-9]+ bytes, more than the limit of 65536$', 'upsert_tenant: settings over 64 KB');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A',
	settings => '{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}')$$),
	'54000: settings nests objects and arrays more than 8 levels deep', 'upsert_tenant: settings 9 levels deep');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A',
	settings => '{"a":[[[[[[[[1]]]]]]]]}')$$),
	'54000: settings nests objects and arrays more than 8 levels deep', 'upsert_tenant: settings 9 levels deep in arrays');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A',
	settings => '{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":1}}}}}}}}')$$),
	'no error', 'upsert_tenant: settings 8 levels deep are fine');
SELECT is(pg_temp.err(format($$SELECT helpdesk.upsert_tenant('tap-lim-a', 'TAP limits A', settings => %L)$$, pg_temp.big_object(500))),
	'no error', 'upsert_tenant: settings of about 55 KB are fine');
SELECT matches(pg_temp.err(format($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1', attributes => %L)$$, pg_temp.big_object(1000))),
	'^54000: attributes is [0-9]+ bytes, more than the limit of 65536$', 'upsert_customer: attributes over 64 KB');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1',
	attributes => '{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}')$$),
	'54000: attributes nests objects and arrays more than 8 levels deep', 'upsert_customer: attributes 9 levels deep');
SELECT matches(pg_temp.err(format($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'), attributes => %L)$$, pg_temp.big_object(1000))),
	'^54000: attributes is [0-9]+ bytes, more than the limit of 65536$', 'start_session: attributes over 64 KB');
SELECT is(pg_temp.err($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'),
	attributes => '{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}')$$),
	'54000: attributes nests objects and arrays more than 8 levels deep', 'start_session: attributes 9 levels deep');
SELECT matches(pg_temp.err(format($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => %L)$$,
	(SELECT jsonb_object_agg('skill-' || g, 1) FROM generate_series(1, 5000) g))),
	'^54000: skills is [0-9]+ bytes, more than the limit of 65536$', 'upsert_agent: skills over 64 KB');
-- customer attributes merge key by key: the merged document is held to the limit too
SELECT is(pg_temp.err(format($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1', attributes => %L)$$, pg_temp.big_object(400, 'a'))),
	'no error', 'upsert_customer: 44 KB of attributes are fine');
SELECT matches(pg_temp.err(format($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1', attributes => %L)$$, pg_temp.big_object(400, 'b'))),
	'^54000: attributes merged with the stored ones is [0-9]+ bytes, more than the limit of 65536$',
	'upsert_customer: 44 KB more would merge into 88 KB: refused');
SELECT is((SELECT attributes FROM helpdesk.customer WHERE id = pg_temp.fx('c1')), pg_temp.big_object(400, 'a'),
	'upsert_customer: the refused merge left the stored attributes as they were');

------------------------------------------------------------------------------
-- error messages: a user value is quoted cut at a character boundary, so the
-- message stays short and valid UTF-8 (the old 1024-byte buffer ended a
-- message in half an 'é'; enum errors copied a whole 1 MB value)
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1', language => repeat('é', 600000))$$),
	'22023: invalid language "' || repeat('é', 32) || '"... (600000 characters): use a lowercase tag such as en or pt-br',
	'upsert_customer: a 600,000-character language is quoted as 32 characters and its length');
SELECT is(pg_temp.err($$SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('a1'), repeat('x', 1000000))$$),
	'22023: invalid status "' || repeat('x', 64) || '"... (1000000 characters)',
	'set_agent_status: a 1 MB status is quoted as 64 characters and its length');
SELECT is(pg_temp.err($$SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('a1'), 'dancing')$$),
	'22023: invalid status "dancing"', 'set_agent_status: a short value is quoted whole');

SELECT is(pg_temp.message_shape(q), 'bounded', 'a bounded, valid UTF-8 message: ' || what)
FROM (VALUES
	('upsert_customer language',
	$$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-1', language => repeat('é', 600000))$$),
	('set_agent_status status',
	$$SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('a1'), repeat('é', 600000))$$),
	('post_message type',
	$$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'x', repeat('é', 600000))$$),
	('post_message sender_kind',
	$$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), repeat('é', 600000), pg_temp.fx('c1'), 'x')$$),
	('start_session channel',
	$$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'), channel => repeat('é', 600000))$$),
	('upsert_tenant slug',
	$$SELECT helpdesk.upsert_tenant(repeat('é', 600000), 'x')$$),
	('upsert_agent skill name (40 KB)',
	$$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => jsonb_build_object(repeat('é', 20000), 1))$$),
	('upsert_agent skill level of 20,001 digits',
	$$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => jsonb_build_object('x', 1e20000))$$),
	('upsert_agent languages entry',
	$$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', languages => ARRAY[repeat('é', 600000)])$$),
	('upsert_queue required_skills entry',
	$$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', required_skills => ARRAY[repeat('é', 600000)])$$),
	('upsert_queue strategy',
	$$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', strategy => repeat('é', 600000))$$),
	('set_queue_routing offer_mode',
	$$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('qa'), offer_mode => repeat('é', 600000))$$),
	('close_session closed_by',
	$$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('s1'), closed_by => repeat('é', 600000))$$),
	('mark_read reader_kind',
	$$SELECT helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s1'), repeat('é', 600000), pg_temp.fx('c1'), 1)$$),
	('issue_token kind',
	$$SELECT helpdesk.issue_token(pg_temp.fx('ta'), repeat('é', 600000), pg_temp.fx('a1'))$$),
	('attachment URL (the old buffer cut it in an é)',
	format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), NULL, 'file', attachment => %L)$$,
		jsonb_build_object('url', 'ftp://' || repeat('é', 1000), 'name', 'a', 'size', 1, 'mime', 'text/plain'))),
	('attachment URL without a host',
	format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), NULL, 'file', attachment => %L)$$,
		jsonb_build_object('url', 'https://' || repeat('é', 1000) || ' x', 'name', 'a', 'size', 1, 'mime', 'text/plain'))),
	('attachment mime',
	format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), NULL, 'file', attachment => %L)$$,
		jsonb_build_object('url', 'https://x.test/a', 'name', 'a', 'size', 1, 'mime', repeat('é', 120)))),
	('menu option id repeated',
	format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a1'), 'pick', 'menu', options => %L)$$,
		jsonb_build_array(jsonb_build_object('id', repeat('é', 32), 'label', 'a'), jsonb_build_object('id', repeat('é', 32), 'label', 'b'))))
) AS t(what, q);

-- a client_msg_id (up to 100 characters) reused for other content
SELECT lives_ok(format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'one', client_msg_id => %L)$$,
	repeat('é', 100)), 'post_message: a 100-character client_msg_id');
SELECT is(pg_temp.err(format($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'two', client_msg_id => %L)$$,
	repeat('é', 100))),
	'HD409: client_msg_id "' || repeat('é', 32) || '"... (100 characters) was already used for a different message in session ' || pg_temp.fx('s1'),
	'post_message: the reused client_msg_id is quoted cut');

SELECT * FROM finish();
ROLLBACK;
