BEGIN;
SELECT plan(176);

-- Every error path of the helpdesk SQL API, with its SQLSTATE and message:
--   22004 NULL argument, 22023 invalid value, 42501 not part of the session,
--   54000 message too large, 55000 no default queue,
--   HD404 not found (another tenant's ids included), HD409 client_msg_id
--   reused, HD410 session closed.
-- Fixtures are made here with the API; ids are kept in the temp table fx and
-- read back with pg_temp.fx(name), which fails loudly on an unknown name.

\ir fixtures.psql

-- Tenant A: no bot, default queue qa, second queue qa2.
INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-err-a', 'TAP errors A');
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qa2', helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing');
INSERT INTO fx SELECT 'aa1', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana');
INSERT INTO fx SELECT 'aa2', helpdesk.upsert_agent(pg_temp.fx('ta'), 'bo', 'Bo');
INSERT INTO fx SELECT 'aa_off', helpdesk.upsert_agent(pg_temp.fx('ta'), 'cy', 'Cy', enabled => false);
INSERT INTO fx SELECT 'ca_active', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-active');
INSERT INTO fx SELECT 'ca_queued', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-queued');
INSERT INTO fx SELECT 'ca_offered', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-offered');
INSERT INTO fx SELECT 'ca_closed', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-closed');
INSERT INTO fx SELECT 'ca_free', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c-free');
INSERT INTO fx SELECT 'sa_active', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_active'));
INSERT INTO fx SELECT 'sa_queued', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_queued'));
INSERT INTO fx SELECT 'sa_offered', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_offered'));
INSERT INTO fx SELECT 'sa_closed', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_closed'));
-- routing does not exist yet: assign agents by hand
UPDATE helpdesk.session SET state = 'active', agent_id = pg_temp.fx('aa1'), assigned_at = now()
 WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('sa_active');
UPDATE helpdesk.session SET state = 'offered', agent_id = pg_temp.fx('aa2'), offer_expires_at = now() + interval '1 hour'
 WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('sa_offered');
-- messages whose client_msg_ids are reused below
INSERT INTO fx SELECT 'ma_text', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer',
	pg_temp.fx('ca_active'), 'where is my sword?', client_msg_id => 'cm-text');
INSERT INTO fx SELECT 'ma_note', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note',
	pg_temp.fx('aa1'), 'check the logs', client_msg_id => 'cm-note');
INSERT INTO fx SELECT 'ma_image', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent',
	pg_temp.fx('aa1'), NULL, 'image', 'cm-image',
	'{"url": "https://cdn.example.test/a.png", "name": "a.png", "size": 10, "mime": "image/png"}');
INSERT INTO fx SELECT 'ma_menu', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent',
	pg_temp.fx('aa1'), 'pick one', 'menu', 'cm-menu', NULL,
	'[{"id": "refund", "label": "Refund"}]');

-- Tenant B: bot enabled, no default queue.
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-err-b', 'TAP errors B', bot_enabled => true);
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'general', 'General B');
INSERT INTO fx SELECT 'ab', helpdesk.upsert_agent(pg_temp.fx('tb'), 'ana', 'Ana B');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'c-bot');
INSERT INTO fx SELECT 'sb', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('cb'));

-- Tenant C: no bot and no default queue.
INSERT INTO fx SELECT 'tc', helpdesk.upsert_tenant('tap-err-c', 'TAP errors C');
INSERT INTO fx SELECT 'cc', helpdesk.upsert_customer(pg_temp.fx('tc'), 'c-nodefault');

-- Ids that exist nowhere.
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;
INSERT INTO fx SELECT 'no_customer', coalesce(max(id), 0) + 1000000 FROM helpdesk.customer;
INSERT INTO fx SELECT 'no_queue', coalesce(max(id), 0) + 1000000 FROM helpdesk.queue;
INSERT INTO fx SELECT 'no_agent', coalesce(max(id), 0) + 1000000 FROM helpdesk.agent;
INSERT INTO fx SELECT 'no_session', coalesce(max(id), 0) + 1000000 FROM helpdesk.session;

