-- The calls that find their node by something else than a tenant id that
-- the directory already knows: tenant creation (by slug), agent login (by
-- slug) and tenant bindings (a tenant, or every tenant on every node).
--
-- The wrappers are SECURITY INVOKER: PL/Proxy connects to a node as
-- current_user, so a definer's function would reach the node as its owner
-- and skip the node's grants. Only the directory write is a definer's.

-- internal: PL/Proxy calls of one partition's node
CREATE FUNCTION helpdesk_proxy._upsert_tenant_at(part integer, slug text, name text, bot_enabled boolean,
	heartbeat_interval interval, heartbeat_misses integer, settings jsonb)
RETURNS bigint LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON part;
	SELECT helpdesk.upsert_tenant(slug, name, bot_enabled, heartbeat_interval, heartbeat_misses, settings);
$$;
COMMENT ON FUNCTION helpdesk_proxy._upsert_tenant_at(integer, text, text, boolean, interval, integer, jsonb) IS
	'Internal: helpdesk.upsert_tenant on the node of one partition.';

-- What upsert_tenant_on asks each node before it creates a tenant: the id of
-- the slug there, if any, and the series its tenant ids come from.
CREATE FUNCTION helpdesk_proxy._node_probe(part integer, slug text, OUT tenant_id bigint,
	OUT id_increment bigint, OUT id_start bigint, OUT id_last bigint)
RETURNS SETOF record LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON part;
	SELECT (SELECT t.id FROM helpdesk.tenant t WHERE t.slug = slug) AS tenant_id,
	       q.increment_by AS id_increment, q.start_value AS id_start, q.last_value AS id_last
	FROM pg_catalog.pg_sequences q WHERE q.schemaname = 'helpdesk' AND q.sequencename = 'tenant_id_seq';
$$;
COMMENT ON FUNCTION helpdesk_proxy._node_probe(integer, text) IS
	'Internal: on the node of one partition, the id of a tenant slug (NULL: none) and its tenant id series (increment, start, last value).';

