BEGIN;
SELECT plan(74);

-- The signed player API's database side: apps and their sealed secrets,
-- verify_signed_request against an independent signer (pgcrypto's hmac and
-- digest, not our C), and rate_limit_hit.

\ir fixtures.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- the independent signer; rolled back

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-player', 'TAP player API');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-player-2', 'TAP player API 2');

-- the signature exactly as the issue specifies, computed by pgcrypto
CREATE FUNCTION pg_temp.sign(secret text, method text, path text, ts text, nonce text, body bytea)
RETURNS text LANGUAGE sql AS $$
	SELECT encode(hmac(convert_to(method || E'\n' || path || E'\n' || ts || E'\n' || nonce || E'\n'
		|| encode(digest(body, 'sha256'), 'hex'), 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex') $$;
CREATE FUNCTION pg_temp.now_s(delta int DEFAULT 0) RETURNS text LANGUAGE sql AS $$
	SELECT (extract(epoch FROM clock_timestamp())::bigint + delta)::text $$;
-- verify with pgcrypto's signature of (method, path, ts, nonce, body) under secret, then send
-- what was given in the s* arguments (tampering)
CREATE FUNCTION pg_temp.try(secret text, method text, path text, ts text, nonce text, body bytea,
	s_method text DEFAULT NULL, s_path text DEFAULT NULL, s_ts text DEFAULT NULL, s_nonce text DEFAULT NULL,
	s_body bytea DEFAULT NULL, app text DEFAULT 'tap-game')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	SELECT * INTO r FROM helpdesk.verify_signed_request(coalesce(s_method, method), coalesce(s_path, path), app,
		coalesce(s_ts, ts), coalesce(s_nonce, nonce), pg_temp.sign(secret, method, path, ts, nonce, body), coalesce(s_body, body));
	RETURN 'ok ' || r.tenant_id || ' ' || r.app_id;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.nonce() RETURNS text LANGUAGE sql AS $$ SELECT 'n-' || md5(random()::text) $$;

-- apps
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-game', 'TAP game') AS sec \gset
SELECT ok(:'sec' ~ '^[0-9a-f]{64}$', 'a generated secret: 32 random bytes as lowercase hex');
SELECT isnt(helpdesk.upsert_app(pg_temp.fx('t'), 'tap-other', 'Other'), :'sec', 'secrets differ');
SELECT is(helpdesk.upsert_app(pg_temp.fx('t'), 'tap-given', 'Given', 'a-given-secret-of-at-least-32-characters!'),
	'a-given-secret-of-at-least-32-characters!', 'a given secret is returned as given');
SELECT is((SELECT position(convert_to(:'sec', 'UTF8') IN secret_sealed) FROM helpdesk.api_app WHERE app_id = 'tap-game'), 0,
	'the stored secret is sealed, not the secret');
SELECT is((SELECT (rate_per_minute, player_rate_per_minute, revoked_at)::text FROM helpdesk.api_app WHERE app_id = 'tap-game'),
	'(6000,200,)', 'default limits: 6000/min per app, 200/min per player');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''tap-game'', ''Stolen'')', pg_temp.fx('t2')), 'HD409',
	'app_id "tap-game" belongs to another tenant', 'app ids are unique across tenants');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''a b'', ''x'')', pg_temp.fx('t')), '22023', NULL, 'an app id with a space');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''ab'', ''x'')', pg_temp.fx('t')), '22023', NULL, 'an app id too short');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''tap-x'', ''x'', ''short'')', pg_temp.fx('t')), '22023',
	'secret must be 32 to 256 characters long', 'a short secret (not echoed)');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''tap-x'', ''x'', %L)', pg_temp.fx('t'), repeat('秘', 40)), '22023',
	'secret must be printable ASCII without spaces', 'a non-ASCII secret');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''tap-x'', ''x'', rate_per_minute => 0)', pg_temp.fx('t')), '22023', NULL, 'rate 0');
SELECT throws_ok(format('SELECT helpdesk.upsert_app(%s, ''tap-x'', NULL)', pg_temp.fx('t')), '22004', 'name must not be NULL', 'NULL name');
SELECT throws_ok('SELECT helpdesk.upsert_app(-1, ''tap-x'', ''x'')', 'HD404', 'tenant -1 does not exist', 'unknown tenant');

