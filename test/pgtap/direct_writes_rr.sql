BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT plan(5);

-- Under REPEATABLE READ (and SERIALIZABLE) post_message reads and locks the
-- session through SQL, which raises serialization failures and takes
-- predicate locks; the direct reads follow READ COMMITTED rules only.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-direct-rr', 'TAP direct writes RR');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-rr');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'));

SELECT is(current_setting('transaction_isolation'), 'repeatable read', 'this file runs under REPEATABLE READ');
INSERT INTO fx SELECT 'm', helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'),
	'hello', client_msg_id => 'rr-1');
SELECT is(helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'),
	'hello', client_msg_id => 'rr-1'), pg_temp.fx('m'), 'a replay returns the stored message');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''customer'', %s, ''other'', client_msg_id => ''rr-1'')',
	pg_temp.fx('t'), pg_temp.fx('s'), pg_temp.fx('c')), 'HD409', NULL, 'a reused client_msg_id is refused');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''customer'', %s, ''x'')',
	pg_temp.fx('t'), pg_temp.fx('s') + 1000000, pg_temp.fx('c')), 'HD404', NULL, 'a missing session is not found');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE message_id = pg_temp.fx('m')), 1::bigint,
	'the message has its event');

SELECT * FROM finish();
ROLLBACK;
