BEGIN;
SELECT plan(55);

-- issue 20, operations: metrics(), the CSV import (begin_import, the staging
-- defaults, run_import, import_errors), search (search_tokens,
-- search_messages, index_messages, rebuild_search_index) and retention
-- (set_message_retention, retention_batch, run_retention): their answers and
-- every error path. The e2e scripts import.sh, search.sh, retention.sh and
-- prometheus.sh run them against committed data, workers and pg_cron.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-ops', 'TAP ops');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-ops-2', 'TAP ops 2');
SELECT helpdesk.upsert_queue(pg_temp.fx('t'), 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_queue(pg_temp.fx('t2'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'cust-1');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'));

------------------------------------------------------------------------------
-- metrics
------------------------------------------------------------------------------
SELECT ok((SELECT count(*) FROM helpdesk.metrics() WHERE metric !~ '^helpdesk_[a-z_]+$') = 0,
	'metrics: every name has the helpdesk_ prefix and Prometheus characters');
SELECT ok((SELECT bool_and(metric ~ '_total$') FROM helpdesk.metrics() WHERE type = 'counter'),
	'metrics: counters end in _total');
SELECT is((SELECT value FROM helpdesk.metrics() WHERE metric = 'helpdesk_queue_sessions'
	AND labels = jsonb_build_object('tenant', 'tap-ops', 'queue', 'main')), 1::float8,
	'metrics: the queued session counts in its queue');
SELECT is((SELECT value FROM helpdesk.metrics() WHERE metric = 'helpdesk_sessions'
	AND labels = jsonb_build_object('tenant', 'tap-ops', 'state', 'queued')), 1::float8,
	'metrics: sessions by state');
SELECT ok((SELECT value >= 0 FROM helpdesk.metrics() WHERE metric = 'helpdesk_queue_oldest_wait_seconds'
	AND labels = jsonb_build_object('tenant', 'tap-ops', 'queue', 'main')), 'metrics: oldest wait of the queue');
SELECT is((SELECT array_agg(labels ->> 'kind' ORDER BY labels ->> 'kind') FROM helpdesk.metrics()
	WHERE metric = 'helpdesk_worker_restarts_total'),
	(SELECT array_agg(DISTINCT kind ORDER BY kind) FROM helpdesk.worker_status()),
	'metrics: restarts for each worker kind');

------------------------------------------------------------------------------
-- import: no import begun yet in this session
------------------------------------------------------------------------------
SELECT throws_ok($$INSERT INTO helpdesk.import_customer (external_id) VALUES ('x')$$,
	'55000', 'no import of customers was begun in this session', 'staging without begin_import: 55000');
SELECT throws_ok($$SELECT helpdesk.begin_import(NULL, 'customers')$$, '22004', NULL, 'begin_import: tenant required');
SELECT throws_ok(format('SELECT helpdesk.begin_import(%s, NULL)', pg_temp.fx('t')), '22004', NULL,
	'begin_import: kind required');
SELECT throws_ok(format('SELECT helpdesk.begin_import(%s, %L)', pg_temp.fx('t'), 'tickets'), '22023', NULL,
	'begin_import: unknown kind');
SELECT throws_ok($$SELECT helpdesk.begin_import(-1, 'customers')$$, 'HD404', NULL, 'begin_import: unknown tenant');
INSERT INTO fx SELECT 'imp', helpdesk.begin_import(pg_temp.fx('t'), 'customers');
SELECT throws_ok($$INSERT INTO helpdesk.import_agent (external_id) VALUES ('x')$$,
	'55000', 'no import of agents was begun in this session', 'staging of another kind: 55000');
INSERT INTO helpdesk.import_customer (external_id, display_name, vip_level, language, attributes) VALUES
	('a', 'A', '1', 'en', '{"k": 1}'), ('b', NULL, '12', NULL, NULL), ('c', NULL, NULL, 'EN', NULL),
	('d', NULL, NULL, NULL, '[1]'), ('a', NULL, NULL, NULL, NULL), (NULL, 'x', NULL, NULL, NULL),
	('e', NULL, NULL, NULL, '{bad');
SELECT is((SELECT array_agg(line ORDER BY line) FROM helpdesk.import_customer
	WHERE import_id = pg_temp.fx('imp')), '{2,3,4,5,6,7,8}'::bigint[], 'staged rows numbered from line 2');
SELECT throws_ok(format('SELECT * FROM helpdesk.run_import(%s, NULL)', pg_temp.fx('t')), '22004', NULL,
	'run_import: import_id required');
SELECT throws_ok(format('SELECT * FROM helpdesk.run_import(%s, %s, NULL)', pg_temp.fx('t'), pg_temp.fx('imp')),
	'22004', NULL, 'run_import: skip_invalid must not be NULL');
SELECT throws_ok(format('SELECT * FROM helpdesk.run_import(%s, %s)', pg_temp.fx('t2'), pg_temp.fx('imp')),
	'HD404', NULL, 'run_import: another tenant''s import is not found');
SELECT throws_ok(format('SELECT * FROM helpdesk.run_import(%s, -5)', pg_temp.fx('t')), 'HD404', NULL,
	'run_import: unknown import');
SELECT results_eq(format('SELECT state, rows, inserted, updated, skipped, errors FROM helpdesk.run_import(%s, %s)',
	pg_temp.fx('t'), pg_temp.fx('imp')),
	$$VALUES ('rejected', 7::bigint, 0::bigint, 0::bigint, 7::bigint, 6::bigint)$$,
	'run_import: all or nothing, rejected with 6 errors');
SELECT results_eq(format('SELECT line, field FROM helpdesk.import_errors(%s, %s)', pg_temp.fx('t'), pg_temp.fx('imp')),
	$$VALUES (3::bigint, 'vip_level'), (4, 'language'), (5, 'attributes'), (6, 'external_id'),
	         (7, 'external_id'), (8, 'attributes')$$, 'import_errors: by line and field');
SELECT is((SELECT count(*) FROM helpdesk.customer WHERE tenant_id = pg_temp.fx('t') AND external_id = 'a')::int, 0,
	'rejected: nothing written');
SELECT is((SELECT count(*) FROM helpdesk.import_customer WHERE import_id = pg_temp.fx('imp'))::int, 0,
	'staged rows removed');
SELECT throws_ok(format('SELECT * FROM helpdesk.run_import(%s, %s)', pg_temp.fx('t'), pg_temp.fx('imp')),
	'HD409', NULL, 'run_import: twice is HD409');
SELECT throws_ok(format('SELECT * FROM helpdesk.import_errors(%s, -5)', pg_temp.fx('t')), 'HD404', NULL,
	'import_errors: unknown import');
SELECT throws_ok($$SELECT * FROM helpdesk.import_errors(NULL, 1)$$, '22004', NULL, 'import_errors: tenant required');
SELECT throws_ok($$INSERT INTO helpdesk.import_customer (external_id) VALUES ('x')$$,
	'55000', NULL, 'after run_import the session has no import any more');
-- skip_invalid
INSERT INTO fx SELECT 'imp2', helpdesk.begin_import(pg_temp.fx('t'), 'customers');
INSERT INTO helpdesk.import_customer (external_id, display_name, vip_level) VALUES
	('cust-1', 'Renamed', NULL), ('n1', 'New', '2'), ('n2', NULL, 'x');
SELECT results_eq(format('SELECT state, inserted, updated, skipped FROM helpdesk.run_import(%s, %s, true)',
	pg_temp.fx('t'), pg_temp.fx('imp2')),
	$$VALUES ('applied', 1::bigint, 1::bigint, 1::bigint)$$, 'skip_invalid: one inserted, one updated, one skipped');
SELECT is((SELECT display_name FROM helpdesk.customer WHERE id = pg_temp.fx('c')), 'Renamed',
	'upsert by external id updates the stored customer');
-- a row that changes nothing counts as updated and is not rewritten
CREATE TEMP TABLE before_ctid AS SELECT ctid AS c FROM helpdesk.customer WHERE id = pg_temp.fx('c');
INSERT INTO fx SELECT 'imp2b', helpdesk.begin_import(pg_temp.fx('t'), 'customers');
INSERT INTO helpdesk.import_customer (external_id, display_name) VALUES ('cust-1', 'Renamed');
SELECT results_eq(format('SELECT state, inserted, updated FROM helpdesk.run_import(%s, %s)',
	pg_temp.fx('t'), pg_temp.fx('imp2b')),
	$$VALUES ('applied', 0::bigint, 1::bigint)$$, 'an unchanged row counts as updated');
SELECT is((SELECT ctid FROM helpdesk.customer WHERE id = pg_temp.fx('c')), (SELECT c FROM before_ctid),
	'an unchanged row is not rewritten');
-- agents row by row
INSERT INTO fx SELECT 'imp3', helpdesk.begin_import(pg_temp.fx('t'), 'agents');
INSERT INTO helpdesk.import_agent (external_id, display_name, skills, languages) VALUES
	('ag1', 'Ag One', '{"billing": 3}', 'en;zh-cn'), ('ag2', NULL, NULL, NULL);
SELECT results_eq(format('SELECT state, errors FROM helpdesk.run_import(%s, %s)', pg_temp.fx('t'), pg_temp.fx('imp3')),
	$$VALUES ('rejected', 1::bigint)$$, 'agents: a row refused by upsert_agent rejects the import');
SELECT is((SELECT count(*) FROM helpdesk.agent WHERE tenant_id = pg_temp.fx('t'))::int, 0,
	'agents: the valid row was rolled back too');

------------------------------------------------------------------------------
-- search
------------------------------------------------------------------------------
SELECT is(helpdesk.search_tokens(7, 'Refund 退款!'), '{7b退款,7u款,7u退,7wrefund}'::text[],
	'search_tokens: words lowercased, CJK characters and pairs, tenant prefixed');
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'), '我要退款 please');
SELECT is(helpdesk.rebuild_search_index(pg_temp.fx('t')), 1::bigint, 'rebuild_search_index keys the message');
SELECT is((SELECT count(*) FROM helpdesk.search_messages(pg_temp.fx('t'), '退款'))::int, 1, 'search: CJK pair');
SELECT is((SELECT count(*) FROM helpdesk.search_messages(pg_temp.fx('t2'), '退款'))::int, 0,
	'search: another tenant sees nothing');
SELECT throws_ok($$SELECT * FROM helpdesk.search_messages(NULL, 'x')$$, '22004', NULL, 'search: tenant required');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, NULL)', pg_temp.fx('t')), '22004', NULL,
	'search: query required');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L)', pg_temp.fx('t'), ''), '22023', NULL,
	'search: empty query');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L)', pg_temp.fx('t'), repeat('a', 201)),
	'22023', NULL, 'search: query over 200 bytes');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L)', pg_temp.fx('t'), '?! ...'), '22023', NULL,
	'search: nothing to search for');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L)', pg_temp.fx('t'),
	(SELECT string_agg('w' || g, ' ') FROM generate_series(1, 33) g)), '22023', NULL, 'search: too many terms');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L, max_rows => 0)', pg_temp.fx('t'), 'x'),
	'22023', NULL, 'search: max_rows 1..1000');
