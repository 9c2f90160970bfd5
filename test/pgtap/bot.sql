BEGIN;
SELECT plan(105);

-- The bot hand-off's SQL side (the HTTP side is test/e2e/bot_handoff.sh):
-- upsert_bot, delete_bot, handoff_to_agent, bot_reply, bot_status, and what
-- post_message does in a session in state bot (a job per message, keywords,
-- max turns, scopes). Every error path with its SQLSTATE. Jobs made here are
-- never seen by the HTTP worker (the transaction rolls back); where a job
-- must look claimed (bot_reply), the test marks it sending as the worker's
-- claim would.

\ir fixtures.psql
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

INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-bot', 'TAP bot', bot_enabled => true);
INSERT INTO fx SELECT 'q1', helpdesk.upsert_queue(pg_temp.fx('tb'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'q2', helpdesk.upsert_queue(pg_temp.fx('tb'), 'vip', 'VIP');
INSERT INTO fx SELECT 'to', helpdesk.upsert_tenant('tap-bot-other', 'TAP bot other', bot_enabled => true);
INSERT INTO fx SELECT 'qo', helpdesk.upsert_queue(pg_temp.fx('to'), 'main', 'Main O', is_default => true);
INSERT INTO fx SELECT 'tn', helpdesk.upsert_tenant('tap-bot-none', 'TAP no bot');
INSERT INTO fx SELECT 'qn', helpdesk.upsert_queue(pg_temp.fx('tn'), 'main', 'Main N', is_default => true);
INSERT INTO fx SELECT 'c' || g, helpdesk.upsert_customer(pg_temp.fx('tb'), 'c' || g) FROM generate_series(1, 12) g;
INSERT INTO fx SELECT 'co', helpdesk.upsert_customer(pg_temp.fx('to'), 'co');
INSERT INTO fx SELECT 'cn', helpdesk.upsert_customer(pg_temp.fx('tn'), 'cn');
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;

------------------------------------------------------------------------------
-- upsert_bot: arguments
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(NULL, 'b')$$), '22004: tenant_id must not be NULL', 'upsert_bot: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), NULL)$$), '22004: external_id must not be NULL', 'upsert_bot: NULL external_id');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('no_tenant'), 'b', 'dify', 'https://dify.test/v1', 'app-key-123')$$),
	'HD404: tenant ' || pg_temp.fx('no_tenant') || ' does not exist', 'upsert_bot: unknown tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), '')$$),
	'22023: external_id must be 1 to 200 characters long, got 0', 'upsert_bot: empty external_id');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'gpt', 'https://x.test', 'app-key-123')$$),
	'22023: invalid bot kind "gpt"', 'upsert_bot: unknown kind');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'ftp://x.test', 'app-key-123')$$),
	'22023: base_url must be an http or https URL, got "ftp://x.test"', 'upsert_bot: not http');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https:///v1', 'app-key-123')$$),
	'22023: base_url must name a host (https://host/path), got "https:///v1"', 'upsert_bot: no host');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', E'https://x.test/v1\r\nX: y', 'app-key-123')$$),
	E'22023: base_url must not contain spaces or control characters, got "https://x.test/v1\r\nX: y"', 'upsert_bot: header injection');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test/' || repeat('a', 2040), 'app-key-123')$$),
	'22023: base_url is longer than 2048 bytes', 'upsert_bot: URL too long');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'short')$$),
	'22023: secret must be 8 to 500 characters long, got 5', 'upsert_bot: short secret');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', issue_type => repeat('i', 101))$$),
	'22023: issue_type must be 1 to 100 characters long, got 101', 'upsert_bot: long issue type');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', handoff_marker => repeat('m', 101))$$),
	'22023: handoff_marker must be 1 to 100 characters long, got 101', 'upsert_bot: long marker');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', handoff_flag => repeat('f', 101))$$),
	'22023: handoff_flag must be 1 to 100 characters long, got 101', 'upsert_bot: long flag');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', handoff_keywords => '{a,NULL}')$$),
	'22023: handoff_keywords must not contain NULL', 'upsert_bot: NULL keyword');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', handoff_keywords => '{{a},{b}}')$$),
	'22023: handoff_keywords must be a one-dimensional array', 'upsert_bot: 2-d keywords');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', handoff_keywords => '{""}')$$),
	'22023: a hand-off keyword must be 1 to 50 characters long, got 0', 'upsert_bot: empty keyword');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123',
	handoff_keywords => (SELECT array_agg('k' || g) FROM generate_series(1, 51) g))$$),
	'22023: handoff_keywords has 51 entries, at most 50 are allowed', 'upsert_bot: too many keywords');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', max_turns => 0)$$),
	'22023: max_turns must be between 1 and 1000, got 0', 'upsert_bot: max_turns 0');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', max_turns => 1001)$$),
	'22023: max_turns must be between 1 and 1000, got 1001', 'upsert_bot: max_turns 1001');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', timeout => '0.5 s')$$),
	'22023: timeout must be between 1 and 120 seconds', 'upsert_bot: timeout too short');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', timeout => '121 s')$$),
	'22023: timeout must be between 1 and 120 seconds', 'upsert_bot: timeout too long');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test', 'app-key-123', queue_id => pg_temp.fx('qo'))$$),
	'HD404: queue ' || pg_temp.fx('qo') || ' does not exist in tenant ' || pg_temp.fx('tb'), 'upsert_bot: another tenant''s queue');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'dify', 'https://x.test')$$),
	'22004: kind, base_url and secret are required to create bot "b"', 'upsert_bot: create without a secret');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'b', 'webhook', 'https://x.test/hook', 'not-a-whsec-secret')$$),
	'22023: secret must be "whsec_" followed by the base64 of 24 to 64 bytes', 'upsert_bot: webhook secret not whsec_');

