-- Grants of the hand-written proxy functions: the same roles as the node's
-- functions of the same names (extension/access.sql; test/e2e/scale_proxy.sh
-- compares every proxied function's ACL with the node's). The generated
-- functions carry their grants in 10_api.sql. The wrappers run as the
-- caller, so the internal functions they call are granted to the same roles.
-- The directory's tables are the proxy owner's; helpdesk_reader may read them.

DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM (VALUES
		('helpdesk.upsert_tenant(text, text, boolean, interval, integer, jsonb)', 'helpdesk_admin'),
		('helpdesk_proxy.upsert_tenant_on(integer, text, text, boolean, interval, integer, jsonb)', 'helpdesk_admin'),
		('helpdesk_proxy._upsert_tenant_at(integer, text, text, boolean, interval, integer, jsonb)', 'helpdesk_admin'),
		('helpdesk_proxy._node_probe(integer, text)', 'helpdesk_admin'),
		('helpdesk_proxy._node_of(integer)', 'helpdesk_admin'),
		('helpdesk_proxy._record_tenant(bigint, text, integer)', 'helpdesk_admin'),
		('helpdesk_proxy._placement(text, integer, integer)', 'helpdesk_admin'),
		('helpdesk.agent_login(text, text, text, interval)', 'helpdesk_api'),
		('helpdesk.agent_login(text, text, text, interval)', 'helpdesk_bridge'),
		('helpdesk.grant_tenant(regrole, bigint)', 'helpdesk_admin'),
		('helpdesk.revoke_tenant(regrole, bigint)', 'helpdesk_admin'),
		('helpdesk_proxy._tenant_binding_at(text, text, bigint)', 'helpdesk_admin'),
		('helpdesk_proxy._tenant_binding_all(text, text)', 'helpdesk_admin'),
		('helpdesk.prune_events(interval)', 'helpdesk_admin'),
		('helpdesk.prune_webhook_deliveries(interval)', 'helpdesk_admin'),
		('helpdesk.prune_uploads(interval, interval)', 'helpdesk_admin'),
		('helpdesk.index_messages(integer)', 'helpdesk_admin'),
		('helpdesk.publisher_lag()', 'helpdesk_admin'),
		('helpdesk.publisher_lag()', 'helpdesk_reader'),
		('helpdesk_proxy._sum_at_every_node(text, interval, interval, integer)', 'helpdesk_admin'),
		('helpdesk_proxy._sum_at_every_node(text, interval, interval, integer)', 'helpdesk_reader'),
		('helpdesk.prune_player_api()', 'helpdesk_admin'),
		('helpdesk_proxy._prune_player_api_all()', 'helpdesk_admin'),
		('helpdesk.worker_status()', 'helpdesk_admin'),
		('helpdesk.worker_status()', 'helpdesk_reader'),
		('helpdesk.transition_allowed(text, text)', 'PUBLIC'),
		('helpdesk.ticket_transition_allowed(text, text)', 'PUBLIC')
	) v(fn, role)
	LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', g.fn);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', g.fn,
			CASE WHEN g.role = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(g.role) END);
	END LOOP;
END
$$;

-- the routing lookups every proxied call makes, as its caller
GRANT EXECUTE ON FUNCTION helpdesk_proxy.tenant_partition(bigint), helpdesk_proxy.tenant_partitions(bigint), helpdesk_proxy.slug_partition(text), helpdesk_proxy.login_partition(text),
	helpdesk_proxy.node_partitions(), helpdesk_proxy.tenant_bridge(bigint) TO PUBLIC;
REVOKE ALL ON FUNCTION helpdesk_proxy.choose_partition(), helpdesk_proxy._partition_changed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk_proxy.choose_partition() TO helpdesk_admin;
REVOKE ALL ON FUNCTION helpdesk_proxy.set_partition(integer, text, text, boolean, boolean) FROM PUBLIC;
-- PL/Proxy calls its configuration functions as the calling role
GRANT EXECUTE ON FUNCTION plproxy.get_cluster_version(text), plproxy.get_cluster_partitions(text),
	plproxy.get_cluster_config(text) TO PUBLIC;
GRANT USAGE ON SCHEMA plproxy TO PUBLIC;
GRANT SELECT ON helpdesk_proxy.partition, helpdesk_proxy.tenant_directory, helpdesk_proxy.config_version
	TO helpdesk_reader;
