BEGIN;
SELECT * FROM no_plan();

-- Nothing forgotten (issue 16): every function of schema helpdesk has a grant
-- decision in helpdesk.function_grant (extension/access.sql) and exactly
-- that ACL; every table has row level security with a policy, every view
-- runs as its invoker; the group roles exist and cannot log in; readers
-- never get a bytea column; every function that takes no tenant id is
-- classified here, so a new one must be looked at.

SELECT is((SELECT string_agg(DISTINCT p.proname, ', ') FROM pg_proc p
	WHERE p.pronamespace = 'helpdesk'::regnamespace
	  AND NOT EXISTS (SELECT 1 FROM helpdesk.function_grant g WHERE g.function_name = p.proname)),
	NULL, 'every function of schema helpdesk has a grant decision');
SELECT is((SELECT string_agg(g.function_name, ', ') FROM helpdesk.function_grant g
	WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'helpdesk'::regnamespace
		AND p.proname = g.function_name)),
	NULL, 'every grant decision names a function that exists');

-- the ACL of each function: the owner, plus exactly the decided roles
SELECT is(
	(SELECT coalesce(array_agg(CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
		ORDER BY 1), '{}')
	 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	 WHERE a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE'),
	(SELECT coalesce(array_agg(r ORDER BY 1), '{}') FROM unnest(g.roles) r),
	format('EXECUTE on %s is granted as decided', p.oid::regprocedure))
FROM pg_proc p JOIN helpdesk.function_grant g ON g.function_name = p.proname
WHERE p.pronamespace = 'helpdesk'::regnamespace
ORDER BY p.oid::regprocedure::text;

SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity),
	NULL, 'every table of schema helpdesk has row level security enabled');
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p')
	  AND NOT EXISTS (SELECT 1 FROM pg_policy y WHERE y.polrelid = c.oid)),
	NULL, 'every table of schema helpdesk has a policy');
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p') AND c.relforcerowsecurity),
	NULL, 'no policy is forced on the owner (the API runs as the owner, RLS costs it nothing)');
-- the tenant tables' policy is the tenant predicate on their tenant column
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p')
	  AND NOT EXISTS (SELECT 1 FROM pg_policy y WHERE y.polrelid = c.oid
		AND pg_get_expr(y.polqual, y.polrelid) = 'helpdesk.may_read_tenant(tenant_id)'
		AND pg_get_expr(y.polwithcheck, y.polrelid) = 'helpdesk.may_read_tenant(tenant_id)')),
	NULL, 'every table with a tenant_id has the tenant policy on it');
SELECT is((SELECT string_agg(c.relname, ', ') FROM pg_class c
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind = 'v'
	  AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)),
	NULL, 'every view of schema helpdesk runs as its invoker (the policies apply through it)');

SELECT is((SELECT array_agg(rolname::text ORDER BY rolname) FROM pg_roles
	WHERE rolname LIKE 'helpdesk\_%' AND NOT rolcanlogin AND NOT rolsuper AND NOT rolbypassrls
	  AND rolname IN ('helpdesk_admin', 'helpdesk_supervisor', 'helpdesk_agent', 'helpdesk_qa',
		'helpdesk_api', 'helpdesk_bridge', 'helpdesk_reader')),
	ARRAY['helpdesk_admin', 'helpdesk_agent', 'helpdesk_api', 'helpdesk_bridge', 'helpdesk_qa',
		'helpdesk_reader', 'helpdesk_supervisor'], 'the seven group roles exist, NOLOGIN, without BYPASSRLS');

SELECT is((SELECT string_agg(a.attrelid::regclass || '.' || a.attname, ', ') FROM pg_attribute a
	JOIN pg_class c ON c.oid = a.attrelid
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
	  AND a.atttypid = 'bytea'::regtype
	  AND (has_column_privilege('helpdesk_reader', a.attrelid, a.attnum, 'SELECT')
	    OR has_column_privilege('helpdesk_qa', a.attrelid, a.attnum, 'SELECT')
	    OR has_column_privilege('helpdesk_admin', a.attrelid, a.attnum, 'SELECT'))),
	NULL, 'no bytea column (sealed secrets, hashes) is readable by helpdesk_reader or helpdesk_qa');