SELECT throws_ok(format('SELECT * FROM helpdesk.search_messages(%s, %L, "from" => now(), "to" => now() - interval %L)',
	pg_temp.fx('t'), 'x', '1 s'), '22023', NULL, 'search: to before from');
SELECT throws_ok($$SELECT * FROM helpdesk.search_messages(-1, 'x')$$, 'HD404', NULL, 'search: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.index_messages(0)$$, '22023', NULL, 'index_messages: max_events 1..');
SELECT throws_ok($$SELECT helpdesk.rebuild_search_index(NULL)$$, '22004', NULL, 'rebuild_search_index: tenant required');

------------------------------------------------------------------------------
-- retention
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.set_message_retention(NULL, '7 days')$$, '22004', NULL, 'retention: tenant required');
SELECT throws_ok(format('SELECT helpdesk.set_message_retention(%s, %L)', pg_temp.fx('t'), '1 hour'), '22023', NULL,
	'retention: at least a day');
SELECT throws_ok($$SELECT helpdesk.set_message_retention(-1, '7 days')$$, 'HD404', NULL, 'retention: unknown tenant');
SELECT lives_ok(format('SELECT helpdesk.set_message_retention(%s, %L)', pg_temp.fx('t'), '7 days'), 'retention: 7 days');
UPDATE helpdesk.message SET created_at = now() - interval '8 days' WHERE tenant_id = pg_temp.fx('t');
SELECT results_eq(format('SELECT chat_messages, more FROM helpdesk.retention_batch(%s, 10)', pg_temp.fx('t')),
	$$VALUES (1::bigint, false)$$, 'retention_batch: the expired message goes');
SELECT is((SELECT count(*) FROM helpdesk.message_search WHERE tenant_id = pg_temp.fx('t'))::int, 0,
	'retention_batch: with its search keys');
SELECT throws_ok(format('SELECT * FROM helpdesk.retention_batch(%s, 0)', pg_temp.fx('t')), '22023', NULL,
	'retention_batch: batch_size 1..100000');
SELECT throws_ok($$SELECT * FROM helpdesk.retention_batch(NULL, 10)$$, '22004', NULL, 'retention_batch: tenant required');
SELECT throws_ok($$CALL helpdesk.run_retention()$$, '25000', NULL, 'run_retention: not inside a transaction block');

SELECT * FROM finish();
ROLLBACK;
