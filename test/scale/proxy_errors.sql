BEGIN;
SELECT plan(28);

-- pg_helpdesk_proxy's own error paths (extension/proxy/00_directory.sql,
-- 20_tenants.sql), on a proxy database of test/e2e/scale_proxy.sh's proxy
-- cluster that has no node behind it: the partition list and PL/Proxy's
-- configuration API, the directory lookups, tenant placement. Rolled back.

-- PL/Proxy's configuration API
SELECT throws_ok('SELECT plproxy.get_cluster_version(''other'')', '42704', 'unknown PL/Proxy cluster',
	'get_cluster_version of another cluster: 42704');
SELECT throws_ok('SELECT plproxy.get_cluster_partitions(NULL)', '42704', 'unknown PL/Proxy cluster',
	'get_cluster_partitions of a NULL cluster: 42704');
SELECT throws_ok('SELECT * FROM plproxy.get_cluster_config(''other'')', '42704', 'unknown PL/Proxy cluster',
	'get_cluster_config of another cluster: 42704');
SELECT throws_ok('SELECT plproxy.get_cluster_partitions(''helpdesk'')', '55000',
	'helpdesk_proxy.partition has 0 partitions numbered up to -1', 'no partition: 55000 naming the table');

-- set_partition
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(NULL, ''host=a dbname=helpdesk'')', '22023',
	'part must be between 0 and 1023', 'a NULL part: 22023');
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(1024, ''host=a dbname=helpdesk'')', '22023',
	'part must be between 0 and 1023', 'part 1024: 22023');
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(0, ''host=a dbname=helpdesk user=postgres'')', '23514',
	NULL, 'a connstr with user=: refused (PL/Proxy connects as the caller)');
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(0, ''host=a dbname=helpdesk password=x'')', '23514',
	NULL, 'a connstr with password=: refused (every caller can read the list)');
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(0, ''postgresql://u@a/helpdesk'')', '23514',
	NULL, 'a URI connstr: refused');
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(0, ''host=a dbname=helpdesk'', ''http://a/ws'')', '23514',
	NULL, 'a bridge URL that is not ws:// or wss://: refused');
SELECT lives_ok('SELECT helpdesk_proxy.set_partition(0, ''host=a dbname=helpdesk'', ''ws://a/ws'')',
	'partition 0 on node a');
SELECT lives_ok('SELECT helpdesk_proxy.set_partition(1, ''host=b dbname=helpdesk'')', 'partition 1 on node b');
SELECT lives_ok('SELECT helpdesk_proxy.set_partition(2, ''host=b dbname=helpdesk'', accepts_tenants => false)',
	'partition 2 on node b too, not accepting tenants');
SELECT throws_ok('SELECT plproxy.get_cluster_partitions(''helpdesk'')', '55000',
	'helpdesk_proxy.partition has 3 partitions numbered up to 2', 'three partitions: 55000 (a power of two)');
SELECT lives_ok('SELECT helpdesk_proxy.set_partition(3, ''host=b dbname=helpdesk'', accepts_tenants => false)',
	'a fourth partition');
SELECT is((SELECT array_agg(x) FROM plproxy.get_cluster_partitions('helpdesk') x),
	ARRAY['host=a dbname=helpdesk', 'host=b dbname=helpdesk', 'host=b dbname=helpdesk', 'host=b dbname=helpdesk'],
	'four partitions: the connstrs in order');
SELECT is((SELECT array_agg(p ORDER BY p) FROM helpdesk_proxy.node_partitions() p), ARRAY[0, 1],
	'node_partitions: one partition per node');
SELECT is(helpdesk_proxy._node_of(3), 1, 'partition 3''s node is named by partition 1');

-- the directory
INSERT INTO helpdesk_proxy.tenant_directory (tenant_id, slug, part) VALUES (5, 'game-5', 1);
SELECT throws_ok('SELECT helpdesk_proxy.set_partition(1, ''host=c dbname=helpdesk'')', '55000',
	'partition 1 holds 1 tenants and stays on its node', 'a partition that holds tenants keeps its node: 55000');
SELECT lives_ok('SELECT helpdesk_proxy.set_partition(1, ''host=c dbname=helpdesk'', force => true)',
	'unless force (the node itself moved)');
SELECT throws_ok('SELECT helpdesk_proxy.tenant_partition(987654321)', 'HD404', 'tenant 987654321 does not exist',
	'tenant_partition of an unknown tenant: HD404, as a node says');
SELECT is(helpdesk_proxy.tenant_partition(NULL), 0, 'tenant_partition of NULL: partition 0 (its node''s answer is every node''s)');
SELECT throws_ok('SELECT helpdesk_proxy.tenant_bridge(987654321)', 'HD404', 'tenant 987654321 does not exist',
	'tenant_bridge of an unknown tenant: HD404');
SELECT is(helpdesk_proxy.login_partition('no-such-slug'), 0, 'login_partition of an unknown slug: 0 (refused there as on a node)');

-- placement
SELECT throws_ok('SELECT helpdesk_proxy._placement(''game-9'', NULL, 9)', '22023',
	'partition 9 does not exist', 'placing a new tenant on an unknown partition: 22023');
SELECT throws_ok('SELECT helpdesk_proxy.upsert_tenant_on(0, ''game-5'', ''Game 5'')', '55000',
	'tenant game-5 lives on partition 1, not 0', 'upserting a tenant on another node than its own: 55000, no node called');
SELECT throws_ok('SELECT helpdesk_proxy.upsert_tenant_on(0, repeat(''x'', 64), ''Long'')', '22023',
	'slug must be given and at most 63 characters long', 'a slug too long: 22023 before any node is called');
UPDATE helpdesk_proxy.partition SET accepts_tenants = false;
SELECT throws_ok('SELECT helpdesk_proxy.choose_partition()', '55000', 'no partition accepts new tenants',
	'no accepting partition: 55000');

SELECT * FROM finish();
ROLLBACK;
