BEGIN;
SELECT plan(84);

-- Every error path of the webhook SQL API (http_webhook_api.c) and of the
-- secrets' key file (http_crypt.c), with its SQLSTATE: 22004 NULL argument,
-- 22023 invalid value, HD404 not found (another tenant's ids included),
-- HD409 being sent, HD416 pruned position, 55000 disabled endpoint or no
-- key file, 58P01 missing key file, F0000 malformed key file, XX001 a secret
-- that does not open under the key.

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-wh-a', 'TAP webhooks A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-wh-b', 'TAP webhooks B');
-- unreachable on purpose: the worker's attempts fail and are retried later
INSERT INTO fx SELECT 'wa', helpdesk.upsert_webhook(pg_temp.fx('ta'), 'a', 'http://192.0.2.1/hook', '{message.created}',
	retry_schedule => '{1 day}');
INSERT INTO fx SELECT 'wb', helpdesk.upsert_webhook(pg_temp.fx('tb'), 'b', 'https://example.invalid/hook', '{session.*}');

-- upsert_webhook: NULLs
SELECT throws_ok($$SELECT helpdesk.upsert_webhook(NULL, 'x', 'http://a.example/', '{*}')$$, '22004', NULL, 'upsert_webhook: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_webhook(1, NULL, 'http://a.example/', '{*}')$$, '22004', NULL, 'upsert_webhook: NULL external_id');
SELECT throws_ok($$SELECT helpdesk.upsert_webhook(1, 'x', NULL, '{*}')$$, '22004', NULL, 'upsert_webhook: NULL url');
SELECT throws_ok($$SELECT helpdesk.upsert_webhook(1, 'x', 'http://a.example/', NULL)$$, '22004', NULL, 'upsert_webhook: NULL events');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', enabled => NULL)$$, pg_temp.fx('ta')),
	'22004', 'enabled must not be NULL', 'upsert_webhook: NULL enabled');
-- unknown tenant
SELECT throws_ok($$SELECT helpdesk.upsert_webhook(-1, 'x', 'http://a.example/', '{*}')$$, 'HD404', NULL, 'upsert_webhook: unknown tenant');
-- external_id, url
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, '', 'http://a.example/', '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: empty external_id');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, repeat('x', 201), 'http://a.example/', '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: external_id too long');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'ftp://a.example/', '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: not http(s)');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://', '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: no host');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://exa mple/', '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: unparsable url');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/' || repeat('p', 2040), '{*}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: url too long');
-- events
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: no events');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{NULL}')$$, pg_temp.fx('ta')), '22023', 'events must not contain NULL', 'upsert_webhook: NULL event');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{"Bad Type"}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: bad event name');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{session.}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: trailing dot');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*.x}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: star not at the end');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', (SELECT array_agg('e' || g) FROM generate_series(1, 65) g))$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: 65 filters');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{{a,b},{c,d}}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: 2-D events');
-- secret
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', 'abc')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: secret without whsec_');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', 'whsec_' || encode(decode(repeat('ef', 16), 'hex'), 'base64'))$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: 16-byte secret');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', 'whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: secret not base64');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', 'whsec_' || encode(decode(repeat('ab', 65), 'hex'), 'base64'))$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: 65-byte secret');
-- retry_schedule
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', retry_schedule => '{}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: empty schedule');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', retry_schedule => '{NULL}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: NULL delay');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', retry_schedule => '{-1s}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: negative delay');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', retry_schedule => '{8 days}')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: delay over 7 days');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', retry_schedule => (SELECT array_agg('1s'::interval) FROM generate_series(1, 21)))$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: 21 delays');
-- the trailing settings
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', description => repeat('d', 1001))$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: description too long');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', max_in_flight => 0)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: max_in_flight 0');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', timeout => '50 ms')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: timeout under 1 s');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', timeout => '2 minutes')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: timeout over 60 s');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 0)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_limit 0');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => -5)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: negative rate_limit');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 'NaN')$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_limit NaN');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 100001)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_limit over 100000/s');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 10, rate_burst => 0)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_burst 0');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 10, rate_burst => 100001)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_burst over 100000');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_burst => 5)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_burst without a rate_limit');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'x', 'http://a.example/', '{*}', rate_limit => 'infinity', rate_burst => 5)$$, pg_temp.fx('ta')), '22023', NULL, 'upsert_webhook: rate_burst with no limit');
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'b', 'https://example.invalid/hook', '{session.*}', rate_burst => 5)$$, pg_temp.fx('tb')), '22023', NULL, 'upsert_webhook: rate_burst on an endpoint without a rate_limit');
SELECT is((SELECT count(*) FROM helpdesk.webhook WHERE external_id = 'x'), 0::bigint, 'no failed call left a webhook');