-- fixtures are what the tests below assume
SELECT is(helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_closed')), 'queued',
	'fixture: closing a queued session returns its previous state');
SELECT results_eq(
	$$SELECT id, state FROM helpdesk.session
	  WHERE tenant_id IN (pg_temp.fx('ta'), pg_temp.fx('tb')) ORDER BY id$$,
	$$VALUES (pg_temp.fx('sa_active'), 'active'), (pg_temp.fx('sa_queued'), 'queued'),
	         (pg_temp.fx('sa_offered'), 'offered'), (pg_temp.fx('sa_closed'), 'closed'),
	         (pg_temp.fx('sb'), 'bot')$$,
	'fixture sessions are in the expected states');

CREATE TEMP TABLE before AS SELECT pg_temp.snapshot() AS snap;

------------------------------------------------------------------------------
-- upsert_tenant
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.upsert_tenant(NULL, 'X')$$,
	'22004', 'slug must not be NULL', 'upsert_tenant: NULL slug');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', NULL)$$,
	'22004', 'name must not be NULL', 'upsert_tenant: NULL name');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('Bad Slug', 'X')$$,
	'22023', 'invalid tenant slug "Bad Slug": use 1 to 63 lowercase letters, digits, _ . or -, starting with a letter or digit',
	'upsert_tenant: slug with upper case and space');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('-tap', 'X')$$,
	'22023', 'invalid tenant slug "-tap": use 1 to 63 lowercase letters, digits, _ . or -, starting with a letter or digit',
	'upsert_tenant: slug starting with -');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant(repeat('s', 64), 'X')$$,
	'22023', format('invalid tenant slug "%s": use 1 to 63 lowercase letters, digits, _ . or -, starting with a letter or digit', repeat('s', 64)),
	'upsert_tenant: slug of 64 characters');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', '')$$,
	'22023', 'name must be 1 to 200 characters long, got 0', 'upsert_tenant: empty name');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', repeat('n', 201))$$,
	'22023', 'name must be 1 to 200 characters long, got 201', 'upsert_tenant: name too long');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', 'X', heartbeat_interval => '500 ms')$$,
	'22023', 'heartbeat_interval must be between 1 and 3600 seconds', 'upsert_tenant: heartbeat_interval too short');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', 'X', heartbeat_misses => 0)$$,
	'22023', 'heartbeat_misses must be between 1 and 100, got 0', 'upsert_tenant: heartbeat_misses 0');
SELECT throws_ok($$SELECT helpdesk.upsert_tenant('tap-err-x', 'X', settings => '[1]')$$,
	'22023', 'settings must be a JSON object', 'upsert_tenant: settings not an object');

------------------------------------------------------------------------------
-- upsert_agent
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.upsert_agent(NULL, 'x', 'X')$$,
	'22004', 'tenant_id must not be NULL', 'upsert_agent: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), NULL, 'X')$$,
	'22004', 'external_id must not be NULL', 'upsert_agent: NULL external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', NULL)$$,
	'22004', 'display_name must not be NULL', 'upsert_agent: NULL display_name');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('no_tenant'), 'x', 'X')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'upsert_agent: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), '', 'X')$$,
	'22023', 'external_id must be 1 to 200 characters long, got 0', 'upsert_agent: empty external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', '')$$,
	'22023', 'display_name must be 1 to 200 characters long, got 0', 'upsert_agent: empty display_name');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', '{"billing": 11}')$$,
	'22023', 'skill "billing" has level 11; levels are whole numbers 1..10', 'upsert_agent: skill level 11');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', '{"billing": "high"}')$$,
	'22023', 'skill "billing" must have a numeric level 1..10', 'upsert_agent: skill level not a number');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', '{"Billing": 3}')$$,
	'22023', 'invalid skill name "Billing": use 1 to 64 lowercase letters, digits, _ . or -', 'upsert_agent: skill name with upper case');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', '["billing"]')$$,
	'22023', 'skills must be a JSON object', 'upsert_agent: skills not an object');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', languages => '{EN}')$$,
	'22023', 'invalid entry "EN" in languages: use 1 to 64 lowercase letters, digits, _ . or -', 'upsert_agent: language in upper case');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', languages => '{en,NULL}')$$,
	'22023', 'languages must not contain NULL', 'upsert_agent: NULL language');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', max_sessions => 1001)$$,
	'22023', 'max_sessions must be between 0 and 1000, got 1001', 'upsert_agent: max_sessions 1001');
