BEGIN;
SELECT * FROM no_plan();

-- grant_tenant / revoke_tenant / tenant_grants and the access check's rules:
-- every error path, membership, every-tenant bindings, SET ROLE (the cache
-- is per role: pgbouncer shares a backend between clients), the outer user
-- inside SECURITY DEFINER, superuser and owner, and that a change is seen by
-- the next statement of the same backend.

\ir fixtures.psql

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('grant-a', 'A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('grant-b', 'B');
INSERT INTO fx SELECT 'ca', helpdesk.upsert_customer(pg_temp.fx('ta'), 'ca');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'cb');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb, pg_temp.fx('cb') AS cb \gset

CREATE ROLE gr_admin_a LOGIN IN ROLE helpdesk_admin;
CREATE ROLE gr_api LOGIN IN ROLE helpdesk_api;
CREATE ROLE gr_group NOLOGIN;
CREATE ROLE gr_member LOGIN IN ROLE helpdesk_api, gr_group;
CREATE ROLE gr_bridge LOGIN IN ROLE helpdesk_bridge;
CREATE ROLE gr_unbound LOGIN IN ROLE helpdesk_api;

-- argument errors (as superuser)
SELECT throws_ok('SELECT helpdesk.grant_tenant(NULL, 1)', '22023', 'role must not be NULL', 'grant_tenant: NULL role');
SELECT throws_ok('SELECT helpdesk.revoke_tenant(NULL, 1)', '22023', 'role must not be NULL', 'revoke_tenant: NULL role');
SELECT throws_ok('SELECT helpdesk.grant_tenant(4000000000::oid::regrole, 1)', '42704', NULL, 'grant_tenant: no such role');
SELECT throws_ok('SELECT helpdesk.revoke_tenant(4000000000::oid::regrole, 1)', '42704', NULL, 'revoke_tenant: no such role');
SELECT throws_ok('SELECT helpdesk.grant_tenant(''gr_api'', 999999999)', 'HD404', 'tenant 999999999 does not exist',
	'grant_tenant: unknown tenant');
SELECT throws_ok('SELECT helpdesk.revoke_tenant(''gr_api'', 999999999)', 'HD404', 'tenant 999999999 does not exist',
	'revoke_tenant: unknown tenant');

SELECT is(helpdesk.grant_tenant('gr_admin_a', :ta), true, 'grant_tenant: a new binding');
SELECT is(helpdesk.grant_tenant('gr_admin_a', :ta), false, 'grant_tenant: again, false');
SELECT is((SELECT row(role, tenant_id, tenant_slug, granted_by)::text FROM helpdesk.tenant_grants
	WHERE role = 'gr_admin_a'), row('gr_admin_a', :ta, 'grant-a', 'postgres')::text, 'tenant_grants shows it');

-- an unbound role acts for no tenant; the message names role and tenant
SET LOCAL ROLE gr_unbound;
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''x'')', :ta), '42501',
	'role gr_unbound may not act for tenant ' || :ta, 'an unbound role acts for no tenant');
SELECT throws_ok('SELECT helpdesk.upsert_customer(999999999, ''x'')', '42501',
	'role gr_unbound may not act for tenant 999999999', 'nor for one that does not exist (42501, not HD404)');
RESET ROLE;

-- the row level security predicates, for the current role
SELECT is(helpdesk.may_read_tenant(NULL), false, 'may_read_tenant(NULL): false');
SELECT is(helpdesk.acts_for_all_tenants(), true, 'acts_for_all_tenants: a superuser does');
SET LOCAL ROLE gr_admin_a;
SELECT is(helpdesk.may_read_tenant(:ta), true, 'may_read_tenant: its tenant');
SELECT is(helpdesk.may_read_tenant(:tb), false, 'may_read_tenant: not another (false, no error)');
SELECT is(helpdesk.acts_for_all_tenants(), false, 'acts_for_all_tenants: a role bound to one tenant does not');
SELECT throws_ok(format('SELECT helpdesk._require_tenant(%s)', :tb), '42501', NULL,
	'_require_tenant is not callable by roles (only inside our functions)');
RESET ROLE;
SELECT is(helpdesk._require_tenant(NULL), true, '_require_tenant(NULL): every tenant, a superuser may');

-- a tenant's admin binds roles to its tenant, never to another or to all
SET LOCAL ROLE gr_admin_a;
SELECT is(helpdesk.grant_tenant('gr_api', :ta), true, 'the admin of A binds a role to A');
SELECT throws_ok(format('SELECT helpdesk.grant_tenant(''gr_api'', %s)', :tb), '42501',
	'role gr_admin_a may not act for tenant ' || :tb, 'the admin of A cannot bind to B');
SELECT throws_ok('SELECT helpdesk.grant_tenant(''gr_api'', NULL)', '42501',
	'role gr_admin_a may not act for every tenant', 'the admin of A cannot bind to every tenant');
