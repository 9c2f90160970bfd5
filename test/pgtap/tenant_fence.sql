BEGIN;
SELECT plan(33);

-- The tenant fence of a move between nodes (set_tenant_fence, the check in
-- the tenant access path; scripts/move-tenant, test/e2e/scale_move.sh).

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-fence-a', 'TAP fence A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-fence-b', 'TAP fence B');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('ta'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('ta'), 'cust-1');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'cust-1');

-- error paths
SELECT throws_ok('SELECT helpdesk.set_tenant_fence(987654321, ''fenced'')', 'HD404',
	'tenant 987654321 does not exist', 'fencing an unknown tenant: HD404');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''frozen'')', pg_temp.fx('ta')), '22023',
	NULL, 'an unknown state: 22023');
SELECT throws_ok('SELECT helpdesk.set_tenant_fence(NULL, ''fenced'')', '22004',
	NULL, 'a NULL tenant: 22004');
CREATE ROLE tap_fence_admin IN ROLE helpdesk_admin;
SELECT helpdesk.grant_tenant('tap_fence_admin', pg_temp.fx('ta'));
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb \gset
SET LOCAL ROLE tap_fence_admin;
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''fenced'')', :ta), '42501',
	'role tap_fence_admin may not act for every tenant', 'an admin of one tenant may not fence it: it needs every tenant');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''fenced'')', :tb), '42501',
	format('role tap_fence_admin may not act for tenant %s', :tb), 'nor another tenant');
RESET ROLE;

-- fenced: the tenant's calls are refused, reads too, the other tenant's served
SELECT is(helpdesk.set_tenant_fence(pg_temp.fx('ta'), 'fenced'), NULL, 'fence: no state before');
-- the workers' filter (HD_PLACED) sees the fence at the next command
SELECT ok(NOT helpdesk._tenant_placed(pg_temp.fx('ta')), 'the workers'' filter leaves a fenced tenant out');
SELECT ok(helpdesk._tenant_placed(pg_temp.fx('tb')), 'and keeps the other tenant');
SELECT throws_ok(format('SELECT helpdesk.start_session(%s, %s)', pg_temp.fx('ta'), pg_temp.fx('c')), '55000',
	format('tenant %s is being moved to another node', pg_temp.fx('ta')), 'a fenced tenant''s write: 55000');
SELECT throws_ok(format('SELECT count(*) FROM helpdesk.list_tickets(%s)', pg_temp.fx('ta')), '55000',
	NULL, 'a fenced tenant''s read: 55000');
SELECT lives_ok(format('SELECT helpdesk.start_session(%s, %s)', pg_temp.fx('tb'), pg_temp.fx('cb')),
	'the other tenant is served');
SELECT helpdesk.set_tenant_fence(pg_temp.fx('tb'), 'fenced');
SET LOCAL ROLE tap_fence_admin;
SELECT throws_ok(format('SELECT helpdesk.upsert_queue(%s, ''x'', ''X'')', :ta), '55000',
	NULL, 'a bound role gets 55000 too');
SELECT is((SELECT array_agg(tenant_id) FROM helpdesk.tenant_fence), ARRAY[:ta]::bigint[],
	'row level security: a role bound to A sees A''s fence, not B''s');
RESET ROLE;
SELECT helpdesk.set_tenant_fence(pg_temp.fx('tb'), NULL);

-- called off: served again
SELECT is(helpdesk.set_tenant_fence(pg_temp.fx('ta'), NULL), 'fenced', 'calling off returns the previous state');
SELECT lives_ok(format('SELECT helpdesk.start_session(%s, %s)', pg_temp.fx('ta'), pg_temp.fx('c')),
	'served again after the fence is lifted');

-- moved out: refused with its own message, and it cannot be called off
SELECT helpdesk.set_tenant_fence(pg_temp.fx('ta'), 'fenced');
SELECT is(helpdesk.set_tenant_fence(pg_temp.fx('ta'), 'moved_out'), 'fenced', 'moved_out after fenced');
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''cust-2'')', pg_temp.fx('ta')), '55000',
	format('tenant %s has moved to another node', pg_temp.fx('ta')), 'a moved-out tenant: 55000 "moved"');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, NULL)', pg_temp.fx('ta')), '55000',
	NULL, 'a move that switched cannot be called off');

