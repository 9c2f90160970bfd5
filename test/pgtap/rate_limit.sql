BEGIN;
SELECT plan(16);

-- rate_limit_hit: per player and per app over a sliding minute, counted in
-- helpdesk.api_rate.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-rate', 'TAP rate limits');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-rate-2', 'TAP rate limits 2');
SELECT helpdesk.upsert_app(pg_temp.fx('t'), 'tap-rate-app', 'Rate', rate_per_minute => 5, player_rate_per_minute => 3) IS NOT NULL;

SELECT is((SELECT array_agg(allowed ORDER BY g) FROM generate_series(1, 4) g,
	LATERAL helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p1' || left(g::text, 0))),	-- one call per row
	'{t,t,t,f}', 'three per minute for a player, the fourth refused');
SELECT is((SELECT scope FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p1')), 'player', 'refused by the player''s limit');
-- 3 hits this minute, limit 3: the next passes once they weigh 2 or less, 20 s into the next minute
SELECT ok((SELECT abs(extract(epoch FROM retry_after) - (80 - extract(epoch FROM clock_timestamp())::numeric % 60)) <= 1.01
	FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p1')),
	'retry_after: until the sliding minute has room (20 s into the next minute)');
SELECT is((SELECT hits FROM helpdesk.api_rate WHERE scope = 'player' AND key = 'p1'), 3, 'refused requests are not counted');
SELECT is((SELECT (allowed, scope)::text FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p2')), '(t,)', 'another player passes');
SELECT is((SELECT (allowed, scope)::text FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app')), '(t,)', 'a call without a player counts for the app only');
SELECT is((SELECT (allowed, scope)::text FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p3')), '(f,app)', 'the app''s 5 per minute are used up');
SELECT is((SELECT count(*) FROM helpdesk.api_rate WHERE key = 'p3' AND hits > 0), 0::bigint, 'a player refused by the app limit is not counted');

-- the sliding window: last minute's hits weigh by how much of it is still within 60 s
UPDATE helpdesk.api_rate SET window_start = window_start - 60 WHERE app_id = 'tap-rate-app';
SELECT ok((SELECT allowed = (extract(epoch FROM clock_timestamp())::numeric % 60 > 20) FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p1')),
	'a player with 3 hits a minute ago: allowed once more than a third of this minute has passed');
UPDATE helpdesk.api_rate SET window_start = window_start - 120, hits = 3 WHERE app_id = 'tap-rate-app';
SELECT is((SELECT allowed FROM helpdesk.rate_limit_hit(pg_temp.fx('t'), 'tap-rate-app', 'p1')), true, 'hits older than two minutes do not count');
SELECT is((SELECT (hits, prev_hits)::text FROM helpdesk.api_rate WHERE key = 'p1'), '(1,0)', 'the counter moved to this minute');

-- errors
SELECT throws_ok(format('SELECT helpdesk.rate_limit_hit(%s, ''tap-rate-app'', ''p'')', pg_temp.fx('t2')), 'HDA04', NULL, 'another tenant''s app');
SELECT throws_ok(format('SELECT helpdesk.rate_limit_hit(%s, ''nope'')', pg_temp.fx('t')), 'HDA04', NULL, 'an unknown app');
SELECT throws_ok(format('SELECT helpdesk.rate_limit_hit(%s, NULL)', pg_temp.fx('t')), '22004', 'app_id must not be NULL', 'NULL app');
SELECT throws_ok(format('SELECT helpdesk.rate_limit_hit(%s, ''tap-rate-app'', %L)', pg_temp.fx('t'), repeat('p', 201)), '22023', NULL, 'a player id too long');
SELECT helpdesk.revoke_app(pg_temp.fx('t'), 'tap-rate-app');
SELECT throws_ok(format('SELECT helpdesk.rate_limit_hit(%s, ''tap-rate-app'')', pg_temp.fx('t')), 'HDA04', NULL, 'a revoked app');

SELECT * FROM finish();
ROLLBACK;
