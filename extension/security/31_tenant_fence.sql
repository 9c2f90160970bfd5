-- Tenants that are moving to another node, have moved, or are arriving from
-- one (tenant_fence.c, scripts/move-tenant, docs/scale-out-move.md).
-- Node-local: a move never copies this table.
CREATE TABLE helpdesk.tenant_fence (
	tenant_id bigint PRIMARY KEY CHECK (tenant_id > 0),
	state     text NOT NULL CHECK (state IN ('fenced', 'moved_out', 'incoming')),
	since     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.tenant_fence IS
	'Tenants whose calls this node refuses with 55000 and whose rows its workers leave alone: fenced for the last seconds of a move to another node, moved_out once the proxy''s directory names the new node, incoming while a move from another node brings its rows here. No tenant foreign key: a moved-out tenant''s rows are purged and its fence stays; an incoming tenant''s rows arrive after its fence.';
COMMENT ON COLUMN helpdesk.tenant_fence.state IS
	'fenced (a move to another node is switching: retry shortly), moved_out (the tenant lives on another node now) or incoming (a move from another node is bringing the tenant here: it is served there until the switch).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant_fence', '');
-- every change drops the backends' cached fence list (the trigger only
-- sends a relcache invalidation of the table it fires on)
COMMENT ON FUNCTION helpdesk._tenant_grant_changed() IS
	'Statement trigger on tenant_grant and tenant_fence: invalidates every backend''s cached tenant access (and fence list) at commit.';
CREATE TRIGGER tenant_fence_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON helpdesk.tenant_fence FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._tenant_grant_changed();

CREATE FUNCTION helpdesk.set_tenant_fence(tenant_id bigint, state text)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_tenant_fence';
COMMENT ON FUNCTION helpdesk.set_tenant_fence(bigint, text) IS
	'Fence a tenant on this node (''fenced'': its calls get 55000 for a move''s last seconds), mark it ''moved_out'' (the directory names its new node) or ''incoming'' (a move''s target, before the tenant''s rows arrive), or NULL to lift the fence (a move called off, or switched to this node). Returns the previous state (NULL: none). Needs every tenant (the move''s operator); a moved-out tenant cannot be unfenced, only come back once its rows are gone.';

CREATE FUNCTION helpdesk._tenant_placed_support(internal) RETURNS internal
LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'hd_tenant_placed_support';
COMMENT ON FUNCTION helpdesk._tenant_placed_support(internal) IS
	'Internal: the planner''s support of _tenant_placed (a selectivity of 1: fences are rare and few).';
CREATE FUNCTION helpdesk._tenant_placed(tenant_id bigint) RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL SAFE SUPPORT helpdesk._tenant_placed_support
AS 'MODULE_PATHNAME', 'hd_tenant_placed';
COMMENT ON FUNCTION helpdesk._tenant_placed(bigint) IS
	'Internal (the workers'' due-work statements): false while the tenant is fenced, incoming or moved out on this node. Reads the backend''s cached fence list; one compare when no fence exists.';

CREATE FUNCTION helpdesk._announce_tenant_move(tenant_id bigint, bridge_url text, target_position bigint)
RETURNS integer LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_announce_tenant_move';
COMMENT ON FUNCTION helpdesk._announce_tenant_move(bigint, text, bigint) IS
	'Internal (scripts/move-tenant, on the source once the directory names the new node): a tenant.moved event {tenant_id, position, bridge_url} to every customer with an open session and every enabled agent of the tenant, after all its events here; its clients continue at bridge_url from position. Returns the number of events.';
