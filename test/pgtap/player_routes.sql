BEGIN;
SELECT plan(48);

-- player_call's routes and refusals (security/player_call.c, player_routes.c),
-- _upload_attachment, the tenant check of set_cors_origins / upload_info /
-- upload_chunk, and prune_uploads keeping what a ticket message references.
-- Requests are signed by pgcrypto (not our C).

\ir fixtures.psql
CREATE EXTENSION IF NOT EXISTS pgcrypto;	-- the independent signer; rolled back

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-proutes', 'TAP player routes');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-proutes-2', 'TAP player routes 2');
SELECT helpdesk.upsert_queue(pg_temp.fx('t'), 'main', 'Main', is_default => true);
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-proutes-game', 'TAP', 'tap-proutes-secret-0123456789abcdef0123456', player_rate_per_minute => 40) IS NOT NULL;

-- one signed call: 'status answer' or 'SQLSTATE message'
CREATE FUNCTION pg_temp.call(route text, method text, path text, body bytea, id bigint DEFAULT NULL,
	args jsonb DEFAULT '{}', hdr jsonb DEFAULT '{}')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ts text := extract(epoch FROM clock_timestamp())::bigint::text;
	n text := 'n-' || md5(random()::text);
	sig text := encode(hmac(convert_to(method || E'\n' || path || E'\n' || ts || E'\n' || n || E'\n'
		|| encode(digest(body, 'sha256'), 'hex'), 'UTF8'),
		convert_to('tap-proutes-secret-0123456789abcdef0123456', 'UTF8'), 'sha256'), 'hex');
	r record;