SELECT throws_ok(format('SELECT helpdesk.revoke_tenant(''gr_api'', %s)', :tb), '42501',
	'role gr_admin_a may not act for tenant ' || :tb, 'the admin of A cannot unbind from B');
SELECT is((SELECT count(*) FROM helpdesk.tenant_grants), 2::bigint, 'the admin of A sees the bindings of A only');
RESET ROLE;

SET LOCAL ROLE gr_api;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''via-api'')', :ta), 'a bound role acts for its tenant');
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''via-api'')', :tb), '42501',
	'role gr_api may not act for tenant ' || :tb, 'and not for another');
RESET ROLE;

-- a binding of a group counts for its members
SELECT helpdesk.grant_tenant('gr_group', :tb);
SET LOCAL ROLE gr_member;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''member'')', :tb), 'a member of a bound group acts for its tenant');
RESET ROLE;

-- every tenant: the bridge
SELECT is(helpdesk.grant_tenant('gr_bridge', NULL), true, 'grant_tenant(role, NULL): every tenant');
SELECT is((SELECT tenant_id FROM helpdesk.tenant_grants WHERE role = 'gr_bridge'), NULL::bigint,
	'shown with tenant_id NULL');
SET LOCAL ROLE gr_bridge;
SELECT lives_ok('SELECT helpdesk.bridge_events(0, 10)', 'a role bound to every tenant reads the whole log');
SELECT lives_ok(format('SELECT helpdesk.bridge_subscriber(%s, ''customer'', %s)', :tb, :cb),
	'and acts for any tenant');
RESET ROLE;

-- SET ROLE within one backend: each role its own answer (the cache is per role)
SET LOCAL ROLE gr_api;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''r1'')', :ta), 'SET ROLE gr_api: A');
RESET ROLE;
SET LOCAL ROLE gr_unbound;
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''r2'')', :ta), '42501', NULL,
	'then SET ROLE gr_unbound in the same backend: refused');
RESET ROLE;
SET LOCAL ROLE gr_api;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''r3'')', :ta), 'and back to gr_api: served');
RESET ROLE;

-- a revoke is seen by the next statement of the same backend
SELECT is(helpdesk.revoke_tenant('gr_api', :ta), true, 'revoke_tenant: true');
SELECT is(helpdesk.revoke_tenant('gr_api', :ta), false, 'revoke_tenant again: false');
SET LOCAL ROLE gr_api;
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''after'')', :ta), '42501', NULL,
	'after the revoke: refused');
RESET ROLE;
SELECT helpdesk.grant_tenant('gr_api', :ta);
-- so is a change of membership
REVOKE gr_group FROM gr_member;
SET LOCAL ROLE gr_member;
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''m2'')', :tb), '42501', NULL,
	'leaving the bound group: refused');
RESET ROLE;
-- and a direct DML on tenant_grant (its trigger invalidates the cache)
SET LOCAL ROLE gr_api;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''d1'')', :ta), 'bound again');
RESET ROLE;
DELETE FROM helpdesk.tenant_grant WHERE grantee = 'gr_api'::regrole;
SET LOCAL ROLE gr_api;
SELECT throws_ok(format('SELECT helpdesk.upsert_customer(%s, ''d2'')', :ta), '42501', NULL,
	'a DELETE on tenant_grant: refused');
RESET ROLE;

-- revoke every tenant; a superuser and the owner act for all without a binding
SELECT is(helpdesk.revoke_tenant('gr_bridge', NULL), true, 'revoke_tenant(role, NULL)');
SET LOCAL ROLE gr_bridge;
SELECT throws_ok('SELECT helpdesk.bridge_events(0, 10)', '42501', 'role gr_bridge may not act for every tenant',
	'after it: the whole log is refused');
RESET ROLE;
SELECT lives_ok(format('SELECT helpdesk.upsert_customer(%s, ''su'')', :tb), 'a superuser acts for every tenant');
SELECT is((SELECT rolname::text FROM pg_roles WHERE oid = (SELECT relowner FROM pg_class
	WHERE oid = 'helpdesk.tenant_grant'::regclass)), current_user::text,
	'(the extension''s owner here is the superuser running the tests)');

-- the check is about the outer role: a SECURITY DEFINER function owned by a
-- bound role does not lend its binding to an unbound caller
CREATE FUNCTION pg_temp.via_definer(t bigint) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS $$ SELECT helpdesk.upsert_customer(t, 'definer') $$;
ALTER FUNCTION pg_temp.via_definer(bigint) OWNER TO gr_admin_a;
GRANT EXECUTE ON FUNCTION helpdesk.upsert_customer(bigint, text, text, integer, text, jsonb) TO gr_admin_a;
SET LOCAL ROLE gr_unbound;
SELECT throws_ok(format('SELECT pg_temp.via_definer(%s)', :ta), '42501',
	'role gr_unbound may not act for tenant ' || :ta, 'inside a SECURITY DEFINER function the caller is still checked');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