SELECT throws_ok($$SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'x', 'X', max_sessions => -1)$$,
	'22023', 'max_sessions must be between 0 and 1000, got -1', 'upsert_agent: max_sessions -1');

------------------------------------------------------------------------------
-- upsert_queue
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.upsert_queue(NULL, 'x', 'X')$$,
	'22004', 'tenant_id must not be NULL', 'upsert_queue: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), NULL, 'X')$$,
	'22004', 'external_id must not be NULL', 'upsert_queue: NULL external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', NULL)$$,
	'22004', 'name must not be NULL', 'upsert_queue: NULL name');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('no_tenant'), 'x', 'X')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'upsert_queue: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', strategy => 'random')$$,
	'22023', 'invalid strategy "random"', 'upsert_queue: unknown strategy');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', required_skills => '{NULL}')$$,
	'22023', 'required_skills must not contain NULL', 'upsert_queue: NULL in required_skills');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', required_languages => '{{en},{es}}')$$,
	'22023', 'required_languages must be a one-dimensional array', 'upsert_queue: 2-D required_languages');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', offer_timeout => '0 s')$$,
	'22023', 'offer_timeout must be between 1 and 3600 seconds', 'upsert_queue: offer_timeout 0');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', max_wait => '8 days')$$,
	'22023', 'max_wait must be between 1 and 604800 seconds', 'upsert_queue: max_wait over 7 days');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', overflow_queue_id => pg_temp.fx('no_queue'))$$,
	'HD404', format('overflow queue %s does not exist in tenant %s', pg_temp.fx('no_queue'), pg_temp.fx('ta')),
	'upsert_queue: unknown overflow queue');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'x', 'X', overflow_queue_id => pg_temp.fx('qb'))$$,
	'HD404', format('overflow queue %s does not exist in tenant %s', pg_temp.fx('qb'), pg_temp.fx('ta')),
	'upsert_queue: overflow queue of another tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing', overflow_queue_id => pg_temp.fx('qa2'))$$,
	'22023', NULL, 'upsert_queue: overflow into the queue itself is an invalid value');

------------------------------------------------------------------------------
-- upsert_customer
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.upsert_customer(NULL, 'x')$$,
	'22004', 'tenant_id must not be NULL', 'upsert_customer: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), NULL)$$,
	'22004', 'external_id must not be NULL', 'upsert_customer: NULL external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('no_tenant'), 'x')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'upsert_customer: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), repeat('e', 201))$$,
	'22023', 'external_id must be 1 to 200 characters long, got 201', 'upsert_customer: external_id too long');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'x', '')$$,
	'22023', 'display_name must be 1 to 200 characters long, got 0', 'upsert_customer: empty display_name');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'x', vip_level => 11)$$,
	'22023', 'vip_level must be between 0 and 10, got 11', 'upsert_customer: vip_level 11');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'x', language => 'EN')$$,
	'22023', 'invalid language "EN": use a lowercase tag such as en or pt-br', 'upsert_customer: language in upper case');
SELECT throws_ok($$SELECT helpdesk.upsert_customer(pg_temp.fx('ta'), 'x', attributes => '"vip"')$$,
	'22023', 'attributes must be a JSON object', 'upsert_customer: attributes not an object');