BEGIN
	r := helpdesk.player_call(route, method, path, jsonb_build_object('x-hd-app', 'tap-proutes-game',
		'x-hd-timestamp', ts, 'x-hd-nonce', n, 'x-hd-signature', sig) || hdr, body, id, args);
	RETURN r.status || ' ' || r.answer::text;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.j(route text, body text, id bigint DEFAULT NULL, args jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT CASE WHEN r ~ '^[0-9]{3} ' THEN substr(r, 5)::jsonb ELSE jsonb_build_object('failed', r) END
	FROM pg_temp.call(route, 'POST', '/p', convert_to(body, 'UTF8'), id, args) r
$$;

-- ws-token: the customer from the body, a token of the clamped ttl
SELECT * INTO TEMP w1 FROM pg_temp.j('ws-token', '{"player_id": "pa", "name": "Ann", "vip_level": 3, "ttl": 5}') a;
SELECT is((SELECT (a ->> 'customer_id')::bigint FROM w1 a),
	(SELECT id FROM helpdesk.customer WHERE tenant_id = pg_temp.fx('t') AND external_id = 'pa'), 'ws-token upserts the player');
SELECT is((SELECT vip_level::integer FROM helpdesk.customer WHERE tenant_id = pg_temp.fx('t') AND external_id = 'pa'), 3, 'with the body''s fields');
SELECT ok((SELECT abs(extract(epoch FROM (a ->> 'expires_at')::timestamptz - now()) - 60) < 1
	FROM pg_temp.j('ws-token', '{"player_id": "pa", "ttl": 5}') a), 'a ttl under 60 s is 60 s');
SELECT ok((SELECT helpdesk.verify_token(a ->> 'token')::text LIKE '%customer%' FROM pg_temp.j('ws-token', '{"player_id": "pa"}') a), 'the token is a customer''s');
SELECT alike(pg_temp.call('ws-token', 'POST', '/p', convert_to('{"player_id": "pa", "ttl": "soon"}', 'UTF8')), '22P02 %', 'a ttl that is no integer');

-- sessions
SELECT * INTO TEMP s1 FROM pg_temp.j('session-start', '{"player_id": "pa", "message": "hello", "client_msg_id": "c1"}') a;
INSERT INTO fx SELECT 's', (a ->> 'session_id')::bigint FROM s1 a;
SELECT is((SELECT a ->> 'created' FROM s1 a), 'true', 'session-start creates one');
SELECT is(left(pg_temp.call('session-start', 'POST', '/p', convert_to('{"player_id": "pa"}', 'UTF8')), 4), '200 ', 'and returns the open one with 200');
SELECT is(left(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pa", "text": "second"}', 'UTF8'), pg_temp.fx('s')), 4), '201 ', 'a message');
SELECT is((SELECT jsonb_array_length(a -> 'messages') FROM pg_temp.j('session-get', '', pg_temp.fx('s'), '{"player_id": "pa", "limit": 1}') a), 1, 'session-get pages by limit');
SELECT is((SELECT (a ->> 'next_after')::bigint = (a -> 'messages' -> 0 ->> 'id')::bigint FROM pg_temp.j('session-get', '', pg_temp.fx('s'), '{"player_id": "pa", "limit": 1}') a), true, 'next_after is the last id of the page');
SELECT is((SELECT jsonb_array_length(a -> 'messages') FROM pg_temp.j('session-get', '', pg_temp.fx('s'),
	jsonb_build_object('player_id', 'pa', 'after', (SELECT min(id) FROM helpdesk.session_messages(pg_temp.fx('t'), pg_temp.fx('s'))))) a),
	(SELECT count(*)::integer - 1 FROM helpdesk.session_messages(pg_temp.fx('t'), pg_temp.fx('s'))), 'after skips the page before');
SELECT is((SELECT a -> 'session' ->> 'state' FROM pg_temp.j('session-get', '', pg_temp.fx('s'), '{"player_id": "pa"}') a),
	(SELECT state FROM helpdesk.session WHERE id = pg_temp.fx('s')), 'the session''s state');
SELECT is((SELECT a ->> 'next_after' FROM pg_temp.j('session-get', '', pg_temp.fx('s'), '{"player_id": "pa", "after": 999999999}') a), NULL, 'an empty page has no next_after');
SELECT alike(pg_temp.call('session-get', 'GET', '/p', '', pg_temp.fx('s'), '{"player_id": "pa", "limit": "x"}'), '22P02 %', 'a limit that is no integer');
SELECT is(pg_temp.call('session-get', 'GET', '/p', '', pg_temp.fx('s'), '{"player_id": "nobody"}'), 'HD404 no player nobody in this tenant', 'an unknown player may not read');
SELECT alike(pg_temp.call('session-get', 'GET', '/p', '', pg_temp.fx('s'), jsonb_build_object('player_id', repeat('q', 150))),
	'HD404 no player qqqq%... (150 characters) in this tenant', 'a long player id is clipped in the message');
SELECT is(pg_temp.call('ws-token', 'POST', '/p', convert_to('{"player_id": "pb"}', 'UTF8')) LIKE '200 %', true, 'a second player');
SELECT is(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pb", "text": "x"}', 'UTF8'), pg_temp.fx('s')),
	format('HD404 session %s is not one of this player''s', pg_temp.fx('s')), 'may not post to another''s session');

-- the body and player_id
SELECT is(pg_temp.call('session-start', 'POST', '/p', convert_to('[1, 2]', 'UTF8')), '22023 the body must be a JSON object', 'a body that is no object');
SELECT alike(pg_temp.call('session-start', 'POST', '/p', convert_to('{"player_id": ', 'UTF8')), '22P02 %', 'a body that is no JSON');
SELECT alike(pg_temp.call('session-start', 'POST', '/p', '\xff7b7d'::bytea), '22021 %', 'a body that is no UTF-8');
SELECT is(pg_temp.call('session-start', 'POST', '/p', convert_to(jsonb_build_object('player_id', repeat('é', 201))::text, 'UTF8')),
	'22023 player_id (1 to 200 characters) is required, in the body or the query', 'a player_id over 200 characters');
SELECT is(pg_temp.call('session-start', 'POST', '/p', convert_to('{"player_id": ""}', 'UTF8')),
	'22023 player_id (1 to 200 characters) is required, in the body or the query', 'an empty player_id');
SELECT is(left(pg_temp.call('session-start', 'POST', '/p', convert_to('{"player_id": "pb"}', 'UTF8'), args => '{"player_id": "pa"}'), 4), '200 ',
	'the query''s player_id wins over the body''s (pa has a session open)');
SELECT is(pg_temp.call('nonsense', 'POST', '/p', convert_to('{"player_id": "pa"}', 'UTF8')), '22023 unknown player route nonsense', 'an unknown route');
SELECT alike(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pa"}', 'UTF8'), pg_temp.fx('s'), hdr => '{"x-hd-signature": "00"}'), 'HDA0%', 'a bad signature raises');

-- uploads and attachments
SELECT * INTO TEMP up FROM pg_temp.call('upload', 'POST', '/p', decode('89504e470d0a1a0a', 'hex') || gen_random_bytes(100),
	args => '{"player_id": "pc", "name": "shot.png"}') r;
SELECT alike((SELECT r FROM up), '201 %', 'a player upload, for a new player');
INSERT INTO fx SELECT 'u', (substr(r, 5)::jsonb ->> 'id')::bigint FROM up;
SELECT is((SELECT substr(r, 5)::jsonb ->> 'mime' FROM up), 'image/png', 'sniffed');
SELECT is((SELECT a ->> 'message_id' IS NOT NULL FROM pg_temp.j('message', format('{"player_id": "pa", "type": "image", "text": "", "attachment": {"upload_id": %s}}', pg_temp.fx('u')),
	pg_temp.fx('s'), '{"_base_url": "https://b.example"}') a), true, 'a message naming the upload');
SELECT is((SELECT attachment FROM helpdesk.message WHERE session_id = pg_temp.fx('s') AND type = 'image'),
	jsonb_build_object('upload_id', pg_temp.fx('u'), 'url', 'https://b.example/api/v1/uploads/' || pg_temp.fx('u'), 'name', 'shot.png', 'mime', 'image/png', 'size', 108),
	'its attachment completed from the upload');
SELECT is(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pa", "type": "image", "text": "", "attachment": {"upload_id": 999999999}}', 'UTF8'), pg_temp.fx('s')),
	format('HD404 upload 999999999 does not exist in tenant %s', pg_temp.fx('t')), 'an upload that is not there');
SELECT is(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pa", "attachment": {"upload_id": "1"}}', 'UTF8'), pg_temp.fx('s')),
	'22023 attachment.upload_id must be a number', 'an upload_id that is no number');
SELECT alike(pg_temp.call('message', 'POST', '/p', convert_to('{"player_id": "pa", "attachment": {"upload_id": 1.5}}', 'UTF8'), pg_temp.fx('s')),
	'22P02 %', 'an upload_id that is no integer');
SELECT is(helpdesk._upload_attachment(pg_temp.fx('t'), '{"kind": "link"}', NULL), '{"kind": "link"}'::jsonb, 'an attachment naming no upload is unchanged');
SELECT is(helpdesk._upload_attachment(pg_temp.fx('t'), NULL, 'x'), NULL, 'a NULL attachment is NULL');
SELECT throws_ok(format('SELECT helpdesk._upload_attachment(%s, ''{"upload_id": %s}'', '''')', pg_temp.fx('t2'), pg_temp.fx('u')), 'HD404', NULL, 'not another tenant''s upload');
SELECT throws_ok($$SELECT helpdesk._upload_attachment(NULL, '{}', '')$$, '22004', NULL, '_upload_attachment: a NULL tenant');

-- tickets; prune_uploads keeps an upload only a ticket message references
SELECT * INTO TEMP up2 FROM pg_temp.call('upload', 'POST', '/p', decode('89504e470d0a1a0a', 'hex') || gen_random_bytes(50),
	args => '{"player_id": "pa", "name": "receipt.png"}') r;
INSERT INTO fx SELECT 'u2', (substr(r, 5)::jsonb ->> 'id')::bigint FROM up2;
SELECT * INTO TEMP up3 FROM pg_temp.call('upload', 'POST', '/p', decode('89504e470d0a1a0a', 'hex') || gen_random_bytes(50),
	args => '{"player_id": "pa", "name": "unused.png"}') r;
INSERT INTO fx SELECT 'u3', (substr(r, 5)::jsonb ->> 'id')::bigint FROM up3;
SELECT * INTO TEMP k1 FROM pg_temp.j('ticket-create', '{"player_id": "pa", "subject": "Lost item", "body": "I lost it"}') a;
INSERT INTO fx SELECT 'k', coalesce((a ->> 'ticket_id')::bigint, 0) FROM k1 a;
SELECT is((SELECT a ->> 'failed' FROM k1 a), NULL, 'ticket-create');
SELECT is((SELECT a ->> 'failed' FROM pg_temp.j('ticket-reply', format('{"player_id": "pa", "type": "image", "body": "see file", "attachment": {"upload_id": %s}}',
	pg_temp.fx('u2')), pg_temp.fx('k'), '{"_base_url": "https://b.example"}') a), NULL, 'ticket-reply with an image');
SELECT is((SELECT attachment ->> 'name' FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k') AND attachment IS NOT NULL), 'receipt.png', 'the upload attached to the ticket''s message');
SELECT is((SELECT a -> 'tickets' -> 0 ->> 'subject' FROM pg_temp.j('ticket-list', '', NULL, '{"player_id": "pa"}') a), 'Lost item', 'ticket-list lists the player''s');
SELECT is((SELECT jsonb_array_length(a -> 'tickets') FROM pg_temp.j('ticket-list', '', NULL, '{"player_id": "pb"}') a), 0, 'and not another''s');
SELECT alike(pg_temp.call('ticket-reply', 'POST', '/p', convert_to('{"player_id": "pa", "body": "more"}', 'UTF8'), pg_temp.fx('k')), '201 %', 'ticket-reply');
SELECT is(pg_temp.call('ticket-reply', 'POST', '/p', convert_to('{"player_id": "pb", "body": "x"}', 'UTF8'), pg_temp.fx('k')),
	format('HD404 ticket %s is not one of this player''s', pg_temp.fx('k')), 'may not reply to another''s ticket');
UPDATE helpdesk.upload SET created_at = now() - interval '2 days' WHERE tenant_id = pg_temp.fx('t');
SELECT helpdesk.prune_uploads();
SELECT is((SELECT array_agg(id ORDER BY id) FROM helpdesk.upload WHERE tenant_id = pg_temp.fx('t')),
	ARRAY[pg_temp.fx('u'), pg_temp.fx('u2')], 'prune_uploads keeps the uploads a session or a ticket message references, not the unused one');

-- the tenant check of the upload readers and set_cors_origins
SELECT throws_ok($$SELECT helpdesk.upload_info(999999999, 1)$$, 'HD404', NULL, 'upload_info: an unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upload_chunk(NULL, 1, 0, 10)$$, '22004', NULL, 'upload_chunk: a NULL tenant');
SELECT throws_ok($$SELECT helpdesk.set_cors_origins(999999999, ARRAY['https://a.example'])$$, 'HD404', NULL, 'set_cors_origins: an unknown tenant');

SELECT * FROM finish();
ROLLBACK;
