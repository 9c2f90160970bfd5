BEGIN;
SELECT plan(30);

-- Bridge tokens (issue_token / verify_token, HS256 over helpdesk.token_secret)
-- and what the bridge reads at connect (bridge_subscriber).

\ir fixtures.psql

SET LOCAL helpdesk.token_secret = 'tap-secret-0123456789abcdef-0123456789';
INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-tok-a', 'TAP tokens A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-tok-b', 'TAP tokens B');
INSERT INTO fx SELECT 'q_bill', helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing', required_skills => '{billing}', is_default => true);
INSERT INTO fx SELECT 'q_tech', helpdesk.upsert_queue(pg_temp.fx('ta'), 'tech', 'Tech', required_skills => '{tech}');
INSERT INTO fx SELECT 'a1', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', skills => '{"billing": 5}');
INSERT INTO fx SELECT 'a_off', helpdesk.upsert_agent(pg_temp.fx('ta'), 'off', 'Off', enabled => false);
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'cust-1');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'cust-b');
INSERT INTO fx SELECT 's1', (helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c1'), first_message => 'hi')).session_id;

SELECT helpdesk.issue_token(pg_temp.fx('ta'), 'agent', pg_temp.fx('a1'), '10 minutes') AS tok \gset

SELECT is(array_length(string_to_array(:'tok', '.'), 1), 3, 'a token has three parts');
SELECT is(convert_from(decode(rpad(translate(split_part(:'tok', '.', 1), '-_', '+/'),
	(length(split_part(:'tok', '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb - 'kid',
	'{"alg": "HS256", "typ": "JWT"}', 'header says HS256 (and the key id: agent_login.sql)');
SELECT is((helpdesk.verify_token(:'tok') ->> 'tenant')::bigint, pg_temp.fx('ta'), 'claims: tenant');
SELECT is(helpdesk.verify_token(:'tok') ->> 'kind', 'agent', 'claims: kind');
SELECT is(helpdesk.verify_token(:'tok') ->> 'sub', pg_temp.fx('a1')::text, 'claims: sub is the id as a string');
SELECT is((helpdesk.verify_token(:'tok') ->> 'exp')::bigint - (helpdesk.verify_token(:'tok') ->> 'iat')::bigint,
	600::bigint, 'claims: exp = iat + ttl');
SELECT is(helpdesk.verify_token(helpdesk.issue_token(pg_temp.fx('ta'), 'customer', pg_temp.fx('c1'))) ->> 'kind',
	'customer', 'customer token, default ttl');
SELECT is(helpdesk.verify_token(helpdesk.issue_token(pg_temp.fx('ta'), 'supervisor', pg_temp.fx('a1'))) ->> 'kind',
	'supervisor', 'supervisor token (subject is an agent)');

-- forgeries
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)',
	split_part(:'tok', '.', 1) || '.' ||
	translate(encode(convert_to('{"tenant":' || pg_temp.fx('tb') || ',"kind":"supervisor","sub":"1","iat":1,"exp":9999999999}', 'UTF8'), 'base64'), '+/=', '-_') ||
	'.' || split_part(:'tok', '.', 3)),
	'28000', 'invalid token: signature does not match', 'changed claims are refused');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', left(:'tok', -2) || 'AA'),
	'28000', 'invalid token: signature does not match', 'changed signature is refused');
SELECT throws_ok('SELECT helpdesk.verify_token(''a.b'')', '28000', 'invalid token: not three dot-separated parts', 'two parts');
SELECT throws_ok('SELECT helpdesk.verify_token(NULL)', '28000', 'invalid token: token is NULL', 'NULL token');
SET LOCAL helpdesk.token_secret = 'another-secret-0123456789abcdef-01234';
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000',
	'invalid token: signature does not match', 'a token signed with another secret is refused');
SET LOCAL helpdesk.token_secret = 'too-short';
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''agent'', %s)', pg_temp.fx('ta'), pg_temp.fx('a1')),
	'55000', 'helpdesk.token_secret is not set or shorter than 32 bytes', 'no usable secret: 55000');
SET LOCAL helpdesk.token_secret = 'tap-secret-0123456789abcdef-0123456789';

-- expiry (verify_token uses the wall clock, not the transaction's start)
SELECT helpdesk.issue_token(pg_temp.fx('ta'), 'agent', pg_temp.fx('a1'), '1 second') AS short \gset
SELECT pg_sleep(1.2);
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'short'), '28000', 'invalid token: expired', 'expired token');

-- argument errors
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''admin'', %s)', pg_temp.fx('ta'), pg_temp.fx('a1')),
	'22023', NULL, 'unknown kind');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''agent'', %s, ''0 seconds'')', pg_temp.fx('ta'), pg_temp.fx('a1')),
	'22023', 'ttl must be between 1 and 2592000 seconds', 'ttl too short');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''agent'', %s, ''31 days'')', pg_temp.fx('ta'), pg_temp.fx('a1')),
	'22023', 'ttl must be between 1 and 2592000 seconds', 'ttl too long');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, NULL, %s)', pg_temp.fx('ta'), pg_temp.fx('a1')),
	'22004', NULL, 'NULL kind');
SELECT throws_ok('SELECT helpdesk.issue_token(-1, ''agent'', 1)', 'HD404', 'tenant -1 does not exist', 'unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''customer'', %s)', pg_temp.fx('ta'), pg_temp.fx('cb')),
	'HD404', NULL, 'another tenant''s customer');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''agent'', %s)', pg_temp.fx('ta'), pg_temp.fx('a_off')),
	'HD404', NULL, 'disabled agent');
SELECT throws_ok(format('SELECT helpdesk.issue_token(%s, ''agent'', %s)', pg_temp.fx('ta'), pg_temp.fx('c1') + 100000),
	'HD404', NULL, 'unknown agent');

-- bridge_subscriber
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'customer', pg_temp.fx('cb')), NULL,
	'another tenant''s customer: NULL (the bridge closes with 4004)');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'agent', pg_temp.fx('a_off')), NULL, 'disabled agent: NULL');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'customer', pg_temp.fx('a1') + 100000), NULL, 'unknown customer: NULL');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'customer', pg_temp.fx('c1')) -> 'sessions',
	jsonb_build_array(pg_temp.fx('s1')), 'a customer sees its open session');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'agent', pg_temp.fx('a1')) -> 'queues',
	jsonb_build_array(pg_temp.fx('q_bill')), 'an agent''s queues are those it has the skills for');
SELECT is((helpdesk.bridge_subscriber(pg_temp.fx('ta'), 'supervisor', pg_temp.fx('a1')) ->> 'position')::bigint,
	helpdesk.event_position(), 'position is the published high-water mark');
SELECT ok((SELECT count(*) = 0 FROM helpdesk.bridge_events(0, 10) e WHERE e.session_id = pg_temp.fx('s1') AND e.customer_id <> pg_temp.fx('c1')),
	'bridge_events carries the session''s customer');

SELECT * FROM finish();
ROLLBACK;
