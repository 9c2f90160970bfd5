BEGIN;
SELECT plan(37);

-- Who may do and see what (issue 13): verify_token applies the bridge's
-- rules (one verifier, bridge/token_rules.c) and answers every bad token with
-- 28000; disabled agents are refused by the SQL API and give their sessions
-- back; session_history checks the reader against who holds the session now.

\ir fixtures.psql

CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- hmac(), to sign hand-made tokens; rolled back
SET LOCAL helpdesk.token_secret = 'tap-secret-0123456789abcdef-0123456789';

-- header and claims as given (text, so malformed JSON can be signed too)
CREATE FUNCTION pg_temp.b64u(bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT translate(encode($1, 'base64'), E'+/=\n', '-_')
$$;
CREATE FUNCTION pg_temp.sign(header text, claims text) RETURNS text LANGUAGE sql AS $$
	SELECT h || '.' || pg_temp.b64u(hmac(convert_to(h, 'UTF8'),
		convert_to(current_setting('helpdesk.token_secret'), 'UTF8'), 'sha256'))
	FROM (SELECT header || '.' || claims AS h) x
$$;
CREATE FUNCTION pg_temp.tok(header text, claims text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.sign(pg_temp.b64u(convert_to(header, 'UTF8')), pg_temp.b64u(convert_to(claims, 'UTF8')))
$$;
CREATE FUNCTION pg_temp.hs256(claims text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.tok('{"alg":"HS256","typ":"JWT"}', claims)
$$;

-- ---- verify_token: one set of rules ----
SELECT is(helpdesk.verify_token(pg_temp.hs256('{"tenant":1,"kind":"agent","sub":"7","iat":1,"exp":9999999999}')) ->> 'sub',
	'7', 'a well-formed token signed here verifies (the helper signs like issue_token)');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.tok('{"alg":"none","typ":"JWT"}',
	'{"tenant":1,"kind":"agent","sub":"7","exp":9999999999}')),
	'28000', 'invalid token: header alg is not HS256', 'alg none is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.tok('{"alg":"HS512","typ":"JWT"}',
	'{"tenant":1,"kind":"agent","sub":"7","exp":9999999999}')),
	'28000', 'invalid token: header alg is not HS256', 'alg HS512 is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.sign('!!not-base64!!',
	pg_temp.b64u(convert_to('{"tenant":1,"kind":"agent","sub":"7","exp":9999999999}', 'UTF8')))),
	'28000', 'invalid token: header is not base64url JSON', 'a header that is not base64url is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"admin","sub":"7","exp":9999999999}')),
	'28000', 'invalid token: claim kind is not agent, customer, supervisor or bot', 'kind admin is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"agent","exp":9999999999}')),
	'28000', 'invalid token: claim sub is missing or not a positive decimal string', 'a token without sub is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"kind":"agent","sub":"7","exp":9999999999}')),
	'28000', 'invalid token: claim tenant is missing or not a positive integer', 'a token without tenant is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"agent","sub":"x7","exp":9999999999}')),
	'28000', 'invalid token: claim sub is missing or not a positive decimal string', 'a non-numeric sub is refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"agent","sub":"7","exp":"soon"}')),
	'28000', 'invalid token: claim exp is missing or not an integer', 'a string exp is 28000 (was 22P02)');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"agent","sub":"7","exp":1e30}')),
	'28000', 'invalid token: claim exp is missing or not an integer', 'an exp beyond bigint is 28000 (was 22003)');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":')),
	'28000', 'invalid token: claims are not base64url JSON', 'claims that are not JSON are 28000 (was 22P02)');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('[1,2]')),
	'28000', 'invalid token: claims are not base64url JSON', 'claims that are not an object are 28000');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', pg_temp.hs256('{"tenant":1,"kind":"agent","sub":"7","exp":1}')),
	'28000', 'invalid token: expired', 'an expired token is 28000');

