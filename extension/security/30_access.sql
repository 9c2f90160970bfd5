-- Tenant access (access.c, access_grant.c): the binding of roles (created
-- by 29_roles.sql) to tenants, and the predicates that extension/access.sql's
-- row level security policies use.

CREATE TABLE helpdesk.tenant_grant (
	tenant_id  bigint NOT NULL CHECK (tenant_id >= 0),
	grantee    regrole NOT NULL,
	granted_by regrole NOT NULL,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, grantee)
);
COMMENT ON TABLE helpdesk.tenant_grant IS
	'Which roles may act for which tenants (grant_tenant, revoke_tenant). A role acts for the tenants bound to it and to the roles whose privileges it has; superusers and the extension''s owner act for all.';
COMMENT ON COLUMN helpdesk.tenant_grant.tenant_id IS
	'The tenant, or 0 for every tenant (grant_tenant(role, NULL)), current and future.';
COMMENT ON COLUMN helpdesk.tenant_grant.grantee IS
	'The role bound (regrole: dumped and restored by name; a dropped role''s rows bind no one and are not shown by tenant_grants).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant_grant', '');

CREATE FUNCTION helpdesk._tenant_grant_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'hd_tenant_grant_changed';
COMMENT ON FUNCTION helpdesk._tenant_grant_changed() IS
	'Statement trigger on tenant_grant: invalidates every backend''s cached tenant access at commit.';
CREATE TRIGGER tenant_grant_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON helpdesk.tenant_grant
	FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._tenant_grant_changed();

CREATE FUNCTION helpdesk.grant_tenant(role regrole, tenant_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_grant_tenant';
COMMENT ON FUNCTION helpdesk.grant_tenant(regrole, bigint) IS
	'Let role (and the roles that have its privileges) act for tenant_id; NULL: for every tenant. The caller must act for that tenant (NULL: for every tenant). True when the binding is new.';

CREATE FUNCTION helpdesk.revoke_tenant(role regrole, tenant_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_revoke_tenant';
COMMENT ON FUNCTION helpdesk.revoke_tenant(regrole, bigint) IS
	'Remove the binding of role to tenant_id (NULL: the every-tenant binding); takes effect in other sessions from their next transaction. True when there was one.';

CREATE FUNCTION helpdesk.may_read_tenant(tenant_id bigint)
RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hd_may_read_tenant';
COMMENT ON FUNCTION helpdesk.may_read_tenant(bigint) IS
	'Row level security predicate: may the current role act for tenant_id (cached per backend)?';

CREATE FUNCTION helpdesk.acts_for_all_tenants()
RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hd_acts_for_all_tenants';
COMMENT ON FUNCTION helpdesk.acts_for_all_tenants() IS
	'Row level security predicate of the tables without a tenant (event batches, cursors): may the current role act for every tenant?';

CREATE VIEW helpdesk.tenant_grants WITH (security_invoker = true) AS
	SELECT r.rolname AS role, nullif(g.tenant_id, 0) AS tenant_id, t.slug AS tenant_slug,
	       b.rolname AS granted_by, g.granted_at
	FROM helpdesk.tenant_grant g
	JOIN pg_catalog.pg_roles r ON r.oid = g.grantee
	LEFT JOIN helpdesk.tenant t ON t.id = g.tenant_id
	LEFT JOIN pg_catalog.pg_roles b ON b.oid = g.granted_by;
COMMENT ON VIEW helpdesk.tenant_grants IS
	'The tenant bindings by role name; tenant_id NULL: every tenant.';

-- Which roles get EXECUTE on each function of schema helpdesk (filled and
-- applied by extension/access.sql, which runs after every subsystem).
CREATE TABLE helpdesk.function_grant (
	function_name text PRIMARY KEY CHECK (function_name ~ '^[a-z_][a-z0-9_]*$'),
	roles         text[] NOT NULL,
	why           text NOT NULL CHECK (length(why) > 0)
);
COMMENT ON TABLE helpdesk.function_grant IS
	'The grant matrix: the roles given EXECUTE on every function of schema helpdesk of that name (all overloads); an empty array is the decision "no one" (internal and trigger functions). docs/security.md is generated from it; a test fails when a function has no row or its ACL differs.';
