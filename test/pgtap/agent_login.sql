BEGIN;
SELECT plan(73);

-- Agents inside a tenant: roles, passwords (PBKDF2-HMAC-SHA256 checked
-- against an independent PBKDF2 written here over pgcrypto's hmac), login
-- with lockout, logout and revocation through the token version, and the
-- token key id and secret rotation.

\ir fixtures.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- hmac(), digest(); rolled back

SET LOCAL helpdesk.token_secret = 'tap-login-secret-0123456789abcdef-0123';
SET LOCAL helpdesk.password_iterations = 1000;	-- the documented floor, for tests

-- PBKDF2-HMAC-SHA256 with one 32-byte block (RFC 8018), not our C
CREATE FUNCTION pg_temp.pbkdf2(pw text, salt bytea, iters int) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
	u bytea := hmac(salt || '\x00000001'::bytea, convert_to(pw, 'UTF8'), 'sha256');
	t bytea := u;
BEGIN
	FOR i IN 2 .. iters LOOP
		u := hmac(u, convert_to(pw, 'UTF8'), 'sha256');
		FOR b IN 0 .. 31 LOOP
			t := set_byte(t, b, get_byte(t, b) # get_byte(u, b));
		END LOOP;
	END LOOP;
	RETURN t;
END $$;
CREATE FUNCTION pg_temp.claims(tok text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(tok, '.', 2), '-_', '+/'),
		(length(split_part(tok, '.', 2)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb $$;
CREATE FUNCTION pg_temp.header(tok text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT convert_from(decode(rpad(translate(split_part(tok, '.', 1), '-_', '+/'),
		(length(split_part(tok, '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb $$;
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql AS $$
	SELECT translate(encode(b, 'base64'), E'+/=\n', '-_') $$;

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-login', 'TAP login');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-login-2', 'TAP login 2');
INSERT INTO fx SELECT 'ana', helpdesk.upsert_agent(pg_temp.fx('t'), 'ana', 'Ana');
INSERT INTO fx SELECT 'sue', helpdesk.upsert_agent(pg_temp.fx('t'), 'sue', 'Sue');
INSERT INTO fx SELECT 'nopw', helpdesk.upsert_agent(pg_temp.fx('t'), 'nopw', 'No password');
INSERT INTO fx SELECT 'ana2', helpdesk.upsert_agent(pg_temp.fx('t2'), 'ana', 'Ana elsewhere');

-- roles
SELECT is((SELECT role FROM helpdesk.agent WHERE id = pg_temp.fx('ana')), 'agent', 'role defaults to agent');
SELECT lives_ok(format('SELECT helpdesk.set_agent_role(%s, %s, ''supervisor'')', pg_temp.fx('t'), pg_temp.fx('sue')), 'set_agent_role');
SELECT is((SELECT role FROM helpdesk.agent WHERE id = pg_temp.fx('sue')), 'supervisor', 'the role is stored');
SELECT throws_ok(format('SELECT helpdesk.set_agent_role(%s, %s, ''boss'')', pg_temp.fx('t'), pg_temp.fx('sue')),
	'22023', 'invalid role "boss"', 'an unknown role');
SELECT throws_ok(format('SELECT helpdesk.set_agent_role(%s, NULL, ''qa'')', pg_temp.fx('t')), '22004', 'agent_id must not be NULL', 'NULL agent');
SELECT throws_ok(format('SELECT helpdesk.set_agent_role(%s, %s, ''qa'')', pg_temp.fx('t'), pg_temp.fx('ana2')),
	'HD404', NULL, 'another tenant''s agent');
SELECT throws_ok('SELECT helpdesk.set_agent_role(-1, 1, ''qa'')', 'HD404', 'tenant -1 does not exist', 'unknown tenant');

-- passwords
SELECT lives_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('ana'), 'correct horse battery'),
	'set_agent_password');
SELECT lives_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('sue'), 'sue''s long password'),
	'a second agent''s password');
SELECT is((SELECT (algorithm, iterations, length(salt), length(hash))::text FROM helpdesk.agent_credential
	WHERE agent_id = pg_temp.fx('ana')), '(pbkdf2-sha256,1000,16,32)', 'the hash records its parameters; 16-byte salt');
SELECT is((SELECT hash FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')),
	(SELECT pg_temp.pbkdf2('correct horse battery', salt, iterations) FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')),
	'the hash is PBKDF2-HMAC-SHA256 (checked by an independent PBKDF2 over pgcrypto)');
SELECT isnt((SELECT salt FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')),
	(SELECT salt FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('sue')), 'salts differ');
SELECT throws_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('ana'), 'short-pw1'),
	'22023', 'password must be at least 10 characters long', 'too short (the message does not echo it)');
SELECT throws_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('ana'), repeat('x', 1025)),
	'22023', 'password must be at most 1024 bytes long', 'too long');
SELECT throws_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('ana'), '密码密码密码密码密'),
	'22023', 'password must be at least 10 characters long', 'length in characters, not bytes');
SELECT throws_ok(format('SELECT helpdesk.set_agent_password(%s, %s, %L)', pg_temp.fx('t'), pg_temp.fx('ana2'), 'correct horse battery'),
	'HD404', NULL, 'another tenant''s agent');
SELECT throws_ok(format('SELECT helpdesk.set_agent_password(%s, NULL, %L)', pg_temp.fx('t'), 'correct horse battery'),
	'22004', 'agent_id must not be NULL', 'NULL agent');
SELECT throws_ok('SET LOCAL helpdesk.password_iterations = 999', '22023', NULL, 'the iteration floor is 1000');
SELECT is(current_setting('helpdesk.password_iterations'), '1000', 'the setting stays');
SELECT is((SELECT boot_val FROM pg_settings WHERE name = 'helpdesk.password_iterations'), '600000',
	'the default is OWASP''s 600,000 iterations');
SELECT is((SELECT context FROM pg_settings WHERE name = 'helpdesk.password_iterations'), 'superuser',
	'only a superuser may change it');

-- login: right, kid, claims
SELECT * INTO TEMP ok1 FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery', '10 minutes');
SELECT ok((SELECT token IS NOT NULL AND reason IS NULL AND retry_after IS NULL FROM ok1), 'the right password: a token');
SELECT is((SELECT (agent_id, role)::text FROM ok1), format('(%s,agent)', pg_temp.fx('ana')), 'agent id and role');
SELECT ok((SELECT abs(extract(epoch FROM expires_at - now()) - 600) < 5 FROM ok1), 'expires_at is now + ttl');
SELECT is((SELECT helpdesk.verify_token(token) - 'iat' - 'exp' FROM ok1),
	jsonb_build_object('tenant', pg_temp.fx('t'), 'kind', 'agent', 'sub', pg_temp.fx('ana')::text, 'role', 'agent', 'ver', 2),
	'verify_token: role and the token version (1, bumped by the password)');
SELECT is((SELECT pg_temp.header(token) FROM ok1),
	jsonb_build_object('alg', 'HS256', 'typ', 'JWT', 'kid', left(encode(digest(current_setting('helpdesk.token_secret'), 'sha256'), 'hex'), 8)),
	'the header names the secret''s key id (first 4 bytes of its SHA-256)');
SELECT is((SELECT failed_attempts FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 0, 'no failures');
SELECT ok((SELECT last_login_at IS NOT NULL FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 'last_login_at');
SELECT is((SELECT helpdesk.verify_token(token) ->> 'kind' FROM helpdesk.agent_login('tap-login', 'sue', 'sue''s long password')),
	'supervisor', 'a supervisor''s login token has kind supervisor');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login-2', 'ana', 'correct horse battery')),
	'bad_credentials', 'the same external id in another tenant has its own (no) password');

-- wrong, unknown, no password
SELECT is((SELECT (token, reason, retry_after)::text FROM helpdesk.agent_login('tap-login', 'ana', 'wrong horse battery')),
	'(,bad_credentials,)', 'a wrong password: bad_credentials, no token');
SELECT is((SELECT failed_attempts FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 1, 'counted');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'nobody', 'correct horse battery')), 'bad_credentials', 'unknown agent: the same answer');
SELECT is((SELECT reason FROM helpdesk.agent_login('no-such-tenant', 'ana', 'correct horse battery')), 'bad_credentials', 'unknown tenant: the same answer');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'nopw', 'correct horse battery')), 'bad_credentials', 'no password set: the same answer');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'ana', repeat('x', 5000))), 'bad_credentials', 'an oversized password is just wrong');
SELECT is((SELECT failed_attempts FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 2, 'and counted');
SELECT throws_ok('SELECT helpdesk.agent_login(''tap-login'', ''ana'', NULL)', '22004', 'password must not be NULL', 'NULL password');
SELECT throws_ok('SELECT helpdesk.agent_login(''tap-login'', ''ana'', ''x'', ''0 seconds'')', '22023', 'ttl must be between 1 and 2592000 seconds', 'ttl too short');
SELECT throws_ok('SELECT helpdesk.agent_login(''tap-login'', ''ana'', ''x'', ''31 days'')', '22023', 'ttl must be between 1 and 2592000 seconds', 'ttl too long');

-- lockout after 5 failures, and its end
SELECT is((SELECT array_agg(reason ORDER BY g) FROM generate_series(3, 5) g,
	LATERAL helpdesk.agent_login('tap-login', 'ana', 'wrong ' || g || ' horse battery')),
	'{bad_credentials,bad_credentials,locked}', 'the fifth failure locks');
SELECT ok((SELECT locked_until BETWEEN clock_timestamp() + '14 minutes 55 seconds' AND clock_timestamp() + '15 minutes'
	FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 'for 15 minutes');
SELECT is((SELECT (token, reason)::text FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery')),
	'(,locked)', 'the right password while locked: locked');
SELECT ok((SELECT retry_after BETWEEN '14 minutes 50 seconds' AND '15 minutes' FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery')),
	'retry_after says how long');
SELECT is((SELECT (failed_attempts, locked_until > clock_timestamp() + '14 minutes')::text FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')),
	'(0,t)', 'attempts while locked neither count nor extend the lock');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'sue', 'sue''s long password')), NULL, 'another agent is not locked');
UPDATE helpdesk.agent_credential SET locked_until = clock_timestamp() - interval '1 second' WHERE agent_id = pg_temp.fx('ana');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'ana', 'wrong horse battery')), 'bad_credentials', 'after the lock: wrong is bad_credentials again');
SELECT is((SELECT (failed_attempts, locked_until)::text FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')),
	'(1,)', 'counting starts over');
SELECT ok((SELECT token IS NOT NULL FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery')), 'and the right password logs in');
SELECT is((SELECT failed_attempts FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('ana')), 0, 'a success resets the count');

-- revocation: logout
SELECT token AS tok FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery') \gset
SELECT helpdesk.issue_token(pg_temp.fx('t'), 'agent', pg_temp.fx('ana')) AS plain \gset
SELECT max(id) AS ev0 FROM helpdesk.event \gset
SELECT is(helpdesk.logout_agent(pg_temp.fx('t'), pg_temp.fx('ana')), 3::bigint, 'logout_agent returns the new version');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000',
	'invalid token: revoked (logout, new password, role change or agent disabled)', 'a login token after logout');
SELECT is(helpdesk.bridge_subscriber(pg_temp.fx('t'), 'agent', pg_temp.fx('ana'), NULL, 2), NULL,
	'bridge_subscriber refuses the old version (the bridge closes with 4004)');
SELECT isnt(helpdesk.bridge_subscriber(pg_temp.fx('t'), 'agent', pg_temp.fx('ana'), NULL, 3), NULL, 'and accepts the current one');
SELECT is(helpdesk.verify_token(:'plain') ->> 'sub', pg_temp.fx('ana')::text, 'issue_token''s tokens (no ver claim) stay valid');
SELECT is((SELECT array_agg(audience || ' ' || payload::text ORDER BY id) FROM helpdesk.event WHERE id > :ev0 AND type = 'agent.revoked'),
	ARRAY['agent {"reason": "logout", "token_version": 3}',
	      format('tenant {"reason": "logout", "agent_id": %s, "token_version": 3}', pg_temp.fx('ana'))],
	'agent.revoked to the agent and the tenant');
SELECT is((SELECT helpdesk.verify_token(token) ->> 'ver' FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery')),
	'3', 'a new login carries the new version');
SELECT throws_ok('SELECT helpdesk.logout_agent(-1, 1)', 'HD404', 'tenant -1 does not exist', 'logout: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.logout_agent(%s, %s)', pg_temp.fx('t'), pg_temp.fx('ana2')), 'HD404', NULL, 'logout: another tenant''s agent');

-- revocation: password change, role change, disabling
SELECT token AS tok FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery') \gset
SELECT helpdesk.set_agent_password(pg_temp.fx('t'), pg_temp.fx('ana'), 'a brand new password');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000', NULL, 'a new password revokes');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'ana', 'correct horse battery')), 'bad_credentials', 'the old password no longer works');
SELECT token AS tok FROM helpdesk.agent_login('tap-login', 'ana', 'a brand new password') \gset
SELECT helpdesk.set_agent_role(pg_temp.fx('t'), pg_temp.fx('ana'), 'qa');
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000', NULL, 'a role change revokes');
SELECT is((SELECT helpdesk.verify_token(token) ->> 'role' FROM helpdesk.agent_login('tap-login', 'ana', 'a brand new password')), 'qa', 'the new role is in the next token');
SELECT token AS tok FROM helpdesk.agent_login('tap-login', 'ana', 'a brand new password') \gset
SELECT helpdesk.upsert_agent(pg_temp.fx('t'), 'ana', 'Ana', enabled => false);
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000', NULL, 'disabling revokes');
SELECT is((SELECT reason FROM helpdesk.agent_login('tap-login', 'ana', 'a brand new password')), 'bad_credentials', 'a disabled agent cannot log in');

-- rehash at a raised setting
SET LOCAL helpdesk.password_iterations = 2000;
SELECT ok((SELECT token IS NOT NULL FROM helpdesk.agent_login('tap-login', 'sue', 'sue''s long password')), 'login at a raised setting');
SELECT is((SELECT iterations FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('sue')), 2000, 'rehashed at the new setting');
SELECT is((SELECT hash FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('sue')),
	(SELECT pg_temp.pbkdf2('sue''s long password', salt, 2000) FROM helpdesk.agent_credential WHERE agent_id = pg_temp.fx('sue')),
	'the new hash is right');

-- secret rotation: kid and the previous secret
SELECT token AS tok FROM helpdesk.agent_login('tap-login', 'sue', 'sue''s long password') \gset
SET LOCAL helpdesk.token_secret = 'tap-login-new-secret-0123456789abcdef-0';
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000', 'invalid token: signature does not match', 'a new secret alone refuses old tokens');
SET LOCAL helpdesk.token_secret_previous = 'tap-login-secret-0123456789abcdef-0123';
SELECT is(helpdesk.verify_token(:'tok') ->> 'sub', pg_temp.fx('sue')::text, 'with the old secret as previous it passes');
SELECT token AS newtok FROM helpdesk.agent_login('tap-login', 'sue', 'sue''s long password') \gset
SELECT is(pg_temp.header(:'newtok') ->> 'kid',
	left(encode(digest('tap-login-new-secret-0123456789abcdef-0', 'sha256'), 'hex'), 8), 'new tokens carry the new kid');
-- a header naming another secret's kid, signed (by pgcrypto) with the previous secret
SELECT pg_temp.b64u(convert_to('{"alg":"HS256","typ":"JWT","kid":"' || left(encode(digest('tap-login-new-secret-0123456789abcdef-0', 'sha256'), 'hex'), 8) || '"}', 'UTF8'))
	|| '.' || split_part(:'tok', '.', 2) AS forged \gset
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'forged' || '.' ||
	pg_temp.b64u(hmac(:'forged', 'tap-login-secret-0123456789abcdef-0123', 'sha256'))), '28000',
	'invalid token: header kid is not the key id of the secret that signed it', 'a kid that does not match the signing secret');
SET LOCAL helpdesk.token_secret_previous = '';
SELECT throws_ok(format('SELECT helpdesk.verify_token(%L)', :'tok'), '28000', NULL, 'rotation over: old tokens refused');

SELECT * FROM finish();
ROLLBACK;