------------------------------------------------------------------------------
-- start_session
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(NULL, pg_temp.fx('ca_free'))$$,
	'22004', 'tenant_id must not be NULL', 'start_session: NULL tenant_id');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), NULL)$$,
	'22004', 'customer_id must not be NULL', 'start_session: NULL customer_id');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), NULL)$$,
	'22004', 'channel must not be NULL', 'start_session: NULL channel');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('no_tenant'), pg_temp.fx('ca_free'))$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'start_session: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('no_customer'))$$,
	'HD404', format('customer %s does not exist in tenant %s', pg_temp.fx('no_customer'), pg_temp.fx('ta')),
	'start_session: unknown customer');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('cb'))$$,
	'HD404', format('customer %s does not exist in tenant %s', pg_temp.fx('cb'), pg_temp.fx('ta')),
	'start_session: customer of another tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), queue_id => pg_temp.fx('no_queue'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('no_queue'), pg_temp.fx('ta')),
	'start_session: unknown queue');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), queue_id => pg_temp.fx('qb'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qb'), pg_temp.fx('ta')),
	'start_session: queue of another tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('cb'), queue_id => pg_temp.fx('qa'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qa'), pg_temp.fx('tb')),
	'start_session: queue of another tenant in a bot tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('tc'), pg_temp.fx('cc'))$$,
	'55000', format('tenant %s has no default queue', pg_temp.fx('tc')), 'start_session: tenant without default queue');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), 'Web Chat')$$,
	'22023', 'invalid channel "Web Chat"', 'start_session: invalid channel');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), '')$$,
	'22023', 'invalid channel ""', 'start_session: empty channel');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), issue_type => '')$$,
	'22023', 'issue_type must be 1 to 100 characters long, got 0', 'start_session: empty issue_type');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), attributes => '[1]')$$,
	'22023', 'attributes must be a JSON object', 'start_session: attributes not an object');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), priority => 1001)$$,
	'22023', 'priority must be between -1000 and 1000, got 1001', 'start_session: priority 1001');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), first_message => '')$$,
	'22023', 'text messages need a non-empty body', 'start_session: empty first_message');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), first_message => 'hi', client_msg_id => repeat('k', 101))$$,
	'22023', 'client_msg_id must be 1 to 100 characters long, got 101', 'start_session: client_msg_id too long');

------------------------------------------------------------------------------
-- request_agent
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.request_agent(NULL, pg_temp.fx('sa_queued'))$$,
	'22004', 'tenant_id must not be NULL', 'request_agent: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), NULL)$$,
	'22004', 'session_id must not be NULL', 'request_agent: NULL session_id');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('no_tenant'), pg_temp.fx('sa_queued'))$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'request_agent: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('no_session'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('ta')),
	'request_agent: unknown session');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('sb'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sb'), pg_temp.fx('ta')),
	'request_agent: session of another tenant');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), pg_temp.fx('no_queue'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('no_queue'), pg_temp.fx('ta')),
	'request_agent: unknown queue');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), pg_temp.fx('qb'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qb'), pg_temp.fx('ta')),
	'request_agent: queue of another tenant');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('sa_closed'))$$,
	'HD410', format('session %s cannot go from closed to queued', pg_temp.fx('sa_closed')),
	'request_agent: closed session');
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('tb'), pg_temp.fx('sb'))$$,
	'55000', format('tenant %s has no default queue', pg_temp.fx('tb')),
	'request_agent: bot session, no queue given, tenant without default queue');