------------------------------------------------------------------------------
-- upsert_bot: create, update, scopes, the secret at rest
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'bot', helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify', 'dify', 'https://dify.test/v1/', 'app-secret-key-1', max_turns => 2);
SELECT is((SELECT row(kind, base_url, queue_id, issue_type, handoff_marker, handoff_flag, handoff_keywords, max_turns, timeout, enabled)::text
           FROM helpdesk.bot WHERE id = pg_temp.fx('bot')),
	row('dify', 'https://dify.test/v1', NULL::bigint, NULL::text, NULL::text, 'handoff', '{人工,转人工,客服,agent,human}'::text[], 2, '15 s'::interval, true)::text,
	'upsert_bot: defaults; trailing / cut from base_url');
SELECT is((SELECT position('app-secret-key-1' IN encode(secret, 'escape')) FROM helpdesk.bot WHERE id = pg_temp.fx('bot')), 0,
	'upsert_bot: the secret is not stored in plain text');
SELECT is(helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify', handoff_marker => '[[h]]', timeout => '3 s'), pg_temp.fx('bot'),
	'upsert_bot: an update returns the same id');
SELECT is((SELECT row(kind, base_url, handoff_marker, max_turns, timeout)::text FROM helpdesk.bot WHERE id = pg_temp.fx('bot')),
	row('dify', 'https://dify.test/v1', '[[h]]', 2, '3 s'::interval)::text, 'upsert_bot: NULL keeps, given values change');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify2', 'dify', 'https://other.test', 'app-secret-key-2')$$),
	'HD409: bot "dify" already serves this scope (queue and issue type) in tenant ' || pg_temp.fx('tb'),
	'upsert_bot: a second enabled bot for the same scope');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify2', 'dify', 'https://other.test', 'app-secret-key-2', enabled => false)$$,
	'upsert_bot: a disabled bot may share the scope');
