-- Grants and row level security, decided in one place after every subsystem
-- (Makefile SQL_PARTS: before finish.sql). The same statements end
-- extension/upgrade/pg_helpdesk--0.1.0--0.2.0.sql. docs/security.md is the
-- generated view of this file (scripts/security_matrix); test/pgtap/
-- access_catalog.sql fails on a function without a row here, an ACL that
-- differs from it, a table without row level security or a view without
-- security_invoker.

-- The matrix. Letters: A helpdesk_admin, S helpdesk_supervisor, G
-- helpdesk_agent, Q helpdesk_qa, P helpdesk_api, B helpdesk_bridge, R
-- helpdesk_reader, * PUBLIC; '' no one (internal: triggers, workers, the
-- checks our own functions call).
DELETE FROM helpdesk.function_grant;
INSERT INTO helpdesk.function_grant (function_name, roles, why)
SELECT f, ARRAY(SELECT CASE c WHEN 'A' THEN 'helpdesk_admin' WHEN 'S' THEN 'helpdesk_supervisor'
		WHEN 'G' THEN 'helpdesk_agent' WHEN 'Q' THEN 'helpdesk_qa' WHEN 'P' THEN 'helpdesk_api'
		WHEN 'B' THEN 'helpdesk_bridge' WHEN 'R' THEN 'helpdesk_reader' WHEN '*' THEN 'PUBLIC' END
	FROM unnest(string_to_array(l, NULL)) c ORDER BY 1), w
