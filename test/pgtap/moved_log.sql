BEGIN;
SELECT plan(19);

-- A moved tenant's copy of its old node's log (bridge_api/20_moved_log.sql):
-- what helpdesk-bridge asks at connect (bridge_moved_log) and replays
-- (bridge_moved_events), their error paths, retention and row level
-- security. The move that writes them: test/e2e/scale_move.sh.

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-moved-a', 'TAP moved A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-moved-b', 'TAP moved B');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('ta'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('ta'), 'cust-1');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c'), first_message => 'hello');
INSERT INTO fx SELECT 'm', max(id) FROM helpdesk.message WHERE tenant_id = pg_temp.fx('ta');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb \gset

-- the old log: positions 40..42 of log ...0a, the next position here 7
INSERT INTO helpdesk.moved_log (tenant_id, log_id, last_pos, next_pos)
	VALUES (:ta, '00000000-0000-4000-8000-00000000000a', 45, 7);
INSERT INTO helpdesk.moved_event (tenant_id, log_id, pos, audience, audience_id, session_id, message_id, type, payload, created_at)
	VALUES (:ta, '00000000-0000-4000-8000-00000000000a', 40, 'session', pg_temp.fx('s'), pg_temp.fx('s'), NULL, 'session.created', '{}', now() - interval '2 days'),
	       (:ta, '00000000-0000-4000-8000-00000000000a', 41, 'session', pg_temp.fx('s'), pg_temp.fx('s'), pg_temp.fx('m'), 'message.created', '{}', now()),
	       (:ta, '00000000-0000-4000-8000-00000000000a', 42, 'customer', pg_temp.fx('c'), NULL, NULL, 'customer.updated', '{"a": 1}', now());

-- bridge_moved_log
SELECT is(helpdesk.bridge_moved_log(:ta, helpdesk.event_log_id()), NULL, 'this node''s own log: NULL (a plain resume)');
SELECT is(helpdesk.bridge_moved_log(:ta, '00000000-0000-4000-8000-0000000000ff'), '{"known": false}',
	'a log the tenant did not move from: known false (the bridge closes 4010)');
SELECT is(helpdesk.bridge_moved_log(:tb, '00000000-0000-4000-8000-00000000000a'), '{"known": false}',
	'another tenant''s move is not this tenant''s');
SELECT is(helpdesk.bridge_moved_log(:ta, '00000000-0000-4000-8000-00000000000a'),
	'{"known": true, "log_id": "00000000-0000-4000-8000-00000000000a", "last_pos": 45, "next_pos": 7, "oldest": 39}',
	'the old log: its last copied position, where to go on here, the oldest replayable');
SELECT throws_ok('SELECT helpdesk.bridge_moved_log(NULL, ''00000000-0000-4000-8000-00000000000a'')', '22004',
	'tenant_id and log_id must not be NULL', 'a NULL tenant: 22004');
SELECT throws_ok(format('SELECT helpdesk.bridge_moved_log(%s, NULL)', :ta), '22004',
	'tenant_id and log_id must not be NULL', 'a NULL log: 22004');

-- bridge_moved_events: the same columns as bridge_events, from the copy
SELECT results_eq(format('SELECT pos, type, customer_id, message->>''body'' FROM helpdesk.bridge_moved_events(39, 100, %s, ''00000000-0000-4000-8000-00000000000a'')', :ta),
	format('VALUES (40::bigint, ''session.created''::text, %s::bigint, NULL::text), (41, ''message.created'', %s, ''hello''), (42, ''customer.updated'', NULL, NULL)',
		pg_temp.fx('c'), pg_temp.fx('c')),
	'the copy in order, with the session''s customer and the message as it is here');
SELECT results_eq(format('SELECT pos FROM helpdesk.bridge_moved_events(40, 1, %s, ''00000000-0000-4000-8000-00000000000a'')', :ta),
	'VALUES (41::bigint)', 'after a position, max_rows at most');
SELECT is((SELECT count(*) FROM helpdesk.bridge_moved_events(0, 100, :tb, '00000000-0000-4000-8000-00000000000a')), 0::bigint,
	'nothing of another tenant');
SELECT throws_ok(format('SELECT * FROM helpdesk.bridge_moved_events(NULL, 10, %s, ''00000000-0000-4000-8000-00000000000a'')', :ta), '22004',
	NULL, 'a NULL position: 22004');
SELECT throws_ok(format('SELECT * FROM helpdesk.bridge_moved_events(0, 10, %s, NULL)', :ta), '22004',
	NULL, 'a NULL log: 22004');
SELECT throws_ok(format('SELECT * FROM helpdesk.bridge_moved_events(0, 0, %s, ''00000000-0000-4000-8000-00000000000a'')', :ta), '22023',
	'max_rows must be between 1 and 100000, got 0', 'max_rows out of range: 22023');

-- a bridge role bound to tenant B only: 42501 for A
CREATE ROLE tap_moved_bridge IN ROLE helpdesk_bridge;
SELECT helpdesk.grant_tenant('tap_moved_bridge', :tb);
SET LOCAL ROLE tap_moved_bridge;
SELECT throws_ok(format('SELECT helpdesk.bridge_moved_log(%s, ''00000000-0000-4000-8000-00000000000a'')', :ta), '42501',
	format('role tap_moved_bridge may not act for tenant %s', :ta), 'bridge_moved_log: 42501 for a tenant the role does not act for');
SELECT throws_ok(format('SELECT * FROM helpdesk.bridge_moved_events(0, 10, %s, ''00000000-0000-4000-8000-00000000000a'')', :ta), '42501',
	format('role tap_moved_bridge may not act for tenant %s', :ta), 'bridge_moved_events: 42501 likewise');
RESET ROLE;
CREATE ROLE tap_moved_reader IN ROLE helpdesk_reader;
SELECT helpdesk.grant_tenant('tap_moved_reader', :tb);
SET LOCAL ROLE tap_moved_reader;
SELECT is((SELECT count(*) FROM helpdesk.moved_event), 0::bigint, 'row level security: a reader of B sees no row of A in moved_event');
SELECT is((SELECT count(*) FROM helpdesk.moved_log), 0::bigint, 'nor in moved_log');
RESET ROLE;
CREATE ROLE tap_moved_api IN ROLE helpdesk_api;
SELECT helpdesk.grant_tenant('tap_moved_api', :ta);
SET LOCAL ROLE tap_moved_api;
SELECT throws_ok(format('SELECT helpdesk.bridge_moved_log(%s, ''00000000-0000-4000-8000-00000000000a'')', :ta), '42501',
	NULL, 'not granted to the api role: only the bridge reads it');
RESET ROLE;

-- retention: prune_events ages the copy out with the same keep
SELECT helpdesk.prune_events('1 day');
SELECT results_eq(format('SELECT pos FROM helpdesk.moved_event WHERE tenant_id = %s ORDER BY pos', :ta),
	'VALUES (41::bigint), (42::bigint)', 'prune_events: the copy''s events older than keep are gone, the rest stay');
UPDATE helpdesk.moved_event SET created_at = now() - interval '3 days' WHERE tenant_id = :ta;
UPDATE helpdesk.moved_log SET arrived_at = now() - interval '3 days' WHERE tenant_id = :ta;
SELECT helpdesk.prune_events('1 day');
SELECT is((SELECT count(*) FROM helpdesk.moved_log WHERE tenant_id = :ta), 0::bigint,
	'and a move whose copy aged out entirely is forgotten');

SELECT * FROM finish();
ROLLBACK;