------------------------------------------------------------------------------
-- close_session
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.close_session(NULL, pg_temp.fx('sa_queued'))$$,
	'22004', 'tenant_id must not be NULL', 'close_session: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), NULL)$$,
	'22004', 'session_id must not be NULL', 'close_session: NULL session_id');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('no_tenant'), pg_temp.fx('sa_queued'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_queued'), pg_temp.fx('no_tenant')),
	'close_session: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('no_session'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('ta')),
	'close_session: unknown session');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('tb'), pg_temp.fx('sa_queued'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_queued'), pg_temp.fx('tb')),
	'close_session: session of another tenant');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_closed'))$$,
	'HD410', format('session %s cannot go from closed to closed', pg_temp.fx('sa_closed')),
	'close_session: closed -> closed');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_closed'), closed_by => 'customer', actor_id => pg_temp.fx('ca_closed'))$$,
	'HD410', format('session %s cannot go from closed to closed', pg_temp.fx('sa_closed')),
	'close_session: closed -> closed by its own customer');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), closed_by => 'robot')$$,
	'22023', 'invalid closed_by "robot"', 'close_session: unknown closed_by');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), '')$$,
	'22023', 'reason must be 1 to 500 characters long, got 0', 'close_session: empty reason');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), closed_by => 'customer')$$,
	'22004', 'actor_id must not be NULL when closed_by is customer', 'close_session: customer without actor_id');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_active'), closed_by => 'agent')$$,
	'22004', 'actor_id must not be NULL when closed_by is agent', 'close_session: agent without actor_id');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), closed_by => 'customer', actor_id => pg_temp.fx('ca_active'))$$,
	'42501', format('customer %s is not part of session %s', pg_temp.fx('ca_active'), pg_temp.fx('sa_queued')),
	'close_session: customer of another session');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_active'), closed_by => 'agent', actor_id => pg_temp.fx('aa2'))$$,
	'42501', format('agent %s is not assigned to session %s', pg_temp.fx('aa2'), pg_temp.fx('sa_active')),
	'close_session: agent not assigned to the session');
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), closed_by => 'agent', actor_id => pg_temp.fx('aa1'))$$,
	'42501', format('agent %s is not assigned to session %s', pg_temp.fx('aa1'), pg_temp.fx('sa_queued')),
	'close_session: agent on a session without agent');