FROM (VALUES
	-- internal
	('_activate', '', 'starts the workers at CREATE EXTENSION'),
	('_agent_disable_bump', '', 'trigger'),
	('_autoclose_pass', '', 'the dispatcher''s auto-close stage (tests call it as superuser)'),
	('_next_event_id', '', 'column default of event ids'),
	('_session_sla_start', '', 'trigger'),
	('_tenant_grant_changed', '', 'trigger'),
	('_config_audit', '', 'trigger'),
	('_announce_tenant_move', '', 'scripts/move-tenant, as the move''s operator (superuser)'),
	('_tenant_placed', '', 'the workers'' due-work filter (HD_PLACED)'),
	('_tenant_placed_support', '', 'planner support of _tenant_placed'),
	('_require_tenant', '', 'called inside our SECURITY DEFINER SQL functions'),
	('_moved_events_args', '', 'bridge_moved_events''s checks, inside it'),
	-- predicates anyone may evaluate
	('transition_allowed', '*', 'the session state machine, no data'),
	('ticket_transition_allowed', '*', 'the ticket state machine, no data'),
	('may_read_tenant', '*', 'row level security predicate'),
	('acts_for_all_tenants', '*', 'row level security predicate'),
	-- tenants, bindings, maintenance
	('upsert_tenant', 'A', 'creates or changes a tenant (needs every tenant)'),
	('set_tenant_language', 'A', 'tenant configuration'),
	('grant_tenant', 'A', 'binds a role to a tenant the caller acts for'),
	('revoke_tenant', 'A', 'unbinds'),
	('prune_events', 'A', 'maintenance of every tenant (needs every tenant)'),
	('prune_webhook_deliveries', 'A', 'maintenance of every tenant (needs every tenant)'),
	('prune_player_api', 'A', 'maintenance of every tenant (needs every tenant)'),
	('set_tenant_fence', 'A', 'moves a tenant between nodes: fences its calls on this node (needs every tenant)'),
	('worker_status', 'AR', 'workers of this database, no tenant data'),
	('publisher_lag', 'AR', 'a number, no tenant data'),
	('config_audit_log', 'ASR', 'who changed which configuration'),
	-- configuration
	('set_routing', 'A', 'tenant configuration'),
	('upsert_agent', 'A', 'agent directory'),
	('set_agent_role', 'A', 'agent directory'),
	('set_agent_password', 'A', 'agent credentials'),
	('set_agent_queue_limit', 'AS', 'staffing'),
	('set_agent_ticket_capacity', 'AS', 'staffing'),
	('upsert_queue', 'A', 'queue configuration'),
	('set_queue_routing', 'A', 'queue configuration'),
	('set_queue_sla', 'A', 'queue configuration'),
	('set_queue_max_wait_action', 'A', 'queue configuration'),
	('set_queue_ticket_strategy', 'A', 'queue configuration'),
	('upsert_issue_type', 'A', 'ticket configuration'),
	('upsert_urgency_rule', 'A', 'ticket configuration'),
	('set_ticket_settings', 'A', 'ticket configuration'),
	('upsert_calendar', 'A', 'calendars'),
	('upsert_sla_policy', 'A', 'SLA'),
	('delete_sla_policy', 'A', 'SLA'),
	('set_autoclose', 'A', 'auto-close'),
	('autoclose_settings', 'ASR', 'reads auto-close settings'),
	('set_csat', 'A', 'CSAT configuration'),
	('set_system_text', 'AS', 'system texts'),
	('upsert_webhook', 'A', 'webhooks'),
	('webhook_secret', 'A', 'shows a webhook''s signing secret'),
	('redeliver', 'A', 'webhook operations'),
	('replay_webhooks', 'A', 'webhook operations'),
	('upsert_bot', 'A', 'bots'),
	('delete_bot', 'A', 'bots'),
	('issue_bot_token', 'A', 'signs a webhook bot''s bridge token (configuration, like its secret)'),
	('revoke_bot_tokens', 'A', 'revokes a webhook bot''s bridge tokens'),
	('upsert_app', 'A', 'player API apps and their secrets'),
	('revoke_app', 'A', 'player API apps'),
	-- tokens, login, the signed player API
	('issue_token', 'APB', 'signs bridge tokens for customers and agents'),
	('verify_token', 'PB', 'checks a bridge token'),
	('agent_login', 'PB', 'the console''s login, through the bridge'),
	('logout_agent', 'ASGB', 'revokes an agent''s login tokens'),
	('verify_signed_request', 'PB', 'the player API''s signature check'),
	('rate_limit_hit', 'PB', 'the player API''s rate limits'),
	-- customers and sessions (the service side)
	('upsert_customer', 'APB', 'customer directory, from the game backend'),
	('start_session', 'PB', 'a customer starts a chat'),
	('request_agent', 'PB', 'a customer asks for a human'),
	('contact_support', 'PB', 'the offline form'),
	('submit_csat', 'PB', 'a customer''s survey answer'),
	('bot_reply', 'PB', 'an external bot answers'),
	('bot_bridge_answer', 'B', 'a bot token''s answer, through the bridge (checks the token''s bot and version)'),
	('bot_bridge_handoff', 'B', 'a bot token''s hand-off, through the bridge (checks the token''s bot and version)'),
	('handoff_to_agent', 'SPB', 'a bot or supervisor hands a chat to agents'),
	('post_message', 'SGPB', 'a message from a customer or an agent'),
	('close_session', 'SGPB', 'ends a chat'),
	('escalate_session', 'SGPB', 'turns a chat into a ticket'),
	('mark_delivered', 'SGPB', 'receipts'),
	('mark_read', 'SGPB', 'receipts'),
	-- agents at work
	('set_agent_status', 'SGB', 'presence'),
	('agent_heartbeat', 'SGB', 'presence'),
	('presence_timeout_ms', 'B', 'the bridge''s heartbeat period'),
	('accept_offer', 'SGB', 'routing'),
	('decline_offer', 'SGB', 'routing'),
	('claim_session', 'SGB', 'routing'),
	('transfer_session', 'SGB', 'routing'),
	('send_agent_message', 'SGB', 'agent to agent'),
	('queue_position', 'SGPB', 'a waiting customer''s place'),
	-- tickets
	('create_ticket', 'SGPB', 'tickets'),
	('reply_ticket', 'SGPB', 'tickets'),
	('add_ticket_note', 'SGB', 'internal notes'),
	('set_ticket_status', 'SGB', 'tickets'),
	('set_ticket_priority', 'SGB', 'tickets'),
	('set_ticket_tags', 'SGB', 'tickets'),
	('set_ticket_attributes', 'SGB', 'tickets'),
	('set_ticket_queue', 'SGB', 'tickets'),
	('assign_ticket', 'SGB', 'tickets'),
	('take_ticket', 'SGB', 'tickets'),
	('mark_ticket_delivered', 'SGPB', 'receipts'),
	('mark_ticket_read', 'SGPB', 'receipts'),
	('upsert_quick_reply', 'ASGB', 'quick replies'),
	('delete_quick_reply', 'ASGB', 'quick replies'),
	('search_quick_replies', 'SGB', 'quick replies'),
	('render_quick_reply', 'SGB', 'quick replies'),
	-- reads: transcripts, tickets, scores (QA and reporting too)
	('session_messages', 'ASGQPBR', 'transcripts'),
	('session_history', 'ASGQPBR', 'transcripts'),
	('customer_messages', 'ASGQPBR', 'transcripts'),
	('ticket_messages', 'ASGQPBR', 'ticket threads'),
	('get_ticket', 'ASGQPBR', 'tickets'),
	('list_tickets', 'ASGQPBR', 'tickets'),
	('ticket_sla', 'ASGQPBR', 'SLA state'),
	('bot_status', 'ASGQPBR', 'a session''s bot side'),
	('system_text', 'ASGPB', 'texts in a language'),
	('business_time_add', 'ASGPBR', 'calendar arithmetic'),
	('business_time_between', 'ASGPBR', 'calendar arithmetic'),
	-- the event log
	('events_since', 'PB', 'the event log (NULL tenant: needs every tenant)'),
	('bridge_events', 'B', 'the bridge''s read of the event log'),
	('bridge_subscriber', 'B', 'who a connecting bridge client is'),
	('bridge_moved_log', 'B', 'a client resuming from a moved tenant''s old log'),
	('bridge_moved_events', 'B', 'the bridge''s replay of a moved tenant''s old log'),
	('event_position', 'PBR', 'the log''s position'),
	('event_log_id', 'PBR', 'the log''s identity'),
	-- uploads, CORS, the player API's routes (security/40-42)
	('player_call', 'PB', 'one signed player API request'),
	('store_upload', 'PB', 'keeps an uploaded file'),
	('upload_info', 'B', 'the bridge serves an upload'),
	('upload_chunk', 'B', 'the bridge streams an upload'),
	('cors_origins', 'B', 'every tenant''s web origins, for the bridge (needs every tenant)'),
	('set_cors_origins', 'A', 'tenant configuration'),
	('prune_uploads', 'A', 'maintenance of every tenant (needs every tenant)'),
	('_upload_attachment', '', 'completes a player''s attachment inside player_call'),
	('_attachment_upload', '', 'trigger'),
	('_api_app_changed', '', 'trigger'),
	('_agent_routing_changed', '', 'trigger'),
	-- the console's reads through the bridge (bridge_api/10)
	('bridge_console_sessions', 'B', 'the console''s lists; trusts the kind and subject the bridge verified'),
	('bridge_console_customer', 'B', 'the console''s customer panel; trusts the verified subject'),
	('bridge_console_directory', 'B', 'the console''s agent and queue directory'),
	('bridge_history_before', 'B', 'the console''s and widget''s history paged backwards; trusts the verified subject'),
	-- trigger tasks and automation rules (automation/)
	('receive_task', 'APB', 'seed 003''s task API'),
	('cancel_task', 'APB', 'seed 003''s task API'),
	('task_status', 'ASPBR', 'seed 003''s task API'),
	('list_tasks', 'ASPBR', 'seed 003''s task API'),
	('set_task_settings', 'A', 'tenant configuration'),
	('task_callback_secret', 'A', 'shows the callbacks'' signing secret'),
	('upsert_rule', 'A', 'automation rules'),
	('delete_rule', 'A', 'automation rules'),
	('test_rule', 'AS', 'a dry run of a rule'),
	('_task_pass', '', 'the dispatcher''s task stage (tests call it as superuser)'),
	-- reports, rollups, dashboard (reports/00-39)
	('report_sessions', 'ASQPR', 'reports'),
	('report_agents', 'ASQPR', 'reports'),
	('report_tickets', 'ASQPR', 'reports'),
	('report_sla', 'ASQPR', 'reports'),
	('report_csat', 'ASQPR', 'reports'),
	('report_funnel', 'ASQPR', 'reports'),
	('rebuild_rollups', 'A', 'recomputes a range of rollups'),
	('set_report_settings', 'A', 'tenant configuration'),
	('set_queue_report_settings', 'A', 'queue configuration'),
	('_bucket', '', 'reports internals'),
	('_us', '', 'reports internals'),
	('_session_facts', '', 'reports internals'),
	('_fact_session', '', 'reports internals'),
	('_fact_offer', '', 'reports internals'),
	('_fact_ticket', '', 'reports internals'),
	('_fact_sla', '', 'reports internals'),
	('_fact_csat', '', 'reports internals'),
	('_fact_occupancy', '', 'reports internals'),
	('_ticket_buckets', '', 'reports internals'),
	('_rollup_recompute', '', 'reports internals'),
	('_rollup_reseen', '', 'reports internals'),
	('_rollup_days', '', 'reports internals'),
	('_rollup_from', '', 'reports internals'),
	('_local_days', '', 'reports internals'),
	('_report_check', '', 'reports internals'),
	('_report_query', '', 'reports internals'),
	-- metrics, import, search, retention (reports/40-79)
	('metrics', 'AB', 'every tenant''s Prometheus series (needs every tenant)'),
	('begin_import', 'AP', 'bulk import'),
	('run_import', 'AP', 'bulk import'),
	('import_errors', 'AP', 'bulk import'),
	('_import_tenant', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('_import_id', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('_import_line', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('search_messages', 'ASGQPB', 'search over chat and ticket history'),
	('search_tokens', '*', 'the search keys of a text, no data'),
	('index_messages', 'A', 'the search index job of every tenant (needs every tenant)'),
	('rebuild_search_index', 'A', 'search maintenance'),
	('set_message_retention', 'A', 'tenant configuration'),
	('retention_batch', 'A', 'retention maintenance'),
	('run_retention', 'A', 'the retention job of every tenant (needs every tenant)')
) m(f, l, w)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = 'helpdesk'::regnamespace AND p.proname = m.f);

-- Apply it: nothing for PUBLIC unless the matrix says so, then EXECUTE per row.
DO $$
DECLARE
	p record;
	r text;
BEGIN
	FOR p IN SELECT f.oid::regprocedure AS sig, g.roles
		FROM pg_catalog.pg_proc f
		LEFT JOIN helpdesk.function_grant g ON g.function_name = f.proname
		WHERE f.pronamespace = 'helpdesk'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', p.sig);
		FOREACH r IN ARRAY coalesce(p.roles, '{}')
		LOOP
			EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %s', p.sig,
				CASE r WHEN 'PUBLIC' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r) END);
		END LOOP;
	END LOOP;