-- a valid request, and what the bridge gets
SELECT pg_temp.now_s() AS ts \gset
SELECT is(pg_temp.try(:'sec', 'POST', '/api/v1/player/sessions?lang=en&x=1', :'ts', 'nonce-valid-0000001', '{"player_id":"p1"}'),
	'ok ' || pg_temp.fx('t') || ' tap-game', 'a valid request: its tenant and app');
SELECT is(pg_temp.try(:'sec', 'GET', '/api/v1/player/sessions/7?after=0', :'ts', pg_temp.nonce(), ''),
	'ok ' || pg_temp.fx('t') || ' tap-game', 'an empty body');
SELECT is(pg_temp.try('a-given-secret-of-at-least-32-characters!', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', app => 'tap-given'),
	'ok ' || pg_temp.fx('t') || ' tap-given', 'a given secret signs');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), convert_to('玩家 ' || repeat('x', 100000), 'UTF8')),
	'ok ' || pg_temp.fx('t') || ' tap-game', 'a large non-ASCII body');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', 'n_' || repeat('Az9-', 15) || 'zz', 'x'),
	'ok ' || pg_temp.fx('t') || ' tap-game', 'a 64-character nonce of every allowed kind');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', '0123456789abcdef', 'x'),
	'ok ' || pg_temp.fx('t') || ' tap-game', 'a 16-character nonce');

-- bad signatures
SELECT is(pg_temp.try(repeat('0', 64), 'POST', '/p', :'ts', pg_temp.nonce(), 'x'), 'HDA01', 'wrong secret');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', s_method => 'PUT'), 'HDA01', 'tampered method');
SELECT is(pg_temp.try(:'sec', 'POST', '/p/1', :'ts', pg_temp.nonce(), 'x', s_path => '/p/2'), 'HDA01', 'tampered path');
SELECT is(pg_temp.try(:'sec', 'POST', '/p?a=1', :'ts', pg_temp.nonce(), 'x', s_path => '/p?a=2'), 'HDA01', 'tampered query');
SELECT is(pg_temp.try(:'sec', 'POST', '/p?a=1', :'ts', pg_temp.nonce(), 'x', s_path => '/p'), 'HDA01', 'query dropped');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), '{"amount":1}', s_body => '{"amount":9}'), 'HDA01', 'tampered body');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', s_ts => (:'ts'::bigint - 1)::text), 'HDA01', 'tampered timestamp');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', s_nonce => pg_temp.nonce()), 'HDA01', 'tampered nonce');
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-given', 'Given') AS newsec \gset
SELECT is(pg_temp.try('a-given-secret-of-at-least-32-characters!', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', app => 'tap-given'),
	'HDA01', 'a replaced secret no longer signs (in a backend that used it just before)');
SELECT is(pg_temp.try(:'newsec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', app => 'tap-given'),
	'ok ' || pg_temp.fx('t') || ' tap-given', 'the new one does');
SELECT is(pg_temp.try(:'newsec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x'), 'HDA01', 'another app''s secret is wrong');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, %L, %L, ''x'')', :'ts', 'nonce-upper-000001',
	upper(pg_temp.sign(:'sec', 'POST', '/p', :'ts', 'nonce-upper-000001', 'x'))), 'HDA01',
	'bad_signature: X-HD-Signature does not match the request', 'upper-case hex is not the signature');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, %L, %L, ''x'')', :'ts', 'nonce-short-000001',
	left(pg_temp.sign(:'sec', 'POST', '/p', :'ts', 'nonce-short-000001', 'x'), 63)), 'HDA01', NULL, 'a truncated signature');