-- the rate limit: set, kept by NULL, burst defaults to the rate rounded up, infinity removes it
SELECT lives_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'b', 'https://example.invalid/hook', '{session.*}', rate_limit => 2.5)$$, pg_temp.fx('tb')), 'rate_limit 2.5/s');
SELECT is((SELECT (rate_limit, rate_burst)::text FROM helpdesk.webhook WHERE id = pg_temp.fx('wb')), '(2.5,)', 'rate_limit stored, burst left to its default');
SELECT lives_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'b', 'https://example.invalid/hook', '{session.*}', rate_burst => 10)$$, pg_temp.fx('tb')), 'rate_burst alone on a limited endpoint');
SELECT is((SELECT (rate_limit, rate_burst)::text FROM helpdesk.webhook WHERE id = pg_temp.fx('wb')), '(2.5,10)', 'a NULL rate_limit keeps the rate');
SELECT lives_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'b', 'https://example.invalid/hook', '{session.*}', rate_limit => 'infinity')$$, pg_temp.fx('tb')), 'rate_limit infinity');
SELECT is((SELECT (rate_limit, rate_burst)::text FROM helpdesk.webhook WHERE id = pg_temp.fx('wb')), '(,)', 'infinity: no limit, no burst');

-- what succeeds: idempotent by external id, a generated secret, rotation
SELECT is(helpdesk.upsert_webhook(pg_temp.fx('ta'), 'a', 'http://192.0.2.1/hook', '{message.created}'), pg_temp.fx('wa'), 'upsert_webhook: same external id, same webhook');
SELECT matches(helpdesk.webhook_secret(pg_temp.fx('ta'), pg_temp.fx('wa')), '^whsec_[A-Za-z0-9+/]{43}=$', 'generated secret: whsec_ + base64 of 32 bytes');
SELECT is((SELECT retry_schedule FROM helpdesk.webhook WHERE id = pg_temp.fx('wa')), '{1 day}'::interval[], 'a NULL schedule keeps the endpoint''s');
SELECT isnt((SELECT secret FROM helpdesk.webhook WHERE id = pg_temp.fx('wa'))::text,
	convert_to(helpdesk.webhook_secret(pg_temp.fx('ta'), pg_temp.fx('wa')), 'UTF8')::text, 'the stored secret is not the plain one');
INSERT INTO fx SELECT 'sec_old_len', length(helpdesk.webhook_secret(pg_temp.fx('ta'), pg_temp.fx('wa')));
SELECT lives_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'a', 'http://192.0.2.1/hook', '{message.created}', 'whsec_' || encode(decode(repeat('cd', 24), 'hex'), 'base64'))$$, pg_temp.fx('ta')), 'rotate to a 24-byte secret');
SELECT is(helpdesk.webhook_secret(pg_temp.fx('ta'), pg_temp.fx('wa')), 'whsec_' || encode(decode(repeat('cd', 24), 'hex'), 'base64'), 'webhook_secret: the new secret');
SELECT ok((SELECT previous_secret IS NOT NULL AND previous_until > now() + interval '23 hours' FROM helpdesk.webhook WHERE id = pg_temp.fx('wa')), 'the old secret stays active for 24 hours');

