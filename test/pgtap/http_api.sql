BEGIN;
SELECT plan(41);

-- The database side of the bridge's HTTP routes (security/40_http_api.sql,
-- 41_player_routes.sql, upload.c): CORS origins, store_upload's size and
-- type checks, ranges, pruning, attachments naming uploads, and player_call's
-- refusals, signed by pgcrypto (not our C).

\ir fixtures.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- the independent signer; rolled back

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-http', 'TAP HTTP');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-http-2', 'TAP HTTP 2');
SELECT helpdesk.upsert_queue(pg_temp.fx('t'), 'main', 'Main', is_default => true);

-- CORS
SELECT is(helpdesk.set_cors_origins(pg_temp.fx('t'), ARRAY['https://a.example', 'http://localhost:8080']), 2, 'two origins');
SELECT is(helpdesk.set_cors_origins(pg_temp.fx('t'), ARRAY['https://a.example']), 1, 'replaced by one');
SELECT throws_ok($$SELECT helpdesk.set_cors_origins(pg_temp.fx('t'), ARRAY['https://a.example/path'])$$, '23514', NULL, 'an origin with a path is refused');
SELECT throws_ok($$SELECT helpdesk.set_cors_origins(pg_temp.fx('t'), ARRAY['javascript:alert(1)'])$$, '23514', NULL, 'a non-http origin is refused');
SELECT is((SELECT array_agg(origin) FROM helpdesk.cors_origins() WHERE tenant_id = pg_temp.fx('t')), ARRAY['https://a.example'], 'cors_origins lists them');
SELECT is(helpdesk.set_cors_origins(pg_temp.fx('t2'), NULL), 0, 'NULL allows none');

-- uploads
CREATE TEMP TABLE png AS SELECT decode('89504e470d0a1a0a', 'hex') || gen_random_bytes(200) AS b;
SELECT * INTO TEMP up FROM helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, '../../x/screen.png', 'image/png', (SELECT b FROM png));
SELECT is((SELECT mime FROM up), 'image/png', 'a PNG is sniffed as image/png');
SELECT is((SELECT size FROM up), 208::bigint, 'its size');
SELECT is((SELECT sha256 FROM up), (SELECT encode(digest(b, 'sha256'), 'hex') FROM png), 'its SHA-256');
SELECT is((SELECT name FROM helpdesk.upload WHERE id = (SELECT upload_id FROM up)), 'screen.png', 'the name keeps its last component only');
SELECT is((SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'helpdesk.upload'::regclass AND attname = 'content'), 'e', 'content is stored EXTERNAL');
SELECT is(helpdesk.upload_chunk(pg_temp.fx('t'), (SELECT upload_id FROM up), 2, 6), decode('4e470d0a1a0a', 'hex'), 'upload_chunk reads a range');
SELECT is(helpdesk.upload_chunk(pg_temp.fx('t2'), (SELECT upload_id FROM up), 0, 6), NULL, 'not from another tenant');
SELECT is((SELECT mime FROM helpdesk.upload_info(pg_temp.fx('t'), (SELECT upload_id FROM up))), 'image/png', 'upload_info');
SELECT is((SELECT mime FROM helpdesk.upload_info(pg_temp.fx('t2'), (SELECT upload_id FROM up))), NULL, 'upload_info of another tenant is empty');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'cat.png', 'image/png', decode('7f454c4602010100', 'hex') || gen_random_bytes(100))$$,
	'HD415', NULL, 'an ELF named .png is refused');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'cat.pdf', NULL, (SELECT b FROM png))$$,
	'HD415', NULL, 'a PNG named .pdf is refused');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'cat', 'application/pdf', (SELECT b FROM png))$$,
	'HD415', NULL, 'a PNG declared as PDF is refused');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'page.txt', 'text/plain', convert_to('  <html><body>hi</body></html>', 'UTF8'))$$,
	'HD415', NULL, 'markup is not plain text');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'prog.exe', NULL, convert_to('MZ' || repeat('x', 10), 'UTF8') || '\x00'::bytea)$$,
	'HD415', NULL, 'an unknown type is refused');
SELECT is((SELECT mime FROM helpdesk.store_upload(pg_temp.fx('t'), 'customer', 1, 'log.txt', 'text/plain; charset=utf-8', convert_to('line one' || E'\n' || '第二行', 'UTF8'))),
	'text/plain', 'UTF-8 text is plain text');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'e.png', NULL, ''::bytea)$$, '22023', NULL, 'an empty upload');
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'robot', 1, 'a.png', NULL, (SELECT b FROM png))$$, '22023', NULL, 'an unknown uploader kind');
SELECT throws_ok($$SELECT helpdesk.store_upload(NULL, 'agent', 1, 'a.png', NULL, (SELECT b FROM png))$$, '22004', NULL, 'a NULL tenant');
SELECT throws_ok($$SELECT helpdesk.store_upload(999999, 'agent', 1, 'a.png', NULL, (SELECT b FROM png))$$, 'HD404', NULL, 'an unknown tenant');
SET LOCAL helpdesk.max_upload_bytes = 100;
SELECT throws_ok($$SELECT helpdesk.store_upload(pg_temp.fx('t'), 'agent', 1, 'a.png', NULL, (SELECT b FROM png))$$, '54000', NULL, 'more than helpdesk.max_upload_bytes');
RESET helpdesk.max_upload_bytes;

