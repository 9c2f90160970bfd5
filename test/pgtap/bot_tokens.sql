BEGIN;
SELECT plan(46);

-- Bot tokens (issue 17: a webhook bot answers through helpdesk-bridge): the
-- SQL side of issue_bot_token, revoke_bot_tokens, verify_token and
-- bridge_subscriber on kind bot, and the two calls the bridge makes for a
-- bot token's frames (bot_bridge_answer, bot_bridge_handoff), every error
-- path with its SQLSTATE. The WebSocket side is test/e2e/bridge_bot.sh.
-- Jobs made here are never seen by the HTTP worker (the transaction rolls
-- back); where a job must look claimed, the test marks it sending.

\ir fixtures.psql
SET LOCAL helpdesk.token_secret = 'tap-secret-0123456789abcdef-0123456789';
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
CREATE FUNCTION pg_temp.claims(tok text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(tok, '.', 2), '-_', '+/'),
		(length(split_part(tok, '.', 2)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
$$;

INSERT INTO fx SELECT 'tt', helpdesk.upsert_tenant('tap-bottok', 'TAP bot tokens', bot_enabled => true);
INSERT INTO fx SELECT 'q1', helpdesk.upsert_queue(pg_temp.fx('tt'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'q2', helpdesk.upsert_queue(pg_temp.fx('tt'), 'vip', 'VIP');
INSERT INTO fx SELECT 'to', helpdesk.upsert_tenant('tap-bottok-other', 'TAP bot tokens other', bot_enabled => true);
INSERT INTO fx SELECT 'qo', helpdesk.upsert_queue(pg_temp.fx('to'), 'main', 'Main O', is_default => true);
INSERT INTO fx SELECT 'hook', helpdesk.upsert_bot(pg_temp.fx('tt'), 'hook', 'webhook', 'https://bot.test/hook', 'whsec_' || repeat('x', 32));
INSERT INTO fx SELECT 'dify', helpdesk.upsert_bot(pg_temp.fx('tt'), 'dify', 'dify', 'https://dify.test/v1', 'app-secret-key', queue_id => pg_temp.fx('q2'));
INSERT INTO fx SELECT 'hook_o', helpdesk.upsert_bot(pg_temp.fx('to'), 'hook', 'webhook', 'https://bot.test/other', 'whsec_' || repeat('y', 32));
INSERT INTO fx SELECT 'c' || g, helpdesk.upsert_customer(pg_temp.fx('tt'), 'c' || g) FROM generate_series(1, 4) g;
INSERT INTO fx SELECT 'co', helpdesk.upsert_customer(pg_temp.fx('to'), 'co');
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;

------------------------------------------------------------------------------
-- issue_bot_token, verify_token, bridge_subscriber
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(NULL, 1)$$), '22004: tenant_id must not be NULL', 'issue_bot_token: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('tt'), NULL)$$), '22004: bot_id must not be NULL', 'issue_bot_token: NULL bot');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('tt'), pg_temp.fx('hook'), NULL)$$), '22004: ttl must not be NULL', 'issue_bot_token: NULL ttl');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('no_tenant'), 1)$$),
	'HD404: tenant ' || pg_temp.fx('no_tenant') || ' does not exist', 'issue_bot_token: unknown tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('to'), pg_temp.fx('hook'))$$),
	'HD404: webhook bot ' || pg_temp.fx('hook') || ' does not exist in tenant ' || pg_temp.fx('to') || ' or is disabled',
	'issue_bot_token: another tenant''s bot');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('tt'), pg_temp.fx('dify'))$$),
	'HD404: webhook bot ' || pg_temp.fx('dify') || ' does not exist in tenant ' || pg_temp.fx('tt') || ' or is disabled',
	'issue_bot_token: a Dify bot gets none (the worker calls it)');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_bot_token(pg_temp.fx('tt'), pg_temp.fx('hook'), '31 days')$$),
	'22023: ttl must be between 1 and 2592000 seconds', 'issue_bot_token: ttl over 30 days');
CREATE TEMP TABLE tok (name text PRIMARY KEY, t text);
INSERT INTO tok SELECT 'v1', helpdesk.issue_bot_token(pg_temp.fx('tt'), pg_temp.fx('hook'));
SELECT is((SELECT pg_temp.claims(t) - 'iat' - 'exp' FROM tok WHERE name = 'v1'),
	jsonb_build_object('tenant', pg_temp.fx('tt'), 'kind', 'bot', 'sub', pg_temp.fx('hook')::text, 'ver', 1),
	'the token: tenant, kind bot, sub = the bot, ver = its token version');
SELECT is((SELECT (pg_temp.claims(t)->>'exp')::bigint - (pg_temp.claims(t)->>'iat')::bigint FROM tok WHERE name = 'v1'),
	30 * 86400::bigint, 'default ttl: 30 days');
SELECT is((SELECT helpdesk.verify_token(t) - 'iat' - 'exp' FROM tok WHERE name = 'v1'),
	jsonb_build_object('tenant', pg_temp.fx('tt'), 'kind', 'bot', 'sub', pg_temp.fx('hook')::text, 'ver', 1),
	'verify_token accepts it');