------------------------------------------------------------------------------
-- post_message
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.post_message(NULL, pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'hi')$$,
	'22004', 'tenant_id must not be NULL', 'post_message: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), NULL, 'customer', pg_temp.fx('ca_active'), 'hi')$$,
	'22004', 'session_id must not be NULL', 'post_message: NULL session_id');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), NULL, pg_temp.fx('ca_active'), 'hi')$$,
	'22004', 'sender_kind must not be NULL', 'post_message: NULL sender_kind');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', NULL, 'hi')$$,
	'22004', 'sender_id must not be NULL for customer messages', 'post_message: NULL sender_id for a customer');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', NULL, 'hi')$$,
	'22004', 'sender_id must not be NULL for agent messages', 'post_message: NULL sender_id for an agent');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note', NULL, 'hi')$$,
	'22004', 'sender_id must not be NULL for note messages', 'post_message: NULL sender_id for a note');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), 'bot', pg_temp.fx('aa1'), 'hi')$$,
	'22023', 'sender_id must be NULL for bot messages', 'post_message: sender_id for the bot');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'system', pg_temp.fx('aa1'), 'x', 'system')$$,
	'22023', 'sender_id must be NULL for system messages', 'post_message: sender_id for the system');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('no_tenant'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'hi')$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_active'), pg_temp.fx('no_tenant')),
	'post_message: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('no_session'), 'customer', pg_temp.fx('ca_active'), 'hi')$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('ta')),
	'post_message: unknown session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'hi')$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_active'), pg_temp.fx('tb')),
	'post_message: session of another tenant');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_closed'), 'customer', pg_temp.fx('ca_closed'), 'hello?')$$,
	'HD410', format('session %s is closed', pg_temp.fx('sa_closed')), 'post_message: customer in a closed session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_closed'), 'system', NULL, 'bye', 'system')$$,
	'HD410', format('session %s is closed', pg_temp.fx('sa_closed')), 'post_message: system in a closed session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note', pg_temp.fx('no_agent'), 'ghost')$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('no_agent'), pg_temp.fx('ta')),
	'post_message: note by an unknown agent');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note', pg_temp.fx('ab'), 'ghost')$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('ab'), pg_temp.fx('ta')),
	'post_message: note by an agent of another tenant');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note', pg_temp.fx('aa_off'), 'psst')$$,
	'42501', format('agent %s is disabled and cannot write notes in session %s', pg_temp.fx('aa_off'), pg_temp.fx('sa_active')),
	'post_message: note by a disabled agent');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_queued'), 'me too')$$,
	'42501', format('customer %s is not part of session %s', pg_temp.fx('ca_queued'), pg_temp.fx('sa_active')),
	'post_message: customer of another session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('cb'), 'me too')$$,
	'42501', format('customer %s is not part of session %s', pg_temp.fx('cb'), pg_temp.fx('sa_active')),
	'post_message: customer of another tenant');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa2'), 'hi')$$,
	'42501', format('agent %s is not assigned to session %s', pg_temp.fx('aa2'), pg_temp.fx('sa_active')),
	'post_message: agent not assigned');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), 'agent', pg_temp.fx('aa1'), 'hi')$$,
	'42501', format('agent %s is not assigned to session %s', pg_temp.fx('aa1'), pg_temp.fx('sa_queued')),
	'post_message: agent on a queued session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_offered'), 'agent', pg_temp.fx('aa2'), 'hi')$$,
	'42501', format('agent %s has not accepted session %s yet', pg_temp.fx('aa2'), pg_temp.fx('sa_offered')),
	'post_message: agent on an offered session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'bot', NULL, 'beep')$$,
	'42501', format('the bot is not part of session %s while it is active', pg_temp.fx('sa_active')),
	'post_message: bot in an active session');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'robot', NULL, 'beep')$$,
	'22023', 'invalid sender_kind "robot"', 'post_message: unknown sender_kind');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'x', 'video')$$,
	'22023', 'invalid message type "video"', 'post_message: unknown type');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), '')$$,
	'22023', 'text messages need a non-empty body', 'post_message: empty text');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL)$$,
	'22023', 'text messages need a non-empty body', 'post_message: NULL text');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'x', 'system')$$,
	'22023', 'only the system sender may post system messages, not customer', 'post_message: system message by a customer');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL, 'file')$$,
	'22023', 'file messages need an attachment {"url", "name", "size", "mime"}', 'post_message: file without attachment');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL, 'image',
	attachment => '{"url": "https://x.test/a.pdf", "name": "a.pdf", "size": 1, "mime": "application/pdf"}')$$,
	'22023', 'image messages need an image/* mime type, got "application/pdf"', 'post_message: image with a non-image mime type');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL, 'image',
	attachment => '{"url": "ftp://x.test/a.png", "name": "a.png", "size": 1, "mime": "image/png"}')$$,
	'22023', 'attachment.url must be an http or https URL, got "ftp://x.test/a.png"', 'post_message: attachment with an ftp URL');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL, 'file',
	attachment => '{"url": "https://x.test/a.pdf", "name": "a.pdf", "mime": "application/pdf"}')$$,
	'22023', 'attachment.size is required and must be a number of bytes', 'post_message: attachment without size');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick', 'menu', options => '[]')$$,
	'22023', 'a menu has 1 to 20 options, got 0', 'post_message: menu without options');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick', 'menu',
	options => (SELECT jsonb_agg(jsonb_build_object('id', i::text, 'label', 'L' || i)) FROM generate_series(1, 21) i))$$,
	'22023', 'a menu has 1 to 20 options, got 21', 'post_message: menu with 21 options');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick', 'menu', options => '[{"id": "a"}]')$$,
	'22023', 'option.label is required', 'post_message: menu option without label');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick', 'menu', options => '{"id": "a"}')$$,
	'22023', 'menu messages need options: a JSON array of {"id", "label"}', 'post_message: menu options not an array');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'x', client_msg_id => '')$$,
	'22023', 'client_msg_id must be 1 to 100 characters long, got 0', 'post_message: empty client_msg_id');