-- attachments naming uploads
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'tap-c');
INSERT INTO fx SELECT 's', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c'));
SELECT lives_ok(format($$SELECT helpdesk.post_message(%s, %s, 'customer', %s, '', 'image', NULL,
	'{"upload_id": %s, "url": "https://h.example/u", "name": "n.png", "mime": "image/gif", "size": 1}')$$,
	pg_temp.fx('t'), pg_temp.fx('s'), pg_temp.fx('c'), (SELECT upload_id FROM up)), 'a message naming an upload of its tenant');
SELECT is((SELECT attachment ->> 'mime' FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND attachment ? 'upload_id'), 'image/png',
	'its mime comes from the upload, not the client');
SELECT * INTO TEMP up2 FROM helpdesk.store_upload(pg_temp.fx('t2'), 'agent', 1, 'b.png', NULL, (SELECT b FROM png));
SELECT throws_ok(format($$SELECT helpdesk.post_message(%s, %s, 'customer', %s, '', 'image', NULL,
	'{"upload_id": %s, "url": "https://h.example/u", "name": "n.png", "mime": "image/png", "size": 1}')$$,
	pg_temp.fx('t'), pg_temp.fx('s'), pg_temp.fx('c'), (SELECT upload_id FROM up2)), 'HD404', NULL, 'naming another tenant''s upload is HD404');
SELECT throws_ok(format($$SELECT helpdesk.post_message(%s, %s, 'customer', %s, '', 'image', NULL,
	'{"upload_id": "7", "url": "https://h.example/u", "name": "n.png", "mime": "image/png", "size": 1}')$$,
	pg_temp.fx('t'), pg_temp.fx('s'), pg_temp.fx('c')), '22023', NULL, 'upload_id must be a number');
SELECT is((helpdesk._upload_attachment(pg_temp.fx('t'), jsonb_build_object('upload_id', (SELECT upload_id FROM up)), 'https://b.example')) ->> 'url',
	'https://b.example/api/v1/uploads/' || (SELECT upload_id FROM up), '_upload_attachment adds the stable URL');

-- pruning: the referenced upload stays, unreferenced old ones go
UPDATE helpdesk.upload SET created_at = now() - interval '2 days';
SELECT ok(helpdesk.prune_uploads() >= 2, 'prune_uploads deletes the unreferenced uploads older than a day');
SELECT is((SELECT array_agg(id) FROM helpdesk.upload WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('t2'))),
	ARRAY[(SELECT upload_id FROM up)], 'the referenced one stays');
SELECT ok(helpdesk.prune_uploads(interval '1 day') >= 1, 'past keep it goes too');
SELECT is((SELECT count(*) FROM helpdesk.upload WHERE tenant_id = pg_temp.fx('t')), 0::bigint, 'and is gone');

-- player_call
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-http-game', 'TAP', 'tap-http-secret-0123456789abcdef0123456789') AS sec \gset
CREATE FUNCTION pg_temp.call(route text, method text, path text, body text, id bigint DEFAULT NULL,
	args jsonb DEFAULT '{}', secret text DEFAULT 'tap-http-secret-0123456789abcdef0123456789')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ts text := extract(epoch FROM clock_timestamp())::bigint::text;
	n text := 'n-' || md5(random()::text);
	b bytea := convert_to(body, 'UTF8');
	sig text := encode(hmac(convert_to(method || E'\n' || path || E'\n' || ts || E'\n' || n || E'\n'
		|| encode(digest(b, 'sha256'), 'hex'), 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex');
	r record;
BEGIN
	r := helpdesk.player_call(route, method, path, jsonb_build_object('x-hd-app', 'tap-http-game',
		'x-hd-timestamp', ts, 'x-hd-nonce', n, 'x-hd-signature', sig), b, id, args);
	RETURN r.status || ' ' || coalesce(r.answer ->> 'created', r.answer -> 'error' ->> 'code', '');
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SELECT is(pg_temp.call('session-start', 'POST', '/api/v1/player/sessions', '{"player_id": "tap-p"}'), '201 true', 'a signed session start');
SELECT is(pg_temp.call('session-start', 'POST', '/api/v1/player/sessions', '{"player_id": "tap-p"}', secret => 'wrong-secret-0123456789abcdef0123456789'), 'HDA01', 'a wrong secret');
SELECT is(pg_temp.call('session-start', 'POST', '/api/v1/player/sessions', '{"name": "x"}'), '22023', 'no player_id');
SELECT is(pg_temp.call('session-get', 'GET', '/api/v1/player/sessions/' || pg_temp.fx('s'), '', pg_temp.fx('s'), '{"player_id": "tap-p"}'), 'HD404', 'another customer''s session');
SELECT throws_ok($$SELECT helpdesk.prune_uploads(NULL)$$, '22004', NULL, 'prune_uploads: keep is required');
SELECT is(pg_temp.call('nonsense', 'POST', '/x', '{"player_id": "tap-p"}'), '22023', 'an unknown route');

SELECT * FROM finish();
ROLLBACK;