-- webhook_secret
SELECT throws_ok($$SELECT helpdesk.webhook_secret(NULL, 1)$$, '22004', NULL, 'webhook_secret: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.webhook_secret(1, NULL)$$, '22004', NULL, 'webhook_secret: NULL webhook_id');
SELECT throws_ok($$SELECT helpdesk.webhook_secret(-1, 1)$$, 'HD404', NULL, 'webhook_secret: unknown tenant');
SELECT throws_ok(format($$SELECT helpdesk.webhook_secret(%s, -1)$$, pg_temp.fx('ta')), 'HD404', NULL, 'webhook_secret: unknown webhook');
SELECT throws_ok(format($$SELECT helpdesk.webhook_secret(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('wb')), 'HD404', NULL, 'webhook_secret: another tenant''s webhook');

-- redeliver (deliveries made by hand: the worker's feed is asynchronous)
INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, state, finished_at, next_at)
VALUES (pg_temp.fx('ta'), pg_temp.fx('wa'), 1, 'msg_1_x', 'message.created', '{}', 'dead', now(), NULL);
INSERT INTO fx SELECT 'd_dead', max(id) FROM helpdesk.webhook_delivery WHERE msg_id = 'msg_1_x';
INSERT INTO helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos, msg_id, event_type, body, state, next_at)
VALUES (pg_temp.fx('ta'), pg_temp.fx('wa'), 2, 'msg_2_x', 'message.created', '{}', 'sending', NULL);
INSERT INTO fx SELECT 'd_sending', max(id) FROM helpdesk.webhook_delivery WHERE msg_id = 'msg_2_x';
SELECT throws_ok($$SELECT helpdesk.redeliver(NULL, 1)$$, '22004', NULL, 'redeliver: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.redeliver(1, NULL)$$, '22004', NULL, 'redeliver: NULL delivery_id');
SELECT throws_ok($$SELECT helpdesk.redeliver(-1, 1)$$, 'HD404', NULL, 'redeliver: unknown tenant');
SELECT throws_ok(format($$SELECT helpdesk.redeliver(%s, %s)$$, pg_temp.fx('tb'), pg_temp.fx('d_dead')), 'HD404', NULL, 'redeliver: another tenant''s delivery');
SELECT throws_ok(format($$SELECT helpdesk.redeliver(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('d_sending')), 'HD409', NULL, 'redeliver: being sent');
SELECT is(helpdesk.redeliver(pg_temp.fx('ta'), pg_temp.fx('d_dead')), pg_temp.fx('d_dead'), 'redeliver: a dead delivery is pending again');
SELECT is((SELECT state || ':' || step FROM helpdesk.webhook_delivery WHERE id = pg_temp.fx('d_dead')), 'pending:1', 'redeliver: from the first step');

-- replay_webhooks
SELECT throws_ok($$SELECT helpdesk.replay_webhooks(NULL, 1, 0)$$, '22004', NULL, 'replay_webhooks: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.replay_webhooks(1, NULL, 0)$$, '22004', NULL, 'replay_webhooks: NULL endpoint_id');
SELECT throws_ok($$SELECT helpdesk.replay_webhooks(1, 1, NULL)$$, '22004', NULL, 'replay_webhooks: NULL from_position');
SELECT throws_ok(format($$SELECT helpdesk.replay_webhooks(%s, %s, -1)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), '22023', NULL, 'replay_webhooks: negative position');
SELECT throws_ok(format($$SELECT helpdesk.replay_webhooks(%s, %s, 0)$$, pg_temp.fx('ta'), pg_temp.fx('wb')), 'HD404', NULL, 'replay_webhooks: another tenant''s webhook');
SELECT throws_ok($$SELECT helpdesk.replay_webhooks(-1, 1, 0)$$, 'HD404', NULL, 'replay_webhooks: unknown tenant');

-- disabled endpoint: redeliver and replay refuse; disabling dead-letters the pending delivery
SELECT lives_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'a', 'http://192.0.2.1/hook', '{message.created}', enabled => false)$$, pg_temp.fx('ta')), 'disable');
SELECT is((SELECT state FROM helpdesk.webhook_delivery WHERE id = pg_temp.fx('d_dead')), 'dead', 'disabling dead-letters pending deliveries');
SELECT throws_ok(format($$SELECT helpdesk.redeliver(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('d_dead')), '55000', NULL, 'redeliver: disabled webhook');
SELECT throws_ok(format($$SELECT helpdesk.replay_webhooks(%s, %s, 0)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), '55000', NULL, 'replay_webhooks: disabled webhook');

-- prune_webhook_deliveries
SELECT throws_ok($$SELECT helpdesk.prune_webhook_deliveries(NULL)$$, '22004', NULL, 'prune_webhook_deliveries: NULL keep');
SELECT throws_ok($$SELECT helpdesk.prune_webhook_deliveries('-1 day')$$, '22023', NULL, 'prune_webhook_deliveries: negative keep');

-- the key file: unset, missing, malformed, another key
SET helpdesk.encryption_key_file = '';
SELECT throws_ok(format($$SELECT helpdesk.webhook_secret(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), '55000', NULL, 'no key file set');
SET helpdesk.encryption_key_file = '/nonexistent/pg_helpdesk.key';
SELECT throws_ok(format($$SELECT helpdesk.upsert_webhook(%s, 'k', 'http://a.example/', '{*}')$$, pg_temp.fx('ta')), '58P01', NULL, 'missing key file');
COPY (SELECT 'not a key') TO '/tmp/pg_helpdesk_tap_bad.key';
SET helpdesk.encryption_key_file = '/tmp/pg_helpdesk_tap_bad.key';
SELECT throws_ok(format($$SELECT helpdesk.webhook_secret(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), 'F0000', NULL, 'malformed key file');
COPY (SELECT repeat('ab', 32)) TO '/tmp/pg_helpdesk_tap_other.key';
SET helpdesk.encryption_key_file = '/tmp/pg_helpdesk_tap_other.key';
SELECT throws_ok(format($$SELECT helpdesk.webhook_secret(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), 'XX001', NULL, 'a secret sealed under another key');
RESET helpdesk.encryption_key_file;
SELECT lives_ok(format($$SELECT helpdesk.webhook_secret(%s, %s)$$, pg_temp.fx('ta'), pg_temp.fx('wa')), 'the configured key opens it again');

SELECT * FROM finish();
ROLLBACK;
