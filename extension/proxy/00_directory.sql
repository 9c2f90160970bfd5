-- pg_helpdesk_proxy: the tenant directory and PL/Proxy's cluster
-- configuration (docs/scale-out.md). A proxy database holds no helpdesk
-- data: only which partition holds which tenant, and which node serves which
-- partition.

CREATE SCHEMA helpdesk_proxy;
COMMENT ON SCHEMA helpdesk_proxy IS
	'pg_helpdesk_proxy: the tenant directory and the node list behind the proxied helpdesk API.';
GRANT USAGE ON SCHEMA helpdesk_proxy TO PUBLIC;
COMMENT ON SCHEMA helpdesk IS
	'pg_helpdesk''s SQL API, each function routed by PL/Proxy to the node that holds the tenant.';
GRANT USAGE ON SCHEMA helpdesk TO PUBLIC;

-- PL/Proxy reads a cluster's configuration from these three functions
-- (plproxy's "cluster configuration API") when no SQL/MED server of the
-- cluster's name exists. Tables make the node list administrable in SQL.
CREATE SCHEMA plproxy;
COMMENT ON SCHEMA plproxy IS
	'PL/Proxy''s cluster configuration API, answered from helpdesk_proxy.partition.';

CREATE TABLE helpdesk_proxy.partition (
	part       integer PRIMARY KEY CHECK (part BETWEEN 0 AND 1023),
	-- key=value form only (no URI, whose user is not a user= key), no user
	-- (PL/Proxy adds the caller's) and no password: the list is readable by
	-- every role that calls through the proxy; passwords belong in .pgpass
	connstr    text NOT NULL CHECK (length(connstr) BETWEEN 1 AND 1000 AND connstr !~* '^\s*postgres(ql)?:'
	                                AND connstr !~* '(^|\s)(user|password)\s*='),
	bridge_url text CHECK (length(bridge_url) <= 500 AND bridge_url ~ '^wss?://\S+$'),
	accepts_tenants boolean NOT NULL DEFAULT true,
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk_proxy.partition IS
	'PL/Proxy partitions of cluster ''helpdesk'': 0..n-1 with n a power of two. Several partitions may name one node (the same connstr: one connection); a node is added by pointing partitions that hold no tenant at it.';
COMMENT ON COLUMN helpdesk_proxy.partition.connstr IS
	'libpq connection string of the node, key=value form, without user= (PL/Proxy connects as the calling role, so every node checks the caller''s own grants) and without password= (the proxy''s calls can read it: use ~/.pgpass of the proxy''s server).';
COMMENT ON COLUMN helpdesk_proxy.partition.bridge_url IS
	'The helpdesk-bridge of the node (WebSocket URL), returned by tenant_bridge() so clients know where to connect.';
COMMENT ON COLUMN helpdesk_proxy.partition.accepts_tenants IS
	'Whether upsert_tenant may place new tenants here.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk_proxy.partition', '');

CREATE TABLE helpdesk_proxy.tenant_directory (
	tenant_id  bigint PRIMARY KEY CHECK (tenant_id > 0),
	slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
	part       integer NOT NULL REFERENCES helpdesk_proxy.partition (part),
	state      text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving')),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_directory_by_part ON helpdesk_proxy.tenant_directory (part);
COMMENT ON TABLE helpdesk_proxy.tenant_directory IS
	'Which partition holds which tenant. Written by upsert_tenant; a tenant move (scripts/move-tenant) sets state moving, then the new part and state active.';
COMMENT ON COLUMN helpdesk_proxy.tenant_directory.state IS
	'active, or moving while a move switches the tenant to another node (its writes are refused by the source node meanwhile).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk_proxy.tenant_directory', '');

-- the configuration version PL/Proxy compares with its cache on every call
CREATE TABLE helpdesk_proxy.config_version (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version integer NOT NULL CHECK (version > 0)
);
INSERT INTO helpdesk_proxy.config_version VALUES (true, 1);
COMMENT ON TABLE helpdesk_proxy.config_version IS
	'One row: bumped by every change of helpdesk_proxy.partition, so PL/Proxy reloads the node list.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk_proxy.config_version', '');

CREATE FUNCTION helpdesk_proxy._partition_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE helpdesk_proxy.config_version SET version = version + 1;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy._partition_changed() IS
	'Statement trigger on partition: bumps config_version.';
CREATE TRIGGER partition_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON helpdesk_proxy.partition FOR EACH STATEMENT EXECUTE FUNCTION helpdesk_proxy._partition_changed();

CREATE FUNCTION plproxy.get_cluster_version(cluster_name text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF cluster_name IS DISTINCT FROM 'helpdesk' THEN
		RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = 'unknown PL/Proxy cluster',
			HINT = 'pg_helpdesk_proxy configures only the cluster ''helpdesk''.';
	END IF;
	RETURN (SELECT version FROM helpdesk_proxy.config_version);
END
$$;
COMMENT ON FUNCTION plproxy.get_cluster_version(text) IS
	'PL/Proxy configuration API: the version of cluster helpdesk''s node list.';

-- The partitions in order. PL/Proxy needs 0..n-1 with n a power of two;
-- the check is here so that the error names the table to fix.
CREATE FUNCTION plproxy.get_cluster_partitions(cluster_name text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer;
	top integer;
BEGIN
	PERFORM plproxy.get_cluster_version(cluster_name);
	SELECT count(*), max(part) INTO n, top FROM helpdesk_proxy.partition;
	IF n = 0 OR top <> n - 1 OR (n & (n - 1)) <> 0 THEN
		RAISE EXCEPTION USING ERRCODE = '55000',
			MESSAGE = format('helpdesk_proxy.partition has %s partitions numbered up to %s', n, coalesce(top, -1)),
			HINT = 'Partitions must be numbered 0..n-1 with n a power of two (1, 2, 4, ...); several may name the same node.';
	END IF;
	RETURN QUERY SELECT p.connstr FROM helpdesk_proxy.partition p ORDER BY p.part;
END
$$;
COMMENT ON FUNCTION plproxy.get_cluster_partitions(text) IS
	'PL/Proxy configuration API: the connection strings of partitions 0..n-1.';

CREATE FUNCTION plproxy.get_cluster_config(cluster_name text, OUT key text, OUT val text)
RETURNS SETOF record LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM plproxy.get_cluster_version(cluster_name);
	-- connections to the nodes are renewed every half hour (a node's
	-- connect_timeout belongs in its connstr: PL/Proxy's own is deprecated)
	key := 'connection_lifetime'; val := '1800'; RETURN NEXT;
END
$$;
COMMENT ON FUNCTION plproxy.get_cluster_config(text) IS
	'PL/Proxy configuration API: connection settings of cluster helpdesk.';

-- Point a partition at a node. A partition that holds tenants keeps its
-- node unless force: its tenants' rows live there (a move changes the
-- tenant's partition instead, scripts/move-tenant).
CREATE FUNCTION helpdesk_proxy.set_partition(part integer, connstr text, bridge_url text DEFAULT NULL,
	accepts_tenants boolean DEFAULT true, force boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	old text;
	held bigint;
BEGIN
	IF part IS NULL OR part NOT BETWEEN 0 AND 1023 THEN
		RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'part must be between 0 and 1023';
	END IF;
	SELECT p.connstr INTO old FROM helpdesk_proxy.partition p WHERE p.part = set_partition.part FOR UPDATE;
	IF old IS NOT NULL AND old IS DISTINCT FROM connstr AND NOT force THEN
		SELECT count(*) INTO held FROM helpdesk_proxy.tenant_directory d WHERE d.part = set_partition.part;
		IF held > 0 THEN
			RAISE EXCEPTION USING ERRCODE = '55000',
				MESSAGE = format('partition %s holds %s tenants and stays on its node', part, held),
				HINT = 'Move its tenants with scripts/move-tenant, or pass force => true if the node itself moved (same data, new address).';
		END IF;
	END IF;
	INSERT INTO helpdesk_proxy.partition AS p (part, connstr, bridge_url, accepts_tenants)
	VALUES (part, connstr, bridge_url, coalesce(accepts_tenants, true))
	ON CONFLICT ON CONSTRAINT partition_pkey DO UPDATE
	SET connstr = excluded.connstr, bridge_url = excluded.bridge_url,
	    accepts_tenants = excluded.accepts_tenants, updated_at = now();
END
$$;
COMMENT ON FUNCTION helpdesk_proxy.set_partition(integer, text, text, boolean, boolean) IS
	'Add a partition or point it at a node: connection string (no user=), bridge URL, whether new tenants may be placed there. Refused (55000) for a partition that holds tenants, unless force.';

-- The partition of a tenant, for RUN ON. An unknown tenant gets the node's
-- own answer for one: HD404 "tenant N does not exist". A NULL tenant goes
-- to partition 0: every node answers a NULL the same way (its own argument
-- check), so that node's answer is the API's.
CREATE FUNCTION helpdesk_proxy.tenant_partition(tenant_id bigint) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p integer;
BEGIN
	IF tenant_id IS NULL THEN
		RETURN 0;
	END IF;
	SELECT d.part INTO p FROM helpdesk_proxy.tenant_directory d WHERE d.tenant_id = tenant_partition.tenant_id;
	IF p IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'HD404', MESSAGE = format('tenant %s does not exist', tenant_id);
	END IF;
	RETURN p;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy.tenant_partition(bigint) IS
	'The partition that holds a tenant (RUN ON of the proxied functions that return one row); HD404 for an unknown tenant, 0 for NULL (any node answers a NULL tenant as every node does).';

-- The partitions of a call that returns a set: the tenant's, or for a NULL
-- tenant one per node, so that "every tenant" (config_audit_log(NULL))
-- reads every node; each node checks the caller acts for every tenant.
CREATE FUNCTION helpdesk_proxy.tenant_partitions(tenant_id bigint) RETURNS SETOF integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT helpdesk_proxy.tenant_partition(tenant_id) WHERE tenant_id IS NOT NULL
	UNION ALL
	SELECT p FROM helpdesk_proxy.node_partitions() p WHERE tenant_id IS NULL
$$;
COMMENT ON FUNCTION helpdesk_proxy.tenant_partitions(bigint) IS
	'RUN ON of the proxied functions that return a set: the tenant''s partition, or one partition per node for NULL (every tenant: the nodes'' rows one node after another).';

-- The partition of a tenant slug, NULL for an unknown one.
CREATE FUNCTION helpdesk_proxy.slug_partition(slug text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT d.part FROM helpdesk_proxy.tenant_directory d WHERE d.slug = slug_partition.slug
$$;
COMMENT ON FUNCTION helpdesk_proxy.slug_partition(text) IS
	'The partition that holds a tenant slug; NULL for an unknown slug.';

-- agent_login's partition: an unknown slug goes to partition 0, whose node
-- then refuses it exactly as a node refuses a slug it does not know.
CREATE FUNCTION helpdesk_proxy.login_partition(slug text) RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(helpdesk_proxy.slug_partition(slug), 0)
$$;
COMMENT ON FUNCTION helpdesk_proxy.login_partition(text) IS
	'The partition agent_login runs on: the slug''s, or 0 for an unknown slug (refused there as on one node).';

-- One partition per node (the lowest of those that name the same node):
-- RUN ON of the calls that go to every node once.
CREATE FUNCTION helpdesk_proxy.node_partitions() RETURNS SETOF integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT min(p.part) FROM helpdesk_proxy.partition p GROUP BY p.connstr ORDER BY 1
$$;
COMMENT ON FUNCTION helpdesk_proxy.node_partitions() IS
	'One partition per distinct node: the target of the calls that run once on every node.';

-- The node of a partition, named by its lowest partition (node_partitions).
CREATE FUNCTION helpdesk_proxy._node_of(part integer) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT min(x.part) FROM helpdesk_proxy.partition x
	WHERE x.connstr = (SELECT y.connstr FROM helpdesk_proxy.partition y WHERE y.part = _node_of.part)
$$;
COMMENT ON FUNCTION helpdesk_proxy._node_of(integer) IS
	'Internal: the lowest partition that names the same node as part.';

-- The partition a new tenant goes to: the accepting partition with the
-- fewest tenants (the lowest number on a tie).
CREATE FUNCTION helpdesk_proxy.choose_partition() RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p integer;
BEGIN
	SELECT x.part INTO p FROM helpdesk_proxy.partition x
	LEFT JOIN helpdesk_proxy.tenant_directory d ON d.part = x.part
	WHERE x.accepts_tenants GROUP BY x.part ORDER BY count(d.tenant_id), x.part LIMIT 1;
	IF p IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'no partition accepts new tenants',
			HINT = 'Add one with helpdesk_proxy.set_partition(part, connstr) or set accepts_tenants.';
	END IF;
	RETURN p;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy.choose_partition() IS
	'The partition upsert_tenant places a new tenant on: the accepting partition with the fewest tenants.';

-- Where a tenant's clients connect: the bridge of the node that holds it.
CREATE FUNCTION helpdesk_proxy.tenant_bridge(tenant_id bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT p.bridge_url FROM helpdesk_proxy.partition p
	WHERE p.part = helpdesk_proxy.tenant_partition(tenant_bridge.tenant_id)
$$;
COMMENT ON FUNCTION helpdesk_proxy.tenant_bridge(bigint) IS
	'The WebSocket URL of the bridge of the node that holds the tenant (NULL when none is configured); HD404 for an unknown tenant.';