-- ---- disabled agents ----
INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-auth', 'TAP auth');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'man', 'Manual', strategy => 'manual', is_default => true);
INSERT INTO fx SELECT 'a1', helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1');
INSERT INTO fx SELECT 'a2', helpdesk.upsert_agent(pg_temp.fx('t'), 'a2', 'A2');
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('t'), 'c1');
INSERT INTO fx SELECT 'c2', helpdesk.upsert_customer(pg_temp.fx('t'), 'c2');
INSERT INTO fx SELECT 's1', (helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c1'), first_message => 'hi')).session_id;
INSERT INTO fx SELECT 's2', (helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c2'), first_message => 'hello')).session_id;
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a1'), 'online') \gset ignore_
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a2'), 'online') \gset ignore_
SELECT helpdesk.claim_session(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('s1')) \gset ignore_
SELECT helpdesk.claim_session(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('s2')) \gset ignore_
SELECT helpdesk.post_message(pg_temp.fx('t'), pg_temp.fx('s1'), 'note', pg_temp.fx('a1'), 'internal: VIP') \gset ignore_

-- the SQL API refuses a disabled agent, even one still assigned (flag set behind upsert_agent's back)
UPDATE helpdesk.agent SET enabled = false WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('a1');
SELECT throws_ok(format('SELECT helpdesk.post_message(%s, %s, ''agent'', %s, ''still here'')',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'post_message: a disabled agent cannot post');
SELECT throws_ok(format('SELECT helpdesk.close_session(%s, %s, ''done'', ''agent'', %s)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'close_session: a disabled agent cannot close');
SELECT throws_ok(format('SELECT helpdesk.mark_read(%s, %s, ''agent'', %s, 1000000)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'mark_read: a disabled agent cannot mark');
SELECT throws_ok(format('SELECT helpdesk.transfer_session(%s, %s, %s, %s)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1'), pg_temp.fx('a2')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'transfer_session: a disabled agent cannot transfer');
SELECT throws_ok(format('SELECT helpdesk.accept_offer(%s, %s, %s)',
	pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('s1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'accept_offer: a disabled agent cannot accept');
SELECT throws_ok(format('SELECT helpdesk.session_history(%s, %s, ''agent'', %s)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'session_history: a disabled agent reads nothing');
SELECT throws_ok(format('SELECT helpdesk.set_agent_status(%s, %s, ''online'')', pg_temp.fx('t'), pg_temp.fx('a1')),
	'55000', format('agent %s is disabled', pg_temp.fx('a1')), 'set_agent_status: a disabled agent cannot go online');
UPDATE helpdesk.agent SET enabled = true WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('a1');

-- disabling through upsert_agent releases its sessions back to their queue
SELECT max(id) AS ev0 FROM helpdesk.event \gset
SELECT helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1', enabled => false) \gset ignore_
SELECT results_eq(format('SELECT id, state, agent_id FROM helpdesk.session WHERE tenant_id = %s AND id IN (%s, %s) ORDER BY id',
		pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('s2')),
	format('VALUES (%s::bigint, ''queued''::text, NULL::bigint), (%s, ''queued'', NULL)', pg_temp.fx('s1'), pg_temp.fx('s2')),
	'disabling an agent puts its active sessions back in their queue');
SELECT is((SELECT load FROM helpdesk.agent WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('a1')), 0,
	'its load is back to 0');
SELECT is((SELECT count(*) FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('t') AND agent_id = pg_temp.fx('a1')
	AND end_reason = 'requeued' AND ended_at IS NOT NULL), 2::bigint, 'both assignments ended as requeued');
SELECT is((SELECT count(*) FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('t') AND agent_id = pg_temp.fx('a1')
	AND action = 'requeue' AND reason = 'agent disabled; back to its place in the queue'), 2::bigint, 'an audit row per released session');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE id > :ev0 AND tenant_id = pg_temp.fx('t') AND type = 'session.released'
	AND audience = 'agent' AND audience_id = pg_temp.fx('a1')), 2::bigint, 'session.released events to the agent');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE id > :ev0 AND tenant_id = pg_temp.fx('t') AND type = 'session.state'
	AND audience = 'session' AND payload ->> 'to' = 'queued'), 2::bigint, 'session.state queued events to the sessions');
SELECT is((SELECT payload FROM helpdesk.event WHERE id > :ev0 AND tenant_id = pg_temp.fx('t') AND type = 'agent.disabled'
	AND audience = 'agent' AND audience_id = pg_temp.fx('a1')), '{"released": 2}'::jsonb,
	'an agent.disabled event (the bridge closes the agent''s sockets on it)');
SELECT is((SELECT excluded_agents @> ARRAY[pg_temp.fx('a1')] FROM helpdesk.session WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('s1')),
	true, 'the released session will not go back to the disabled agent');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE id > :ev0 AND type = 'agent.disabled'), 2::bigint,
	'disabling it again changes nothing more (before)');
SELECT helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1', enabled => false) \gset ignore_
SELECT is((SELECT count(*) FROM helpdesk.event WHERE id > :ev0 AND type = 'agent.disabled'), 2::bigint,
	'disabling it again changes nothing more (after)');

-- ---- session_history: who holds the session now ----
SELECT helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1', enabled => true) \gset ignore_
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a1'), 'online') \gset ignore_
SELECT helpdesk.claim_session(pg_temp.fx('t'), pg_temp.fx('a2'), pg_temp.fx('s1')) \gset ignore_
SELECT is((SELECT count(*) FROM helpdesk.session_history(pg_temp.fx('t'), pg_temp.fx('s1'), 'agent', pg_temp.fx('a2'))
	WHERE sender_kind = 'note'), 1::bigint, 'the agent holding the session reads it, notes included');
SELECT throws_ok(format('SELECT helpdesk.session_history(%s, %s, ''agent'', %s)', pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('a1')),
	'42501', format('agent %s may not read session %s', pg_temp.fx('a1'), pg_temp.fx('s1')),
	'an agent it was taken from reads nothing');
SELECT is((SELECT count(*) FROM helpdesk.session_history(pg_temp.fx('t'), pg_temp.fx('s1'), 'customer', pg_temp.fx('c1'))), 1::bigint,
	'the customer reads its session, without the note');
SELECT throws_ok(format('SELECT helpdesk.session_history(%s, %s, ''customer'', %s)', pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('c2')),
	'42501', format('customer %s may not read session %s', pg_temp.fx('c2'), pg_temp.fx('s1')),
	'another customer reads nothing');
SELECT is((SELECT count(*) FROM helpdesk.session_history(pg_temp.fx('t'), pg_temp.fx('s1'), 'supervisor', pg_temp.fx('a1'))), 2::bigint,
	'a supervisor reads any session of the tenant, notes included');
-- an offer is not a hold
UPDATE helpdesk.session SET state = 'offered', agent_id = pg_temp.fx('a1'), offer_expires_at = now() + interval '1 minute' WHERE tenant_id = pg_temp.fx('t') AND id = pg_temp.fx('s2');
SELECT throws_ok(format('SELECT helpdesk.session_history(%s, %s, ''agent'', %s)', pg_temp.fx('t'), pg_temp.fx('s2'), pg_temp.fx('a1')),
	'42501', format('agent %s may not read session %s', pg_temp.fx('a1'), pg_temp.fx('s2')),
	'an agent only offered the session reads nothing');
-- what the bridge reads at connect: held now, whatever position it resumes from
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('t'), 'agent', pg_temp.fx('a1'), 0) -> 'sessions', '[]'::jsonb,
	'bridge_subscriber: an agent resuming from an old position sees neither a session taken from it nor one only offered');

SELECT * FROM finish();
ROLLBACK;
