BEGIN;
SELECT plan(10);

-- The event log's position and identity come from event_batch (dumped and
-- restored), not from event_cursor (not dumped); a follower that names the
-- log it follows is refused (HD412) by another log or a log behind it.
-- Batches are written here by hand, inside this transaction (rolled back).

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-log-a', 'TAP log A');
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'cust-1');

SELECT ok(helpdesk.event_log_id() IS NOT NULL, 'the log has an identity');
SELECT is(helpdesk.event_log_id(),
	coalesce((SELECT log_id FROM helpdesk.event_batch ORDER BY last_pos DESC LIMIT 1),
	         (SELECT log_id FROM helpdesk.event_cursor)),
	'it is the newest batch''s, or while there is none the cursor''s (made by CREATE EXTENSION)');

-- a restored log: batches of another identity and a higher position than the cursor's
SELECT coalesce(max(last_pos), 0) AS head FROM helpdesk.event_batch \gset
SELECT gen_random_uuid() AS restored \gset
INSERT INTO helpdesk.event_batch (first_pos, last_pos, ids, max_id, log_id)
VALUES (:head + 100, :head + 109, '{[900000001,900000011)}', 900000010, :'restored');
SELECT is(helpdesk.event_position(), :head + 109::bigint, 'event_position() is the newest batch''s, whatever the cursor says');
SELECT is(helpdesk.event_log_id(), :'restored'::uuid, 'event_log_id() is the newest batch''s');
SELECT is((helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'customer', pg_temp.fx('c1')) ->> 'log_id')::uuid,
	:'restored'::uuid, 'bridge_subscriber tells the log identity');

SELECT lives_ok(format($$SELECT * FROM helpdesk.events_since(%s, 10, NULL, %L)$$, :head + 105, :'restored'),
	'events_since with the log''s identity');
SELECT lives_ok(format($$SELECT * FROM helpdesk.events_since(%s, 10, NULL, %L)$$, :head + 109, :'restored'),
	'events_since at the head with the log''s identity');
SELECT throws_ok(format($$SELECT * FROM helpdesk.events_since(%s, 10, NULL, %L)$$, :head + 105, gen_random_uuid()),
	'HD412', NULL, 'events_since following another log: HD412');
SELECT throws_ok(format($$SELECT * FROM helpdesk.events_since(%s, 10, NULL, %L)$$, :head + 110, :'restored'),
	'HD412', format('event position %s is ahead of the event log, which ends at %s', :head + 110, :head + 109),
	'events_since from a position the log has not reached: HD412');
SELECT lives_ok(format($$SELECT * FROM helpdesk.events_since(%s, 10)$$, :head + 110),
	'without a log identity nothing changes (a position ahead reads nothing)');

SELECT * FROM finish();
ROLLBACK;