-- incoming (a move's target): only for a tenant not on this node; it is
-- refused with its own message, never turns into fenced, and is lifted by NULL
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''incoming'')', pg_temp.fx('tb')), '55000',
	format('tenant %s is on this node already', pg_temp.fx('tb')), 'incoming for a tenant on this node: 55000');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''incoming'')', pg_temp.fx('ta')), '55000',
	format('tenant %s is on this node already', pg_temp.fx('ta')), 'incoming while its moved-out rows are still here: 55000');
SELECT helpdesk.set_tenant_fence(pg_temp.fx('tb'), 'fenced');
SELECT throws_ok(format('SELECT helpdesk.set_tenant_fence(%s, ''incoming'')', pg_temp.fx('tb')), '55000',
	format('tenant %s is being moved away from this node', pg_temp.fx('tb')), 'a fenced tenant cannot become incoming');
SELECT helpdesk.set_tenant_fence(pg_temp.fx('tb'), NULL);
-- a tenant arriving: its id is known, its rows are not here yet
SELECT is(helpdesk.set_tenant_fence(987654320, 'incoming'), NULL, 'incoming for a tenant not on this node');
SELECT ok(NOT helpdesk._tenant_placed(987654320), 'the workers'' filter leaves an incoming tenant out');
INSERT INTO helpdesk.tenant (id, slug, name) VALUES (987654320, 'tap-fence-incoming', 'TAP incoming');
SELECT throws_ok('SELECT helpdesk.upsert_customer(987654320, ''cust-1'')', '55000',
	'tenant 987654320 is being moved to this node', 'an incoming tenant''s calls: 55000 "moved to this node"');
SELECT throws_ok('SELECT helpdesk.set_tenant_fence(987654320, ''fenced'')', '55000',
	'tenant 987654320 is being moved to this node', 'an incoming tenant cannot be fenced');
SELECT throws_ok('SELECT helpdesk.set_tenant_fence(987654320, ''moved_out'')', '55000',
	NULL, 'nor marked moved out');
SELECT is(helpdesk.set_tenant_fence(987654320, NULL), 'incoming', 'the switch lifts the incoming fence');
SELECT ok(helpdesk._tenant_placed(987654320), 'and takes it in once the fence is lifted');

-- the planner takes the filter to keep every row: with a filter estimated
-- from the tenant column (one tenant: n_distinct 1) a min() over a due-time
-- index became a sequential scan of every active session
CREATE FUNCTION pg_temp.plan_rows(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
	RETURN (j -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;
SELECT is(pg_temp.plan_rows('SELECT * FROM helpdesk.session s WHERE s.state = ''active'' AND helpdesk._tenant_placed(s.tenant_id)'),
	pg_temp.plan_rows('SELECT * FROM helpdesk.session s WHERE s.state = ''active'''),
	'_tenant_placed''s planner support: a selectivity of 1');

-- the announcement of a move: one tenant.moved to each customer with an open
-- session and each enabled agent, with the new bridge and position
INSERT INTO fx SELECT 'ab', helpdesk.upsert_agent(pg_temp.fx('tb'), 'agent-b', 'Agent B');
SELECT throws_ok(format('SELECT helpdesk._announce_tenant_move(%s, NULL, NULL)', pg_temp.fx('tb')), '22004',
	NULL, 'announce without a position: 22004');
SELECT throws_ok(format('SELECT helpdesk._announce_tenant_move(%s, %L, 1)', pg_temp.fx('tb'), repeat('x', 501)), '22023',
	NULL, 'announce with a bridge URL over 500 bytes: 22023');
SELECT is(helpdesk._announce_tenant_move(pg_temp.fx('tb'), 'ws://node-b.example:8090/ws', 42), 2,
	'announce: one event for the customer with an open session, one for the agent');
SELECT is((SELECT array_agg(audience || ':' || (payload ->> 'position') || ':' || (payload ->> 'bridge_url') ORDER BY audience)
	FROM helpdesk.event WHERE tenant_id = pg_temp.fx('tb') AND type = 'tenant.moved'),
	ARRAY['agent:42:ws://node-b.example:8090/ws', 'customer:42:ws://node-b.example:8090/ws'],
	'tenant.moved carries the position and the bridge URL, to the customer and the agent');

SELECT * FROM finish();
ROLLBACK;