INSERT INTO fx SELECT 'bot_vip', helpdesk.upsert_bot(pg_temp.fx('tb'), 'vipbot', 'dify', 'https://vip.test/v1', 'app-secret-key-3', queue_id => pg_temp.fx('q2'));
SELECT is((SELECT queue_id FROM helpdesk.bot WHERE id = pg_temp.fx('bot_vip')), pg_temp.fx('q2'), 'upsert_bot: a queue-scoped bot');
SELECT is(pg_temp.err($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'vipbot', queue_id => 0)$$),
	'HD409: bot "dify" already serves this scope (queue and issue type) in tenant ' || pg_temp.fx('tb'),
	'upsert_bot: clearing the queue would clash with the tenant-wide bot');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify2', issue_type => 'refund', enabled => true)$$,
	'upsert_bot: an issue-type bot next to the tenant-wide one');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify2', issue_type => '', enabled => false)$$,
	'upsert_bot: issue_type '''' clears');
SELECT is((SELECT issue_type FROM helpdesk.bot WHERE external_id = 'dify2' AND tenant_id = pg_temp.fx('tb')), NULL,
	'upsert_bot: the issue type is cleared');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('to'), 'hook', 'webhook', 'http://hook.test/bot',
	'whsec_' || encode(convert_to(repeat('k', 32), 'UTF8'), 'base64'), timeout => '2 s')$$,
	'upsert_bot: a webhook bot with a whsec_ secret');

------------------------------------------------------------------------------
-- post_message in a bot session: jobs, keywords, max turns, scopes
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's1', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c1'), first_message => 'where is my sword?');
SELECT is((SELECT row(s.state, s.bot_id, b.turns)::text FROM helpdesk.session s, helpdesk.bot_status(s.tenant_id, s.id) b WHERE s.id = pg_temp.fx('s1')),
	row('bot', pg_temp.fx('bot'), 1)::text, 'the first message goes to the tenant-wide bot (one turn)');
SELECT is((SELECT row(j.state, j.bot_id, m.body)::text FROM helpdesk.bot_job j JOIN helpdesk.message m ON m.id = j.message_id
           WHERE j.session_id = pg_temp.fx('s1')),
	row('pending', pg_temp.fx('bot'), 'where is my sword?')::text, 'one pending job for that message');
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'hello?', client_msg_id => 'cm-1');
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'hello?', client_msg_id => 'cm-1');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1')), 2::bigint,
	'a replayed client_msg_id makes no second job');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1') AND state = 'pending'), 2::bigint,
	'both jobs wait, in order');
SELECT is(helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s1'), 'bot', NULL, 'an app-driven bot line') > 0, true,
	'the bot sender kind still posts through the SQL API');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1')), 2::bigint, 'bot messages make no job');
-- max_turns 2: the third customer message hands off instead of a call
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'third');
SELECT is((SELECT row(state, bot_handoff_reason, bot_handoff_at IS NOT NULL)::text FROM helpdesk.session WHERE id = pg_temp.fx('s1')),
	row('queued', 'max_turns', true)::text, 'after max_turns messages the next one hands off');
SELECT is((SELECT string_agg(state, ',' ORDER BY id) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1')), 'dropped,dropped',
	'the hand-off drops the jobs not answered');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1') AND error LIKE 'handed off (max_turns)%'), 2::bigint,
	'the dropped jobs say why');
-- keywords
INSERT INTO fx SELECT 's2', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c2'), first_message => '我要转人工');
SELECT is((SELECT row(state, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s2')),
	row('queued', 'keyword')::text, '转人工 in the first message hands off at once');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s2')), 0::bigint, 'and nothing goes to the bot');
SELECT is((SELECT queue_id FROM helpdesk.session WHERE id = pg_temp.fx('s2')), pg_temp.fx('q1'), 'it is queued in the default queue');
INSERT INTO fx SELECT 's3', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c3'), first_message => 'my reagent potion broke');
SELECT is((SELECT state FROM helpdesk.session WHERE id = pg_temp.fx('s3')), 'bot', '"reagent" does not match the keyword agent');
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s3'), 'customer', pg_temp.fx('c3'), 'Can I talk to an AGENT?');
SELECT is((SELECT row(state, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s3')),
	row('queued', 'keyword')::text, '"AGENT?" matches agent (case, word boundary)');
SELECT is((SELECT state FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s3')), 'dropped', 'the job in flight is dropped by the keyword');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tb'), 'dify', handoff_keywords => '{找客服}')$$, 'keywords replaced');
INSERT INTO fx SELECT 's4', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c4'), first_message => 'human please');
SELECT is((SELECT state FROM helpdesk.session WHERE id = pg_temp.fx('s4')), 'bot', 'a removed keyword no longer hands off');
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s4'), 'customer', pg_temp.fx('c4'), '帮我找客服');
SELECT is((SELECT bot_handoff_reason FROM helpdesk.session WHERE id = pg_temp.fx('s4')), 'keyword', 'a tenant''s own keyword hands off');
-- scopes: the queue's bot wins over the tenant-wide one
INSERT INTO fx SELECT 's5', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c5'), queue_id => pg_temp.fx('q2'), first_message => 'vip question');
SELECT is((SELECT bot_id FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s5')), pg_temp.fx('bot_vip'), 'a queue''s bot serves that queue''s sessions');
-- a bot-enabled tenant without bots: as before (the application drives the session)
INSERT INTO fx SELECT 'to_s', session_id FROM helpdesk.start_session(pg_temp.fx('tn'), pg_temp.fx('cn'), first_message => 'hi, 转人工');
SELECT is((SELECT state FROM helpdesk.session WHERE id = pg_temp.fx('to_s')), 'queued', 'a tenant without bot_enabled queues at once');
SELECT lives_ok($$UPDATE helpdesk.tenant SET bot_enabled = true WHERE id = pg_temp.fx('tn')$$, 'tenant tn: bot_enabled, no bot');
SELECT helpdesk.close_session(pg_temp.fx('tn'), pg_temp.fx('to_s'));
INSERT INTO fx SELECT 'sn', session_id FROM helpdesk.start_session(pg_temp.fx('tn'), pg_temp.fx('cn'), first_message => '转人工');
SELECT is((SELECT row(state, bot_handoff_reason, (SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('sn')))::text
           FROM helpdesk.session WHERE id = pg_temp.fx('sn')),
	row('bot', NULL::text, 0)::text, 'with no bot configured nothing changes: no job, no keyword hand-off');

-- a tenant with no default queue: 转人工 cannot queue, the message is still stored
INSERT INTO fx SELECT 'tq', helpdesk.upsert_tenant('tap-bot-noqueue', 'TAP bot no queue', bot_enabled => true);
INSERT INTO fx SELECT 'cq', helpdesk.upsert_customer(pg_temp.fx('tq'), 'cq');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tq'), 'b', 'dify', 'https://dify.test/v1', 'app-secret-key-q')$$, 'a bot for tq');
INSERT INTO fx SELECT 'sq', session_id FROM helpdesk.start_session(pg_temp.fx('tq'), pg_temp.fx('cq'), first_message => 'hi');
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('tq'), pg_temp.fx('sq'), 'customer', pg_temp.fx('cq'), '转人工')$$,
	'转人工 with no queue to go to: the post succeeds (a WARNING says why)');
SELECT is((SELECT row(state, bot_handoff_reason, (SELECT count(*) FROM helpdesk.message m WHERE m.session_id = s.id))::text
           FROM helpdesk.session s WHERE id = pg_temp.fx('sq')),
	row('bot', NULL::text, 2)::text, 'the message is stored and the session stays with the bot');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('tq'), pg_temp.fx('sq'))$$),
	'55000: tenant ' || pg_temp.fx('tq') || ' has no default queue', 'handoff_to_agent passes the error on');

------------------------------------------------------------------------------
-- handoff_to_agent
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's6', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c6'), first_message => 'hello');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(NULL, 1)$$), '22004: tenant_id must not be NULL', 'handoff_to_agent: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('tb'), NULL)$$), '22004: session_id must not be NULL', 'handoff_to_agent: NULL session');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('no_tenant'), 1)$$),
	'HD404: tenant ' || pg_temp.fx('no_tenant') || ' does not exist', 'handoff_to_agent: unknown tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('to'), pg_temp.fx('s6'))$$),
	'HD404: session ' || pg_temp.fx('s6') || ' does not exist in tenant ' || pg_temp.fx('to'), 'handoff_to_agent: another tenant''s session');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('tb'), pg_temp.fx('s2'))$$),
	'HD422: session ' || pg_temp.fx('s2') || ' is queued, not with the bot', 'handoff_to_agent: a queued session');
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('tb'), pg_temp.fx('s6'), pg_temp.fx('qo'))$$),
	'HD404: queue ' || pg_temp.fx('qo') || ' does not exist in tenant ' || pg_temp.fx('tb'), 'handoff_to_agent: another tenant''s queue');
SELECT is(helpdesk.handoff_to_agent(pg_temp.fx('tb'), pg_temp.fx('s6'), pg_temp.fx('q2')), pg_temp.fx('q2'), 'handoff_to_agent: into the queue given');
SELECT is((SELECT row(state, queue_id, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s6')),
	row('queued', pg_temp.fx('q2'), 'api')::text, 'handoff_to_agent: queued, reason api');
SELECT helpdesk.close_session(pg_temp.fx('tb'), pg_temp.fx('s6'));
SELECT is(pg_temp.err($$SELECT helpdesk.handoff_to_agent(pg_temp.fx('tb'), pg_temp.fx('s6'))$$),
	'HD410: session ' || pg_temp.fx('s6') || ' is closed, not with the bot', 'handoff_to_agent: a closed session');

------------------------------------------------------------------------------
-- bot_reply (a webhook bot's answer; the same code applies Dify's)
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's7', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c7'), first_message => 'first');
INSERT INTO fx SELECT 'j7', id FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s7');
UPDATE helpdesk.bot_job SET state = 'sending', sent_at = now(), attempts = 1 WHERE id = pg_temp.fx('j7');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(NULL, 1, '{}')$$), '22004: tenant_id must not be NULL', 'bot_reply: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), NULL, '{}')$$), '22004: job_id must not be NULL', 'bot_reply: NULL job');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), 1, NULL)$$), '22004: answer must not be NULL', 'bot_reply: NULL answer');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('no_tenant'), 1, '{}')$$),
	'HD404: tenant ' || pg_temp.fx('no_tenant') || ' does not exist', 'bot_reply: unknown tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('to'), pg_temp.fx('j7'), '{}')$$),
	'HD404: bot job ' || pg_temp.fx('j7') || ' does not exist in tenant ' || pg_temp.fx('to'), 'bot_reply: another tenant''s job');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '[1]')$$),
	'22023: answer must be a JSON object', 'bot_reply: not an object');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": 5}')$$),
	'22023: the bot''s answer: answer must be a string', 'bot_reply: answer not a string');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": "x", "metadata": {"urgency": "asap"}}')$$),
	'22023: the bot''s metadata.urgency must be low, normal, high or urgent, got "asap"', 'bot_reply: unknown urgency');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": "x", "metadata": {"priority": 5000}}')$$),
	'22023: the bot''s metadata.priority must be a whole number from -1000 to 1000', 'bot_reply: priority out of range');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": "x", "metadata": {"options": [1]}}')$$),
	'22023: the bot''s answer: metadata.options must hold strings or {"id", "label"} objects', 'bot_reply: bad options');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": "x", "conversation_id": 7}')$$),
	'22023: the bot''s answer: conversation_id must be a string', 'bot_reply: conversation_id not a string');
SELECT is((SELECT state FROM helpdesk.bot_job WHERE id = pg_temp.fx('j7')), 'sending', 'a refused answer changes nothing');
SELECT ok(helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'),
	'{"answer": "Pick one", "conversation_id": "conv-7", "metadata": {"options": ["Recharge", {"id": "r", "label": "Refund"}], "issue_type": "billing", "urgency": "urgent"}}') > 0,
	'bot_reply: an answer with options is posted');
SELECT is((SELECT row(type, body, options, client_msg_id)::text FROM helpdesk.message WHERE session_id = pg_temp.fx('s7') AND sender_kind = 'bot'),
	row('menu', 'Pick one', '[{"id": "1", "label": "Recharge"}, {"id": "r", "label": "Refund"}]'::jsonb, 'bot-job-' || pg_temp.fx('j7'))::text,
	'as a menu, with the job''s client_msg_id');
SELECT is((SELECT row(state, bot_conversation_id, issue_type, priority)::text FROM helpdesk.session WHERE id = pg_temp.fx('s7')),
	row('bot', 'conv-7', 'billing', 900)::text, 'the session keeps the conversation id, issue type and urgency (900 s)');
SELECT is((SELECT state FROM helpdesk.bot_job WHERE id = pg_temp.fx('j7')), 'done', 'the job is done');
SELECT is(helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7'), '{"answer": "again"}'), NULL, 'a second answer to a done job is dropped (NULL)');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE session_id = pg_temp.fx('s7') AND sender_kind = 'bot'), 1::bigint, 'and not shown');
SELECT is((SELECT error FROM helpdesk.bot_job WHERE id = pg_temp.fx('j7')), 'late answer dropped (job done, session bot)', 'the drop is noted on the job');
-- the metadata flag, and the marker
SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('s7'), 'customer', pg_temp.fx('c7'), 'second');
INSERT INTO fx SELECT 'j7b', max(id) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s7');
UPDATE helpdesk.bot_job SET state = 'sending' WHERE id = pg_temp.fx('j7b');
SELECT is(helpdesk.bot_reply(pg_temp.fx('tb'), pg_temp.fx('j7b'), '{"answer": "", "metadata": {"handoff": "true"}}'), NULL,
	'bot_reply: the flag with nothing to say hands off (NULL: no message)');
SELECT is((SELECT row(state, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s7')), row('queued', 'metadata')::text,
	'the metadata flag hands off');
INSERT INTO fx SELECT 's8', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c8'), first_message => 'hi');
UPDATE helpdesk.bot_job SET state = 'sending' WHERE session_id = pg_temp.fx('s8');
SELECT ok(helpdesk.bot_reply(pg_temp.fx('tb'), (SELECT id FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s8')),
	'{"answer": "[[h]] One moment, a colleague takes over. [[h]]"}') > 0, 'bot_reply: an answer with the marker is posted');
SELECT is((SELECT body FROM helpdesk.message WHERE session_id = pg_temp.fx('s8') AND sender_kind = 'bot'), 'One moment, a colleague takes over.',
	'without the marker');
SELECT is((SELECT bot_handoff_reason FROM helpdesk.session WHERE id = pg_temp.fx('s8')), 'marker', 'and the marker hands off');

-- a webhook bot answering with post_message as the bot answers its call
INSERT INTO fx SELECT 'tw', helpdesk.upsert_tenant('tap-bot-hook', 'TAP bot hook', bot_enabled => true);
INSERT INTO fx SELECT 'qw', helpdesk.upsert_queue(pg_temp.fx('tw'), 'main', 'Main W', is_default => true);
INSERT INTO fx SELECT 'cw', helpdesk.upsert_customer(pg_temp.fx('tw'), 'cw');
SELECT lives_ok($$SELECT helpdesk.upsert_bot(pg_temp.fx('tw'), 'hook', 'webhook', 'http://hook.test/bot',
	'whsec_' || encode(convert_to(repeat('w', 32), 'UTF8'), 'base64'))$$, 'a webhook bot for tw');
INSERT INTO fx SELECT 'sw', session_id FROM helpdesk.start_session(pg_temp.fx('tw'), pg_temp.fx('cw'), first_message => 'hello hook');
UPDATE helpdesk.bot_job SET state = 'sending', reply_due_at = now() + interval '1 minute' WHERE session_id = pg_temp.fx('sw');
INSERT INTO fx SELECT 'mw', helpdesk.post_message(pg_temp.fx('tw'), pg_temp.fx('sw'), 'bot', NULL, 'answered by post_message');
SELECT is((SELECT row(state, answer_message_id, reply_due_at)::text FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('sw')),
	row('done', pg_temp.fx('mw'), NULL::timestamptz)::text, 'post_message as the bot answers the webhook call in flight');

------------------------------------------------------------------------------
-- bot_status, delete_bot
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's9', session_id FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('c9'), first_message => 'hi');
SELECT is((SELECT row(bot_id, turns, handoff_reason, pending_jobs)::text FROM helpdesk.bot_status(pg_temp.fx('tb'), pg_temp.fx('s9'))),
	row(pg_temp.fx('bot'), 1, NULL::text, 1)::text, 'bot_status: bot, turns, pending calls');
SELECT is(pg_temp.err($$SELECT helpdesk.delete_bot(NULL, 1)$$), '22004: tenant_id must not be NULL', 'delete_bot: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.delete_bot(pg_temp.fx('tb'), NULL)$$), '22004: bot_id must not be NULL', 'delete_bot: NULL bot');
SELECT is(pg_temp.err($$SELECT helpdesk.delete_bot(pg_temp.fx('no_tenant'), 1)$$),
	'HD404: tenant ' || pg_temp.fx('no_tenant') || ' does not exist', 'delete_bot: unknown tenant');
SELECT is(helpdesk.delete_bot(pg_temp.fx('to'), pg_temp.fx('bot')), false, 'delete_bot: another tenant''s bot is not there');
SELECT is(helpdesk.delete_bot(pg_temp.fx('tb'), pg_temp.fx('bot')), true, 'delete_bot: deleted');
SELECT is((SELECT row(state, bot_handoff_reason, bot_id)::text FROM helpdesk.session WHERE id = pg_temp.fx('s9')),
	row('queued', 'api', NULL::bigint)::text, 'delete_bot: its session in state bot was handed off');
SELECT is((SELECT count(*) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s9')), 0::bigint, 'delete_bot: its jobs are gone');

SELECT * FROM finish();
ROLLBACK;