-- time window
SELECT is(pg_temp.try(:'sec', 'POST', '/p', pg_temp.now_s(-290), pg_temp.nonce(), 'x'), 'ok ' || pg_temp.fx('t') || ' tap-game', '290 s old: accepted');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', pg_temp.now_s(290), pg_temp.nonce(), 'x'), 'ok ' || pg_temp.fx('t') || ' tap-game', '290 s ahead: accepted');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', pg_temp.now_s(-302), pg_temp.nonce(), 'x'), 'HDA02', 'stale: 302 s old');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', pg_temp.now_s(302), pg_temp.nonce(), 'x'), 'HDA02', 'future: 302 s ahead');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', '0', pg_temp.nonce(), 'x'), 'HDA02', 'the epoch');
SELECT throws_like(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, %L, %L, ''x'')', pg_temp.now_s(-1000), 'nonce-stale-000001',
	pg_temp.sign(:'sec', 'POST', '/p', pg_temp.now_s(-1000), 'nonce-stale-000001', 'x')),
	'stale_timestamp: X-HD-Timestamp is -% s from the server''s clock, more than 300', 'the message says how far off');

-- nonces
SELECT pg_temp.nonce() AS n1 \gset
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', :'n1', 'x'), 'ok ' || pg_temp.fx('t') || ' tap-game', 'first use of a nonce');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', :'n1', 'x'), 'HDA03', 'the same request again: replayed');
SELECT is(pg_temp.try(:'sec', 'GET', '/q', :'ts', :'n1', ''), 'HDA03', 'the same nonce on another request: replayed');
SELECT is(pg_temp.try(helpdesk.upsert_app(pg_temp.fx('t'), 'tap-given', 'Given', 'another-given-secret-of-32-characters!!'), 'POST', '/p', :'ts', :'n1', 'x', app => 'tap-given'),
	'ok ' || pg_temp.fx('t') || ' tap-given', 'the same nonce for another app is its own');
SELECT is(pg_temp.try(repeat('0', 64), 'POST', '/p', :'ts', 'nonce-forged-00001', 'x'), 'HDA01', 'a forgery...');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', 'nonce-forged-00001', 'x'), 'ok ' || pg_temp.fx('t') || ' tap-game', '...does not use up the nonce');
UPDATE helpdesk.api_nonce SET seen_at = clock_timestamp() - interval '601 seconds' WHERE nonce = :'n1' AND app_id = 'tap-game';
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', :'n1', 'x'), 'ok ' || pg_temp.fx('t') || ' tap-game', 'a nonce older than 600 s is forgotten');
SELECT is((SELECT count(*) FROM helpdesk.api_nonce WHERE nonce = :'n1' AND app_id = 'tap-game'), 1::bigint, 'one row per nonce and app');
UPDATE helpdesk.api_nonce SET seen_at = clock_timestamp() - interval '601 seconds' WHERE nonce = :'n1' AND app_id = 'tap-game';
SELECT is((SELECT nonces FROM helpdesk.prune_player_api()), 1::bigint, 'prune_player_api deletes nonces older than 600 s');
SELECT ok((SELECT count(*) > 0 FROM helpdesk.api_nonce WHERE app_id = 'tap-game'), 'and keeps the others');