SELECT is((SELECT helpdesk.bridge_subscriber(pg_temp.fx('tt'), 'bot', pg_temp.fx('hook'), NULL, 1) - 'position' - 'oldest' - 'log_id'),
	'{"role": null, "queues": [], "sessions": []}'::jsonb, 'bridge_subscriber: a bot sees no sessions or queues');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('tt'), 'bot', pg_temp.fx('hook'), NULL, NULL), NULL,
	'bridge_subscriber: a bot token without its version is nobody');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('tt'), 'bot', pg_temp.fx('dify'), NULL, 1), NULL,
	'bridge_subscriber: a Dify bot is nobody');
SELECT is(pg_temp.err($$SELECT helpdesk.issue_token(pg_temp.fx('tt'), 'bot', pg_temp.fx('hook'), '1 hour')$$),
	'22023: invalid kind "bot"', 'issue_token does not make bot tokens');

------------------------------------------------------------------------------
-- bot_bridge_answer
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's1', session_id FROM helpdesk.start_session(pg_temp.fx('tt'), pg_temp.fx('c1'), first_message => 'hello bot');
INSERT INTO fx SELECT 'j1', id FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1');
INSERT INTO fx SELECT 'so', session_id FROM helpdesk.start_session(pg_temp.fx('to'), pg_temp.fx('co'), first_message => 'other tenant');
INSERT INTO fx SELECT 'sd', session_id FROM helpdesk.start_session(pg_temp.fx('tt'), pg_temp.fx('c2'), queue_id => pg_temp.fx('q2'), first_message => 'for dify');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(NULL, 1, 1, 1, '{}')$$), '22004: tenant_id must not be NULL', 'bot_bridge_answer: NULL tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), NULL, 1, '{}')$$),
	'22004: token_version must not be NULL', 'bot_bridge_answer: NULL version');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), NULL)$$),
	'22004: answer must not be NULL', 'bot_bridge_answer: NULL answer');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 2, pg_temp.fx('s1'), '{"answer": "x"}')$$),
	'28000: invalid token: revoked (revoke_bot_tokens, or bot ' || pg_temp.fx('hook') || ' disabled or deleted)',
	'bot_bridge_answer: a version the bot is not at');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook_o'), 1, pg_temp.fx('so'), '{"answer": "x"}')$$),
	'28000: invalid token: revoked (revoke_bot_tokens, or bot ' || pg_temp.fx('hook_o') || ' disabled or deleted)',
	'bot_bridge_answer: another tenant''s bot is no bot of this tenant');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('so'), '{"answer": "x"}')$$),
	'42501: session ' || pg_temp.fx('so') || ' is not a session bot ' || pg_temp.fx('hook') || ' serves in tenant ' || pg_temp.fx('tt'),
	'bot_bridge_answer: another tenant''s session');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('sd'), '{"answer": "x"}')$$),
	'42501: session ' || pg_temp.fx('sd') || ' is not a session bot ' || pg_temp.fx('hook') || ' serves in tenant ' || pg_temp.fx('tt'),
	'bot_bridge_answer: a session another bot serves');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), '{"answer": "x"}')$$),
	'HD404: bot ' || pg_temp.fx('hook') || ' has no request to answer in session ' || pg_temp.fx('s1') || ' yet',
	'bot_bridge_answer: nothing sent to the bot yet (the job is pending)');
UPDATE helpdesk.bot_job SET state = 'sending', sent_at = now(), attempts = 1 WHERE id = pg_temp.fx('j1');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), '{"answer": "x"}', (SELECT min(id) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('sd')))$$),
	'42501: job ' || (SELECT min(id) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('sd')) || ' is not a request of bot ' || pg_temp.fx('hook') || ' in session ' || pg_temp.fx('s1'),
	'bot_bridge_answer: another session''s job');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), '{"answer": 5}')$$),
	'22023: the bot''s answer: answer must be a string', 'bot_bridge_answer: a malformed answer (bot_reply''s checks)');
SELECT is((SELECT state FROM helpdesk.bot_job WHERE id = pg_temp.fx('j1')), 'sending', 'a refused answer changes nothing');
SELECT is(helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'),
		'{"answer": "Pick one", "metadata": {"options": ["Recharge", "Refund"]}}') - 'message_id',
	jsonb_build_object('outcome', 'posted', 'job_id', pg_temp.fx('j1'), 'session_state', 'bot', 'handoff_reason', NULL),
	'bot_bridge_answer: posted to the request in flight');
SELECT is((SELECT row(type, body, options, client_msg_id)::text FROM helpdesk.message WHERE session_id = pg_temp.fx('s1') AND sender_kind = 'bot'),
	row('menu', 'Pick one', '[{"id": "1", "label": "Recharge"}, {"id": "2", "label": "Refund"}]'::jsonb, 'bot-job-' || pg_temp.fx('j1'))::text,
	'a bot message, a menu with the options, bot_reply''s client_msg_id');
SELECT is(helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), '{"answer": "again"}') ->> 'outcome',
	'dropped', 'a second answer to the same request is dropped');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE session_id = pg_temp.fx('s1') AND sender_kind = 'bot'), 1::bigint, 'and not shown');
