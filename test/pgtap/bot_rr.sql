BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT plan(4);

-- Under REPEATABLE READ a bot session's message writes its bot_job through
-- SQL (INSERT with the session's foreign key checked), as post_message does
-- with the message itself; the job, the keyword hand-off and max turns
-- behave the same as under READ COMMITTED (test/pgtap/bot.sql).

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-bot-rr', 'TAP bot RR', bot_enabled => true);
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-rr');
INSERT INTO fx SELECT 'c2', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-rr-2');
INSERT INTO fx SELECT 'b', helpdesk.upsert_bot(pg_temp.fx('t'), 'dify', 'dify', 'https://dify.test/v1', 'app-secret-rr', max_turns => 2);
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'), first_message => 'one');
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'), 'two');

SELECT is((SELECT string_agg(m.body || ':' || j.state, ',' ORDER BY j.id) FROM helpdesk.bot_job j
           JOIN helpdesk.message m ON m.tenant_id = j.tenant_id AND m.id = j.message_id WHERE j.session_id = pg_temp.fx('s')),
	'one:pending,two:pending', 'REPEATABLE READ: one job per message, in order');
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s'), 'customer', pg_temp.fx('c'), 'three');
SELECT is((SELECT row(state, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s')),
	row('queued', 'max_turns')::text, 'REPEATABLE READ: max turns hand off');
INSERT INTO fx SELECT 's2', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c2'), first_message => '转人工');
SELECT is((SELECT row(state, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s2')),
	row('queued', 'keyword')::text, 'REPEATABLE READ: a keyword hands off');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s2')), 0::bigint, 'and makes no job');

SELECT * FROM finish();
ROLLBACK;