SELECT is(has_table_privilege('helpdesk_reader', 'helpdesk.agent_credential', 'SELECT')
	OR has_any_column_privilege('helpdesk_reader', 'helpdesk.agent_credential', 'SELECT'),
	false, 'helpdesk_reader cannot read agent_credential');
SELECT is((SELECT string_agg(DISTINCT c.relname, ', ') FROM pg_class c
	CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) priv
	CROSS JOIN unnest(ARRAY['PUBLIC', 'helpdesk_admin', 'helpdesk_supervisor', 'helpdesk_agent',
		'helpdesk_qa', 'helpdesk_api', 'helpdesk_bridge', 'helpdesk_reader']) r
	WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p', 'v')
	  AND has_table_privilege(CASE r WHEN 'PUBLIC' THEN 'public' ELSE r END, c.oid, priv)
	  AND NOT (c.relname IN ('import_customer', 'import_agent', 'import_queue', 'import_quick_reply')
		AND priv = 'INSERT' AND r IN ('helpdesk_admin', 'helpdesk_api'))),
	NULL, 'no role writes a table directly (only through the API; the import staging tables take COPY)');

-- every function without a tenant_id argument, classified: a new one must be
-- added here (and get its check) before this passes
SELECT is((SELECT string_agg(DISTINCT p.proname, ', ') FROM pg_proc p
	WHERE p.pronamespace = 'helpdesk'::regnamespace
	  AND NOT ('tenant_id' = ANY (coalesce(p.proargnames[1:p.pronargs], '{}')))
	  AND p.proname NOT IN (
		-- tenant found from its argument, then checked (access_matrix.sql)
		'agent_login', 'verify_token', 'verify_signed_request', 'presence_timeout_ms', 'player_call',
		-- every tenant needed (access_matrix.sql)
		'upsert_tenant', 'prune_events', 'prune_webhook_deliveries', 'prune_player_api',
		'cors_origins', 'metrics', 'index_messages', 'prune_uploads', 'run_retention',
		-- tenant-free answers: no tenant's data
		'transition_allowed', 'ticket_transition_allowed', 'event_position', 'event_log_id',
		'publisher_lag', 'worker_status', 'acts_for_all_tenants',
		-- no one may call them (internal, triggers)
		'_activate', '_agent_disable_bump', '_autoclose_pass', '_next_event_id', '_session_sla_start',
		'_tenant_grant_changed', '_config_audit', '_attachment_upload', '_api_app_changed',
		'_agent_routing_changed', '_tenant_placed_support',
		'_bucket', '_us', '_task_pass', '_fact_csat', '_fact_offer', '_fact_session', '_fact_sla',
		'_fact_ticket', '_fact_occupancy', '_local_days', '_report_query', '_rollup_days', '_rollup_recompute',
		'_rollup_reseen', '_rollup_from', '_session_facts', '_ticket_buckets',
		-- the import staging columns' defaults (the importing role evaluates them)
		'_import_tenant', '_import_id', '_import_line')),
	NULL, 'every function without a tenant id is classified');
SELECT is((SELECT string_agg(DISTINCT g.function_name, ', ') FROM helpdesk.function_grant g
	WHERE g.function_name LIKE '\_%' AND g.roles <> '{}'
	  AND g.function_name NOT IN ('_import_tenant', '_import_id', '_import_line')), NULL,
	'internal functions: no one (but the import staging defaults)');
SELECT is((SELECT string_agg(DISTINCT p.proname, ', ') FROM pg_proc p
	WHERE p.pronamespace = 'helpdesk'::regnamespace AND p.proname LIKE '\_%' AND p.prosecdef
	  AND p.proname NOT IN ('_autoclose_pass', '_task_pass', '_config_audit', '_upload_attachment')),
	NULL, 'internal functions are not SECURITY DEFINER (but the dispatcher stages tests call, the audit trigger and player_call''s attachment step)');

SELECT * FROM finish();
ROLLBACK;