END
$$;

-- The configuration audit (security/35_config_audit.sql, audit.c): a row
-- trigger on each configuration table, firing on the configuration columns
-- only (every column but the state ones listed, which the workers and the
-- presence path keep). Arguments: object type, key columns, tenant column,
-- the state columns. A later subsystem's configuration table (automation
-- rules...) gets a line here.
DO $$
DECLARE
	t record;
	cols text;
BEGIN
	FOR t IN SELECT * FROM (VALUES
		('tenant', 'tenant', 'id', 'id', ARRAY['created_at', 'updated_at', 'dispatch_error']),
		('agent', 'agent', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'status', 'last_seen_at',
			'load', 'status_changed_at', 'capacity_changed_at', 'presence_lost_at', 'status_before_loss',
			'missed_offers', 'last_activity_at', 'dispatch_error', 'open_tickets', 'last_ticket_at',
			'token_version']),
		('agent_credential', 'agent', 'agent_id', 'tenant_id', ARRAY['failed_attempts', 'locked_until',
			'last_failed_at', 'last_login_at']),
		('agent_queue_limit', 'agent', 'agent_id,queue_id', 'tenant_id', ARRAY[]::text[]),
		('queue', 'queue', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'rr_cursor',
			'ticket_rr_cursor', 'dispatch_error']),
		('issue_type', 'routing', 'code', 'tenant_id', ARRAY[]::text[]),
		('urgency_rule', 'routing', 'id', 'tenant_id', ARRAY[]::text[]),
		('calendar', 'calendar', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('sla_policy', 'sla', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('autoclose_setting', 'autoclose', 'rule', 'tenant_id', ARRAY['updated_at']),
		('system_text', 'system_text', 'key,language', 'tenant_id', ARRAY['updated_at']),
		('webhook', 'webhook', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'failing_since']),
		('bot', 'bot', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('api_app', 'app', 'app_id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('tenant_grant', 'tenant_grant', 'grantee', 'tenant_id', ARRAY['granted_at']),
		('automation_rule', 'rule', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('automation_settings', 'task_settings', 'tenant_id', 'tenant_id', ARRAY['updated_at']),
		('cors_origin', 'cors', 'origin', 'tenant_id', ARRAY['created_at']),
		('retention_setting', 'retention', 'tenant_id', 'tenant_id', ARRAY['events_done', 'updated_at'])
	) m(rel, kind, keys, tenant_col, state)
	WHERE pg_catalog.to_regclass('helpdesk.' || m.rel) IS NOT NULL
	LOOP
		-- by name: an upgraded table's column order differs from a fresh one's
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attname) INTO cols
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = ('helpdesk.' || t.rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attname <> ALL (t.state);
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS config_audit ON helpdesk.%I', t.rel);
		EXECUTE pg_catalog.format('CREATE TRIGGER config_audit AFTER INSERT OR DELETE OR UPDATE OF %s '
			'ON helpdesk.%I FOR EACH ROW EXECUTE FUNCTION helpdesk._config_audit(%L, %L, %L%s)',
			cols, t.rel, t.kind, t.keys, t.tenant_col,
			(SELECT pg_catalog.string_agg(pg_catalog.format(', %L', c), '') FROM unnest(t.state) c));
	END LOOP;
END
$$;

-- Row level security on every table of schema helpdesk: rows of the tenants
-- the current role may act for (tenant: its own row; the tables without a
-- tenant: only for roles acting for every tenant, except the state machines
-- and the grant matrix, which anyone may read). The owner, which our
-- SECURITY DEFINER functions run as, and superusers are not bound (not
-- FORCEd), so the API pays nothing. Readers (helpdesk_reader, helpdesk_qa, helpdesk_admin)
-- get SELECT on every column except bytea ones (sealed secrets, hashes,
-- uploaded content) and none on agent_credential; views run as the invoker,
-- so the same policies apply through them.
DO $$
DECLARE
	t record;
	cols text;
	pred text;
BEGIN
	FOR t IN SELECT c.oid::regclass AS rel, c.relname, c.relkind
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
		ORDER BY c.relname
	LOOP
		IF t.relkind = 'v' THEN
			EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', t.rel);
		ELSE
			IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.rel
				AND a.attname = 'tenant_id' AND NOT a.attisdropped) THEN
				pred := 'helpdesk.may_read_tenant(tenant_id)';
			ELSIF t.relname = 'tenant' THEN
				pred := 'helpdesk.may_read_tenant(id)';
			ELSIF t.relname IN ('session_transition', 'ticket_transition', 'function_grant') THEN
				pred := 'true';
			ELSE
				pred := 'helpdesk.acts_for_all_tenants()';
			END IF;
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
			EXECUTE pg_catalog.format('DROP POLICY IF EXISTS tenant_rows ON %s', t.rel);
			EXECUTE pg_catalog.format('CREATE POLICY tenant_rows ON %s USING (%s) WITH CHECK (%s)',
				t.rel, pred, pred);
		END IF;
		IF t.relname = 'agent_credential' THEN
			CONTINUE;
		END IF;
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
			INTO cols
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.atttypid <> 'bytea'::regtype;
		IF cols IS NOT NULL THEN
			EXECUTE pg_catalog.format('GRANT SELECT (%s) ON %s TO helpdesk_reader, helpdesk_qa, helpdesk_admin',
				cols, t.rel);
		END IF;
	END LOOP;
END
$$;
GRANT USAGE ON SCHEMA helpdesk TO helpdesk_admin, helpdesk_supervisor, helpdesk_agent,
	helpdesk_qa, helpdesk_api, helpdesk_bridge, helpdesk_reader;
-- The bulk import's staging tables are the one place a role writes rows
-- itself: COPY ... FROM STDIN after begin_import (reports/50_import.sql); the
-- rows' tenant comes from the session's import, under the tenant policy.
GRANT INSERT ON helpdesk.import_customer, helpdesk.import_agent, helpdesk.import_queue,
	helpdesk.import_quick_reply TO helpdesk_admin, helpdesk_api;