SELECT is((SELECT error FROM helpdesk.bot_job WHERE id = pg_temp.fx('j1')), 'late answer dropped (job done, session bot)', 'the drop is noted on the job');
-- a hand-off while the bot's request is in flight: its late answer is dropped
SELECT helpdesk.post_message(pg_temp.fx('tt'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), 'second');
INSERT INTO fx SELECT 'j1b', max(id) FROM helpdesk.bot_job WHERE session_id = pg_temp.fx('s1');
UPDATE helpdesk.bot_job SET state = 'sending' WHERE id = pg_temp.fx('j1b');
SELECT helpdesk.post_message(pg_temp.fx('tt'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'), '转人工');
SELECT is(helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'), '{"answer": "too late"}') - 'message_id',
	jsonb_build_object('outcome', 'dropped', 'job_id', pg_temp.fx('j1b'), 'session_state', 'queued', 'handoff_reason', 'keyword'),
	'bot_bridge_answer after a hand-off: dropped, with the state and the reason');
SELECT is((SELECT row(state, error)::text FROM helpdesk.bot_job WHERE id = pg_temp.fx('j1b')),
	row('dropped', 'handed off (keyword) before the bot answered; late answer dropped (job dropped, session queued)')::text,
	'the late answer is noted on its job');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE session_id = pg_temp.fx('s1') AND sender_kind = 'bot'), 1::bigint, 'and never shown');

------------------------------------------------------------------------------
-- bot_bridge_handoff
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's3', session_id FROM helpdesk.start_session(pg_temp.fx('tt'), pg_temp.fx('c3'), first_message => 'hi');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_handoff(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, NULL)$$),
	'22004: session_id must not be NULL', 'bot_bridge_handoff: NULL session');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_handoff(pg_temp.fx('tt'), pg_temp.fx('hook'), 7, pg_temp.fx('s3'))$$),
	'28000: invalid token: revoked (revoke_bot_tokens, or bot ' || pg_temp.fx('hook') || ' disabled or deleted)',
	'bot_bridge_handoff: a version the bot is not at');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_handoff(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('so'))$$),
	'42501: session ' || pg_temp.fx('so') || ' is not a session bot ' || pg_temp.fx('hook') || ' serves in tenant ' || pg_temp.fx('tt'),
	'bot_bridge_handoff: another tenant''s session');
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_handoff(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s1'))$$),
	'HD422: session ' || pg_temp.fx('s1') || ' is queued, not with the bot', 'bot_bridge_handoff: a session handed off already');
SELECT is(helpdesk.bot_bridge_handoff(pg_temp.fx('tt'), pg_temp.fx('hook'), 1, pg_temp.fx('s3'), pg_temp.fx('q2')), pg_temp.fx('q2'),
	'bot_bridge_handoff: into the queue asked for');
SELECT is((SELECT row(state, queue_id, bot_handoff_reason)::text FROM helpdesk.session WHERE id = pg_temp.fx('s3')),
	row('queued', pg_temp.fx('q2'), 'api')::text, 'queued, reason api; its open call dropped');

------------------------------------------------------------------------------
-- revoke_bot_tokens; disabling the bot
------------------------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT helpdesk.revoke_bot_tokens(pg_temp.fx('tt'), NULL)$$), '22004: bot_id must not be NULL', 'revoke_bot_tokens: NULL bot');
SELECT is(pg_temp.err($$SELECT helpdesk.revoke_bot_tokens(pg_temp.fx('to'), pg_temp.fx('hook'))$$),
	'HD404: bot ' || pg_temp.fx('hook') || ' does not exist in tenant ' || pg_temp.fx('to'), 'revoke_bot_tokens: another tenant''s bot');
SELECT is(helpdesk.revoke_bot_tokens(pg_temp.fx('tt'), pg_temp.fx('hook')), 2::bigint, 'revoke_bot_tokens: the new version');
SELECT is((SELECT pg_temp.err(format('SELECT helpdesk.verify_token(%L)', t)) FROM tok WHERE name = 'v1'),
	'28000: invalid token: revoked (revoke_bot_tokens, or the bot disabled or deleted)', 'verify_token refuses the older token');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('tt'), 'bot', pg_temp.fx('hook'), NULL, 1), NULL, 'so does bridge_subscriber');
SELECT is(pg_temp.claims(helpdesk.issue_bot_token(pg_temp.fx('tt'), pg_temp.fx('hook'), '1 hour')) ->> 'ver', '2', 'a new token carries version 2');
SELECT helpdesk.upsert_bot(pg_temp.fx('tt'), 'hook', enabled => false);
SELECT is(pg_temp.err($$SELECT helpdesk.bot_bridge_answer(pg_temp.fx('tt'), pg_temp.fx('hook'), 2, pg_temp.fx('s1'), '{"answer": "x"}')$$),
	'28000: invalid token: revoked (revoke_bot_tokens, or bot ' || pg_temp.fx('hook') || ' disabled or deleted)',
	'a disabled bot''s tokens are refused');

SELECT * FROM finish();
ROLLBACK;