-- idempotency conflicts: a client_msg_id reused for different content
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), 'something else', client_msg_id => 'cm-text')$$,
	'HD409', format('client_msg_id "cm-text" was already used for a different message in session %s', pg_temp.fx('sa_active')),
	'post_message: same client_msg_id, other body');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'note', pg_temp.fx('aa2'), 'check the logs', client_msg_id => 'cm-note')$$,
	'HD409', format('client_msg_id "cm-note" was already used for a different message in session %s', pg_temp.fx('sa_active')),
	'post_message: same client_msg_id, same note by another agent');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick one', 'text', 'cm-menu')$$,
	'HD409', format('client_msg_id "cm-menu" was already used for a different message in session %s', pg_temp.fx('sa_active')),
	'post_message: same client_msg_id, other type');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), NULL, 'image', 'cm-image',
	'{"url": "https://cdn.example.test/b.png", "name": "b.png", "size": 20, "mime": "image/png"}')$$,
	'HD409', format('client_msg_id "cm-image" was already used for a different message in session %s', pg_temp.fx('sa_active')),
	'post_message: same client_msg_id, other attachment');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa1'), 'pick one', 'menu', 'cm-menu', NULL,
	'[{"id": "resend", "label": "Send again"}]')$$,
	'HD409', format('client_msg_id "cm-menu" was already used for a different message in session %s', pg_temp.fx('sa_active')),
	'post_message: same client_msg_id, other menu options');

-- size limit (helpdesk.max_message_bytes counts bytes, not characters)
SET LOCAL helpdesk.max_message_bytes = 64;
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), repeat('x', 65))$$,
	'54000', 'message is 65 bytes, more than the limit of 64', 'post_message: one byte over the limit');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), repeat('é', 33))$$,
	'54000', 'message is 66 bytes, more than the limit of 64', 'post_message: 33 two-byte characters are 66 bytes');
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca_free'), first_message => repeat('x', 65))$$,
	'54000', 'message is 65 bytes, more than the limit of 64', 'start_session: first_message over the limit');
SET LOCAL helpdesk.max_message_bytes TO DEFAULT;

------------------------------------------------------------------------------
-- mark_delivered / mark_read
------------------------------------------------------------------------------
SELECT throws_ok(format($$SELECT helpdesk.%s(NULL, pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'22004', 'tenant_id must not be NULL', f || ': NULL tenant_id')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), NULL, 'customer', pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'22004', 'session_id must not be NULL', f || ': NULL session_id')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), NULL, pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'22004', 'reader_kind must not be NULL', f || ': NULL reader_kind')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', NULL, pg_temp.fx('ma_menu'))$$, f),
	'22004', 'reader_id must not be NULL', f || ': NULL reader_id')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), NULL)$$, f),
	'22004', 'up_to_message_id must not be NULL', f || ': NULL up_to_message_id')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'robot', pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'22023', 'invalid reader_kind "robot"', f || ': unknown reader_kind')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('no_session'), 'customer', pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('ta')), f || ': unknown session')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('tb'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_active'), pg_temp.fx('ma_menu'))$$, f),
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_active'), pg_temp.fx('tb')), f || ': session of another tenant')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'customer', pg_temp.fx('ca_queued'), pg_temp.fx('ma_menu'))$$, f),
	'42501', format('customer %s is not part of session %s', pg_temp.fx('ca_queued'), pg_temp.fx('sa_active')), f || ': customer of another session')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_active'), 'agent', pg_temp.fx('aa2'), pg_temp.fx('ma_text'))$$, f),
	'42501', format('agent %s is not part of session %s', pg_temp.fx('aa2'), pg_temp.fx('sa_active')), f || ': agent not assigned')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;
SELECT throws_ok(format($$SELECT helpdesk.%s(pg_temp.fx('ta'), pg_temp.fx('sa_queued'), 'agent', pg_temp.fx('aa1'), pg_temp.fx('ma_text'))$$, f),
	'42501', format('agent %s is not part of session %s', pg_temp.fx('aa1'), pg_temp.fx('sa_queued')), f || ': agent on a session without agent')
  FROM unnest(ARRAY['mark_delivered', 'mark_read']) f;