-- malformed and missing parts
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(NULL, ''/p'', ''tap-game'', %L, ''nonce-000000000001'', repeat(''0'', 64), ''x'')', :'ts'), 'HDA00', 'malformed_request: the method is missing', 'no method');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', NULL, ''tap-game'', %L, ''nonce-000000000001'', repeat(''0'', 64), ''x'')', :'ts'), 'HDA00', 'malformed_request: the path is missing', 'no path');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', NULL, %L, ''nonce-000000000001'', repeat(''0'', 64), ''x'')', :'ts'), 'HDA00', 'malformed_request: header X-HD-App is missing', 'no app');
SELECT throws_ok('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', NULL, ''nonce-000000000001'', repeat(''0'', 64), ''x'')', 'HDA00', 'malformed_request: header X-HD-Timestamp is missing', 'no timestamp');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, NULL, repeat(''0'', 64), ''x'')', :'ts'), 'HDA00', 'malformed_request: header X-HD-Nonce is missing', 'no nonce');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, ''nonce-000000000001'', NULL, ''x'')', :'ts'), 'HDA00', 'malformed_request: header X-HD-Signature is missing', 'no signature');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''tap-game'', %L, ''nonce-000000000001'', repeat(''0'', 64), NULL)', :'ts'), 'HDA00', NULL, 'no body');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', 'short-nonce-0001', 'x', s_nonce => 'short-nonce-001'), 'HDA00', 'a 15-character nonce');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', repeat('n', 65), 'x'), 'HDA00', 'a 65-character nonce');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', 'nonce-with-dot.0001', 'x'), 'HDA00', 'a nonce with a dot');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', '1.5e9', pg_temp.nonce(), 'x'), 'HDA00', 'a timestamp that is not digits');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', '-' || :'ts', pg_temp.nonce(), 'x'), 'HDA00', 'a negative timestamp');
SELECT is(pg_temp.try(:'sec', 'post', '/p', :'ts', pg_temp.nonce(), 'x'), 'HDA00', 'a lower-case method');
SELECT is(pg_temp.try(:'sec', 'POST', 'p', :'ts', pg_temp.nonce(), 'x'), 'HDA00', 'a path without /');
SELECT is(pg_temp.try(:'sec', 'POST', E'/p\n' || :'ts', :'ts', pg_temp.nonce(), 'x'), 'HDA00', 'a path with a newline');
SELECT is(pg_temp.try(:'sec', 'POST', '/p q', :'ts', pg_temp.nonce(), 'x'), 'HDA00', 'a path with a space');
SELECT is(pg_temp.try(:'sec', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', app => 'no-such-app'), 'HDA04', 'an unknown app');

-- the headers form
SELECT pg_temp.nonce() AS n2 \gset
SELECT is((SELECT tenant_id FROM helpdesk.verify_signed_request('POST', '/p',
	jsonb_build_object('X-Hd-App', 'tap-game', 'x-hd-timestamp', :'ts', 'X-HD-NONCE', :'n2',
		'x-hd-signature', pg_temp.sign(:'sec', 'POST', '/p', :'ts', :'n2', 'x'), 'Content-Type', 'application/json'), 'x')),
	pg_temp.fx('t'), 'headers as JSON, names in any case, others ignored');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', %L::jsonb, ''x'')',
	jsonb_build_object('x-hd-app', 'tap-game', 'x-hd-timestamp', :'ts', 'x-hd-signature', repeat('0', 64))),
	'HDA00', 'malformed_request: header X-HD-Nonce is missing', 'a missing header');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', %L::jsonb, ''x'')',
	jsonb_build_object('x-hd-app', 'tap-game', 'x-hd-timestamp', :'ts'::bigint, 'x-hd-nonce', pg_temp.nonce(), 'x-hd-signature', repeat('0', 64))),
	'HDA00', 'malformed_request: header X-HD-Timestamp must be a string', 'a header that is not a string');
SELECT throws_ok(format('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', %L::jsonb, ''x'')',
	jsonb_build_object('x-hd-app', 'tap-game', 'X-HD-App', 'tap-other', 'x-hd-timestamp', :'ts', 'x-hd-nonce', pg_temp.nonce(), 'x-hd-signature', repeat('0', 64))),
	'HDA00', 'malformed_request: header X-HD-App is given twice', 'a header twice');
SELECT throws_ok('SELECT helpdesk.verify_signed_request(''POST'', ''/p'', ''[]''::jsonb, ''x'')', 'HDA00', 'malformed_request: the headers must be a JSON object', 'headers not an object');

-- revoking
SELECT is(helpdesk.revoke_app(pg_temp.fx('t'), 'tap-other'), true, 'revoke_app');
SELECT is(helpdesk.revoke_app(pg_temp.fx('t'), 'tap-other'), false, 'revoking again: false');
SELECT throws_ok(format('SELECT helpdesk.revoke_app(%s, ''tap-other'')', pg_temp.fx('t2')), 'HD404', NULL, 'another tenant''s app');
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-other', 'Other') AS sec2 \gset
SELECT helpdesk.revoke_app(pg_temp.fx('t'), 'tap-other');
SELECT is(pg_temp.try(:'sec2', 'POST', '/p', :'ts', pg_temp.nonce(), 'x', app => 'tap-other'), 'HDA04', 'a revoked app: unknown_app');

SELECT * FROM finish();
ROLLBACK;
