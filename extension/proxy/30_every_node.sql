-- The calls about every tenant: maintenance and worker status, run once on
-- every node (helpdesk_proxy.node_partitions) and merged here. How each one
-- merges is in its comment and in docs/scale-out.md.

CREATE FUNCTION helpdesk_proxy._sum_at_every_node(call text, keep interval, grace interval, max_rows integer)
RETURNS SETOF bigint LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.node_partitions();
	SELECT CASE call
		WHEN 'prune_events' THEN helpdesk.prune_events(keep)
		WHEN 'prune_webhook_deliveries' THEN helpdesk.prune_webhook_deliveries(keep)
		WHEN 'prune_uploads' THEN helpdesk.prune_uploads(keep, grace)
		WHEN 'index_messages' THEN helpdesk.index_messages(max_rows)
		WHEN 'publisher_lag' THEN helpdesk.publisher_lag() END;
$$;
COMMENT ON FUNCTION helpdesk_proxy._sum_at_every_node(text, interval, interval, integer) IS
	'Internal: one bigint-valued maintenance call on every node.';

CREATE FUNCTION helpdesk.prune_events(keep interval DEFAULT '7 days'::interval) RETURNS bigint
LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(sum(x), 0)::bigint FROM helpdesk_proxy._sum_at_every_node('prune_events', keep, NULL, NULL) x
$$;
COMMENT ON FUNCTION helpdesk.prune_events(interval) IS
	'Delete published events older than keep. Proxy: on every node; the sum of the rows deleted.';

CREATE FUNCTION helpdesk.prune_webhook_deliveries(keep interval DEFAULT '30 days'::interval) RETURNS bigint
LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(sum(x), 0)::bigint FROM helpdesk_proxy._sum_at_every_node('prune_webhook_deliveries', keep, NULL, NULL) x
$$;
COMMENT ON FUNCTION helpdesk.prune_webhook_deliveries(interval) IS
	'Delete finished webhook deliveries older than keep. Proxy: on every node; the sum of the rows deleted.';

CREATE FUNCTION helpdesk.prune_uploads(keep interval DEFAULT '90 days'::interval, grace interval DEFAULT '1 day'::interval)
RETURNS bigint LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(sum(x), 0)::bigint FROM helpdesk_proxy._sum_at_every_node('prune_uploads', keep, grace, NULL) x
$$;
COMMENT ON FUNCTION helpdesk.prune_uploads(interval, interval) IS
	'Delete old and abandoned uploads. Proxy: on every node; the sum of the rows deleted.';

CREATE FUNCTION helpdesk.index_messages(max_events integer DEFAULT 100000) RETURNS bigint
LANGUAGE sql STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(sum(x), 0)::bigint FROM helpdesk_proxy._sum_at_every_node('index_messages', NULL, NULL, max_events) x
$$;
COMMENT ON FUNCTION helpdesk.index_messages(integer) IS
	'Bring the message search index up to date. Proxy: on every node, max_events each; the sum of the events indexed.';

CREATE FUNCTION helpdesk.publisher_lag() RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT max(x) FROM helpdesk_proxy._sum_at_every_node('publisher_lag', NULL, NULL, NULL) x
$$;
COMMENT ON FUNCTION helpdesk.publisher_lag() IS
	'Events committed but not yet published. Proxy: the largest over the nodes.';

CREATE FUNCTION helpdesk_proxy._prune_player_api_all(OUT nonces bigint, OUT counters bigint)
RETURNS SETOF record LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.node_partitions();
	TARGET helpdesk.prune_player_api;
$$;
COMMENT ON FUNCTION helpdesk_proxy._prune_player_api_all() IS
	'Internal: prune_player_api on every node.';
CREATE FUNCTION helpdesk.prune_player_api(OUT nonces bigint, OUT counters bigint) RETURNS record
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(sum(x.nonces), 0)::bigint, coalesce(sum(x.counters), 0)::bigint
	FROM helpdesk_proxy._prune_player_api_all() x
$$;
COMMENT ON FUNCTION helpdesk.prune_player_api() IS
	'Delete expired player API nonces and rate counters. Proxy: on every node; the sums.';

CREATE FUNCTION helpdesk.worker_status(OUT kind text, OUT state text, OUT pid integer, OUT restarts integer)
RETURNS SETOF record LANGUAGE plproxy AS $$
	CLUSTER 'helpdesk';
	RUN ON helpdesk_proxy.node_partitions();
$$;
COMMENT ON FUNCTION helpdesk.worker_status() IS
	'The workers of the helpdesk databases. Proxy: every node''s rows (pids are the nodes'' own).';

-- The state machines are the same on every node: any node answers.
CREATE FUNCTION helpdesk.transition_allowed(from_state text, to_state text) RETURNS boolean
LANGUAGE plproxy STRICT AS $$
	CLUSTER 'helpdesk';
	RUN ON ANY;
$$;
COMMENT ON FUNCTION helpdesk.transition_allowed(text, text) IS
	'Whether the session state machine allows from_state -> to_state. Proxy: any node answers.';
CREATE FUNCTION helpdesk.ticket_transition_allowed(from_status text, to_status text) RETURNS boolean
LANGUAGE plproxy STRICT AS $$
	CLUSTER 'helpdesk';
	RUN ON ANY;
$$;
COMMENT ON FUNCTION helpdesk.ticket_transition_allowed(text, text) IS
	'Whether the ticket state machine allows from_status -> to_status. Proxy: any node answers.';
