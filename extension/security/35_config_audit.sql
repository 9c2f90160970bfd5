-- The audit log of configuration changes (audit.c): a row trigger on each
-- configuration table (created by extension/access.sql, after every
-- subsystem, so direct writes by a DBA are logged too) records who (the
-- outer role, and the agent the client declared in helpdesk.actor_agent_id),
-- when, which object, and the row before and after; sealed columns (bytea:
-- secrets, hashes) appear only as "[sealed]" / "[sealed, changed]".

CREATE TABLE helpdesk.config_audit (
	tenant_id      bigint NOT NULL CHECK (tenant_id >= 0),
	id             bigint GENERATED ALWAYS AS IDENTITY,
	at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor_role     text NOT NULL,
	actor_agent_id bigint CHECK (actor_agent_id > 0),
	object_type    text NOT NULL CHECK (object_type ~ '^[a-z_]{1,40}$'),
	object_table   text NOT NULL,
	object_key     text NOT NULL,
	action         text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
	before         jsonb,
	after          jsonb,
	PRIMARY KEY (tenant_id, id),
	CHECK ((action = 'insert') = (before IS NULL)),
	CHECK ((action = 'delete') = (after IS NULL))
);
CREATE INDEX config_audit_at ON helpdesk.config_audit (tenant_id, at);
COMMENT ON TABLE helpdesk.config_audit IS
	'Who changed which configuration when, with the row before and after (configuration tables'' row triggers, extension/access.sql). Secrets never appear in plain.';
COMMENT ON COLUMN helpdesk.config_audit.tenant_id IS
	'The tenant of the changed row; 0 for a binding to every tenant (tenant_grant).';
COMMENT ON COLUMN helpdesk.config_audit.actor_role IS
	'The role outside the SECURITY DEFINER functions (the session''s role or the one SET ROLE chose).';
COMMENT ON COLUMN helpdesk.config_audit.actor_agent_id IS
	'The agent the client declared with SET helpdesk.actor_agent_id (the bridge does for logged-in agents); NULL when none. Declared by the client, not verified.';
COMMENT ON COLUMN helpdesk.config_audit.object_type IS
	'tenant, agent, queue, routing, calendar, sla, autoclose, system_text, webhook, bot, app, tenant_grant (and later kinds).';
COMMENT ON COLUMN helpdesk.config_audit.object_key IS
	'The changed row''s key within its tenant (its id, or its key columns joined by /).';
COMMENT ON COLUMN helpdesk.config_audit.before IS
	'The row before the change, without the columns the workers keep (load, cursors, timestamps); bytea columns as "[sealed]". NULL for an insert.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.config_audit', '');

CREATE FUNCTION helpdesk._config_audit() RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_config_audit';
COMMENT ON FUNCTION helpdesk._config_audit() IS
	'Row trigger of the configuration tables: arguments object type, key columns (comma-separated), tenant column, then the columns that are state, not configuration.';

CREATE FUNCTION helpdesk.config_audit_log(tenant_id bigint, from_at timestamptz DEFAULT NULL,
	to_at timestamptz DEFAULT NULL, object_type text DEFAULT NULL)
RETURNS SETOF helpdesk.config_audit
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.* FROM helpdesk.config_audit a
	WHERE helpdesk._require_tenant($1)	-- a one-time filter: 42501 before any row
	  AND ($1 IS NULL OR a.tenant_id = $1)
	  AND ($2 IS NULL OR a.at >= $2) AND ($3 IS NULL OR a.at < $3)
	  AND ($4 IS NULL OR a.object_type = $4)
	ORDER BY a.at, a.id
$$;
COMMENT ON FUNCTION helpdesk.config_audit_log(bigint, timestamptz, timestamptz, text) IS
	'The configuration changes of a tenant (NULL: of every tenant, for a role acting for all) in [from_at, to_at), of one object type or all, oldest first.';