------------------------------------------------------------------------------
-- session_messages
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(NULL, pg_temp.fx('sa_active'))$$,
	'22004', 'tenant_id must not be NULL', 'session_messages: NULL tenant_id');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), NULL)$$,
	'22004', 'session_id must not be NULL', 'session_messages: NULL session_id');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('sa_active'), NULL)$$,
	'22004', 'after_id must not be NULL', 'session_messages: NULL after_id');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('sa_active'), max_rows => NULL)$$,
	'22004', 'max_rows must not be NULL', 'session_messages: NULL max_rows');
SELECT lives_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('sa_active'), include_notes => NULL)$$,
	'session_messages: NULL include_notes means false, as in customer_messages');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('no_session'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('ta')),
	'session_messages: unknown session');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('tb'), pg_temp.fx('sa_active'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sa_active'), pg_temp.fx('tb')),
	'session_messages: session of another tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('sa_active'), max_rows => 0)$$,
	'22023', 'max_rows must be between 1 and 1000, got 0', 'session_messages: max_rows 0');
SELECT throws_ok($$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('sa_active'), max_rows => 1001)$$,
	'22023', 'max_rows must be between 1 and 1000, got 1001', 'session_messages: max_rows 1001');

------------------------------------------------------------------------------
-- customer_messages
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(NULL, pg_temp.fx('ca_active'))$$,
	'22004', 'tenant_id must not be NULL', 'customer_messages: NULL tenant_id');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), NULL)$$,
	'22004', 'customer_id must not be NULL', 'customer_messages: NULL customer_id');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca_active'), max_rows => NULL)$$,
	'22004', 'max_rows must not be NULL', 'customer_messages: NULL max_rows');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('no_tenant'), pg_temp.fx('ca_active'))$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'customer_messages: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('no_customer'))$$,
	'HD404', format('customer %s does not exist in tenant %s', pg_temp.fx('no_customer'), pg_temp.fx('ta')),
	'customer_messages: unknown customer');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('tb'), pg_temp.fx('ca_active'))$$,
	'HD404', format('customer %s does not exist in tenant %s', pg_temp.fx('ca_active'), pg_temp.fx('tb')),
	'customer_messages: customer of another tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca_active'), max_rows => 0)$$,
	'22023', 'max_rows must be between 1 and 1000, got 0', 'customer_messages: max_rows 0');
SELECT throws_ok($$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca_active'), max_rows => 1001)$$,
	'22023', 'max_rows must be between 1 and 1000, got 1001', 'customer_messages: max_rows 1001');

------------------------------------------------------------------------------
-- events_since
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM helpdesk.events_since(NULL)$$,
	'22004', 'after_pos must not be NULL', 'events_since: NULL after_pos');
SELECT throws_ok($$SELECT * FROM helpdesk.events_since(0, NULL)$$,
	'22004', 'max_rows must not be NULL', 'events_since: NULL max_rows');
SELECT throws_ok($$SELECT * FROM helpdesk.events_since(-1)$$,
	'22023', 'after_pos must not be negative', 'events_since: negative after_pos');
SELECT throws_ok($$SELECT * FROM helpdesk.events_since(0, 0)$$,
	'22023', 'max_rows must be between 1 and 100000, got 0', 'events_since: max_rows 0');
SELECT throws_ok($$SELECT * FROM helpdesk.events_since(0, 100001)$$,
	'22023', 'max_rows must be between 1 and 100000, got 100001', 'events_since: max_rows 100001');

------------------------------------------------------------------------------
-- none of the failed calls above wrote anything
------------------------------------------------------------------------------
SELECT is(pg_temp.snapshot(), (SELECT snap FROM before),
	'row counts, session states and receipts are unchanged after every failed call');
SELECT is((SELECT count(*) FROM helpdesk.session
           WHERE tenant_id = pg_temp.fx('ta') AND customer_id = pg_temp.fx('ca_free')),
	0::bigint, 'no session was opened for the customer whose start_session calls all failed');

SELECT * FROM finish();
ROLLBACK;