-- The directory row of a tenant a node has just created. Definer's: callers
-- may create tenants (upsert_tenant's grant) but not edit the directory, so
-- it asks the node itself (as the proxy's owner) that the tenant is there
-- under that id and slug before it writes anything.
CREATE FUNCTION helpdesk_proxy._record_tenant(tenant_id bigint, slug text, part integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	held integer;
	there bigint;
BEGIN
	SELECT x.tenant_id INTO there FROM helpdesk_proxy._node_probe(part, slug) x;
	IF there IS DISTINCT FROM tenant_id THEN
		RAISE EXCEPTION USING ERRCODE = '22023',
			MESSAGE = format('the node of partition %s has no tenant %s with that slug', part, tenant_id);
	END IF;
	SELECT d.part INTO held FROM helpdesk_proxy.tenant_directory d
	WHERE d.tenant_id = _record_tenant.tenant_id AND d.slug IS DISTINCT FROM _record_tenant.slug;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = '23505',
			MESSAGE = format('tenant id %s is already the id of another tenant (on partition %s)', tenant_id, held),
			HINT = 'Every node must give tenant ids from a series of its own: see docs/scale-out.md, "Preparing a node".';
	END IF;
	INSERT INTO helpdesk_proxy.tenant_directory AS d (tenant_id, slug, part)
	VALUES (tenant_id, slug, part)
	ON CONFLICT ON CONSTRAINT tenant_directory_pkey DO NOTHING;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy._record_tenant(bigint, text, integer) IS
	'Internal: records a tenant that a node created in the directory; 23505 when its id is another tenant''s.';

-- The partition a slug's upsert goes to: where it lives (held), else the
-- one asked for, else the least loaded. Definer's: it reads the node list.
CREATE FUNCTION helpdesk_proxy._placement(slug text, held integer, part integer) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p integer := coalesce(held, part, helpdesk_proxy.choose_partition());
BEGIN
	IF NOT EXISTS (SELECT 1 FROM helpdesk_proxy.partition x WHERE x.part = p) THEN
		RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('partition %s does not exist', coalesce(p::text, 'NULL')),
			HINT = 'See helpdesk_proxy.partition.';
	END IF;
	IF held IS NOT NULL AND part IS NOT NULL AND held <> part
	   AND (SELECT x.connstr FROM helpdesk_proxy.partition x WHERE x.part = held)
	       IS DISTINCT FROM (SELECT x.connstr FROM helpdesk_proxy.partition x WHERE x.part = _placement.part) THEN
		RAISE EXCEPTION USING ERRCODE = '55000',
			MESSAGE = format('tenant %s lives on partition %s, not %s', slug, held, part),
			HINT = 'Update it without a partition (helpdesk.upsert_tenant), or move it with scripts/move-tenant.';
	END IF;
	RETURN p;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy._placement(text, integer, integer) IS
	'Internal: the partition of an upsert of a slug that lives on held (or nowhere) and is asked for part; 55000 when they are different nodes.';

-- Create or update a tenant on a given partition (NULL: where it lives, or
-- the least loaded one for a new tenant).
-- A slug is looked up in the directory first, then on every node: a node
-- that created the tenant while the directory write failed (the node's
-- call commits on its own) is found again instead of making a second one.
CREATE FUNCTION helpdesk_proxy.upsert_tenant_on(part integer, slug text, name text,
	bot_enabled boolean DEFAULT NULL, heartbeat_interval interval DEFAULT NULL,
	heartbeat_misses integer DEFAULT NULL, settings jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	held integer;
	r record;
	id bigint;
	p integer;
	node integer;
	nodes integer[] := '{}';
	incs bigint[] := '{}';
	residues bigint[] := '{}';
	i integer;
	mine integer;
BEGIN
	IF slug IS NULL OR length(slug) > 63 THEN
		-- the node's own check answers for everything else about a slug
		RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'slug must be given and at most 63 characters long';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('helpdesk_proxy.tenant:' || slug));
	held := helpdesk_proxy.slug_partition(slug);
	IF held IS NULL THEN
		FOR node IN SELECT helpdesk_proxy.node_partitions() LOOP
			SELECT * INTO r FROM helpdesk_proxy._node_probe(node, slug);
			IF r.tenant_id IS NOT NULL THEN
				held := node;
				EXIT;
			END IF;
			nodes := nodes || node;
			incs := incs || r.id_increment;
			residues := residues || mod(coalesce(r.id_last, r.id_start), r.id_increment);
		END LOOP;
	END IF;
	p := helpdesk_proxy._placement(slug, held, part);
	IF held IS NULL THEN
		-- a new tenant: its id must come from a series no other node shares
		mine := array_position(nodes, helpdesk_proxy._node_of(p));
		FOR i IN 1 .. coalesce(array_length(nodes, 1), 0) LOOP
			IF i <> mine AND (incs[i] <> incs[mine] OR residues[i] = residues[mine]) THEN
				RAISE EXCEPTION USING ERRCODE = '55000',
					MESSAGE = format('the nodes of partitions %s and %s give tenant ids from overlapping series (increment %s and %s, residue %s and %s)',
						nodes[mine], nodes[i], incs[mine], incs[i], residues[mine], residues[i]),
					HINT = 'Prepare each node with ALTER SEQUENCE helpdesk.tenant_id_seq INCREMENT BY 1024 START WITH k RESTART, k distinct per node (docs/scale-out.md).';
			END IF;
		END LOOP;
	END IF;
	id := helpdesk_proxy._upsert_tenant_at(p, slug, name, bot_enabled, heartbeat_interval, heartbeat_misses, settings);
	PERFORM helpdesk_proxy._record_tenant(id, slug, p);
	RETURN id;
END
$$;
COMMENT ON FUNCTION helpdesk_proxy.upsert_tenant_on(integer, text, text, boolean, interval, integer, jsonb) IS
	'helpdesk.upsert_tenant on a given partition (NULL: the tenant''s, or the least loaded for a new one); a tenant that exists keeps its partition (55000 when another node is asked for).';

CREATE FUNCTION helpdesk.upsert_tenant(slug text, name text, bot_enabled boolean DEFAULT NULL,
	heartbeat_interval interval DEFAULT NULL, heartbeat_misses integer DEFAULT NULL,
	settings jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN helpdesk_proxy.upsert_tenant_on(NULL, slug, name,
		bot_enabled, heartbeat_interval, heartbeat_misses, settings);
END
$$;
COMMENT ON FUNCTION helpdesk.upsert_tenant(text, text, boolean, interval, integer, jsonb) IS
	'Create or update a tenant by slug; NULL arguments keep stored values. Returns the tenant id. Proxy: a new tenant goes to the accepting partition with the fewest tenants (helpdesk_proxy.choose_partition).';

CREATE FUNCTION helpdesk.agent_login(tenant_slug text, external_id text, password text,
	ttl interval DEFAULT '12:00:00'::interval, OUT token text, OUT expires_at timestamp with time zone,
	OUT agent_id bigint, OUT role text, OUT reason text, OUT retry_after interval)
RETURNS record LANGUAGE plproxy STRICT AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.login_partition(tenant_slug);
$$;
COMMENT ON FUNCTION helpdesk.agent_login(text, text, text, interval) IS
	'Agent login by tenant slug, external id and password (see the node''s function). Proxy: runs on the node of the slug.';

-- grant_tenant / revoke_tenant: one tenant's node, or every node for NULL
-- (every tenant). Roles travel by name: each cluster has its own role oids.
CREATE FUNCTION helpdesk_proxy._tenant_binding_at(op text, role text, tenant_id bigint) RETURNS SETOF boolean
LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.tenant_partition(tenant_id);
	SELECT CASE WHEN op = 'grant' THEN helpdesk.grant_tenant(role::regrole, tenant_id)
	            ELSE helpdesk.revoke_tenant(role::regrole, tenant_id) END;
$$;
COMMENT ON FUNCTION helpdesk_proxy._tenant_binding_at(text, text, bigint) IS
	'Internal: grant_tenant or revoke_tenant on the node of one tenant.';
CREATE FUNCTION helpdesk_proxy._tenant_binding_all(op text, role text) RETURNS SETOF boolean
LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.node_partitions();
	SELECT CASE WHEN op = 'grant' THEN helpdesk.grant_tenant(role::regrole, NULL)
	            ELSE helpdesk.revoke_tenant(role::regrole, NULL) END;
$$;
COMMENT ON FUNCTION helpdesk_proxy._tenant_binding_all(text, text) IS
	'Internal: grant_tenant or revoke_tenant for every tenant, on every node.';

CREATE FUNCTION helpdesk.grant_tenant(role regrole, tenant_id bigint) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tenant_id IS NULL
		THEN (SELECT bool_or(x) FROM helpdesk_proxy._tenant_binding_all('grant', role::text) x)
		ELSE (SELECT x FROM helpdesk_proxy._tenant_binding_at('grant', role::text, tenant_id) x) END
$$;
COMMENT ON FUNCTION helpdesk.grant_tenant(regrole, bigint) IS
	'Bind a role to a tenant (NULL: every tenant). Proxy: on the tenant''s node, or on every node for NULL (true when any node added the binding); the role must exist on the proxy and the nodes under the same name.';
CREATE FUNCTION helpdesk.revoke_tenant(role regrole, tenant_id bigint) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tenant_id IS NULL
		THEN (SELECT bool_or(x) FROM helpdesk_proxy._tenant_binding_all('revoke', role::text) x)
		ELSE (SELECT x FROM helpdesk_proxy._tenant_binding_at('revoke', role::text, tenant_id) x) END
$$;
COMMENT ON FUNCTION helpdesk.revoke_tenant(regrole, bigint) IS
	'Unbind a role from a tenant (NULL: the every-tenant binding). Proxy: as grant_tenant.';
