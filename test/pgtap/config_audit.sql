BEGIN;
SELECT * FROM no_plan();

-- config_audit: every configuration kind logged with who, when, which object,
-- before and after; secrets never in plain; state updates (presence, load,
-- workers' columns) not logged; direct DML logged; config_audit_log's
-- filters and its error paths.

\ir fixtures.psql

SELECT clock_timestamp() AS t0 \gset
INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('audit-a', 'Audit A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('audit-b', 'Audit B');
SELECT pg_temp.fx('t') AS t, pg_temp.fx('tb') AS tb \gset

SET LOCAL helpdesk.actor_agent_id = 42;
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(:t, 'main', 'Main', is_default => true);
INSERT INTO fx SELECT 'a', helpdesk.upsert_agent(:t, 'ana', 'Ana');
RESET helpdesk.actor_agent_id;
SELECT helpdesk.set_agent_password(:t, pg_temp.fx('a'), 'a long enough password');
SELECT helpdesk.set_agent_queue_limit(:t, pg_temp.fx('a'), pg_temp.fx('q'), 2);
SELECT helpdesk.upsert_issue_type(:t, 'billing', 'Billing', pg_temp.fx('q'));
SELECT helpdesk.upsert_urgency_rule(:t, 'angry', 'angry', 30);
INSERT INTO fx SELECT 'cal', helpdesk.upsert_calendar(:t, 'always', 'Always', 'UTC', '"24/7"');
SELECT helpdesk.upsert_sla_policy(:t, 'p', 1, first_response => '1 hour');
SELECT helpdesk.set_autoclose(:t, 'pending', true, '2 hours', '0');
SELECT helpdesk.set_system_text(:t, 'autoclose_resolved', 'en', 'Closed.');
INSERT INTO fx SELECT 'w', helpdesk.upsert_webhook(:t, 'w', 'http://192.0.2.1/hook', '{*}');
SELECT helpdesk.upsert_webhook(:t, 'w', 'http://192.0.2.1/hook', '{*}', secret => 'whsec_abcdefghijklmnopqrstuvwxyz012345');
SELECT helpdesk.upsert_bot(:t, 'b', 'webhook', 'https://bot.test/hook', 'whsec_' || repeat('y', 32));
SELECT helpdesk.upsert_app(:t, 'audit-app', 'Game') AS app_secret \gset
SELECT helpdesk.set_routing(:t, presence_grace => '2 minutes');
CREATE ROLE audit_role NOLOGIN;
SELECT helpdesk.grant_tenant('audit_role', :t);

SELECT is((SELECT array_agg(DISTINCT object_type ORDER BY object_type) FROM helpdesk.config_audit WHERE tenant_id = :t),
	ARRAY['agent', 'app', 'autoclose', 'bot', 'calendar', 'queue', 'routing', 'sla', 'system_text', 'tenant',
	      'tenant_grant', 'webhook'], 'every configuration kind is logged');
SELECT is((SELECT count(*) FROM helpdesk.config_audit WHERE tenant_id = :t AND (actor_role <> current_user
	OR at < :'t0'::timestamptz - interval '1 hour')), 0::bigint, 'who: the outer role; when: now');
SELECT is((SELECT array_agg(actor_agent_id ORDER BY id) FROM helpdesk.config_audit
	WHERE tenant_id = :t AND object_type IN ('queue', 'agent') AND object_table IN ('queue', 'agent') AND action = 'insert'),
	ARRAY[42, 42]::bigint[], 'the declared agent (helpdesk.actor_agent_id)');
SELECT is((SELECT after ->> 'name' FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'queue'),
	'Main', 'after: the new row');
SELECT is((SELECT object_key FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'agent_queue_limit'),
	pg_temp.fx('a') || '/' || pg_temp.fx('q'), 'a composite key joined by /');
SELECT is((SELECT before ->> 'presence_grace' || ' -> ' || (after ->> 'presence_grace') FROM helpdesk.config_audit
	WHERE tenant_id = :t AND object_table = 'tenant' AND action = 'update'), '00:01:00 -> 00:02:00',
	'set_routing: before and after');
SELECT is((SELECT count(*) FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'tenant'
	AND after ? 'updated_at'), 0::bigint, 'timestamps the workers keep are left out');

-- secrets: never in plain
SELECT is((SELECT count(*) FROM helpdesk.config_audit
	WHERE (before::text || after::text) LIKE '%abcdefghijklmnopqrstuvwxyz%'
	   OR (before::text || after::text) LIKE '%yyyyyyyy%'
	   OR coalesce(before::text, '') || coalesce(after::text, '') LIKE '%' || :'app_secret' || '%'), 0::bigint,
	'no secret in plain (webhook, bot, app)');
SELECT is((SELECT after ->> 'secret' FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'webhook'
	ORDER BY id DESC LIMIT 1), '[sealed, changed]', 'a new webhook secret: [sealed, changed]');
SELECT is((SELECT before ->> 'secret' FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'webhook'
	ORDER BY id DESC LIMIT 1), '[sealed]', 'before it: [sealed]');
SELECT is((SELECT (after ? 'hash') AND (after ->> 'hash') = '[sealed]' AND (after ->> 'salt') = '[sealed]'
	FROM helpdesk.config_audit WHERE tenant_id = :t AND object_table = 'agent_credential'), true,
	'a password: its hash and salt sealed');

-- state changes are not configuration
SELECT count(*) AS n_before FROM helpdesk.config_audit \gset
SELECT helpdesk.set_agent_status(:t, pg_temp.fx('a'), 'online');
SELECT helpdesk.agent_heartbeat(:t, ARRAY[pg_temp.fx('a')]);
UPDATE helpdesk.queue SET rr_cursor = 7 WHERE tenant_id = :t;
SELECT helpdesk.upsert_queue(:t, 'main', 'Main');	-- same values
SELECT is((SELECT count(*) FROM helpdesk.config_audit), :n_before::bigint,
	'presence, heartbeats, a worker''s cursor and an upsert that changes nothing: not logged');
SELECT helpdesk.logout_agent(:t, pg_temp.fx('a'));
SELECT is((SELECT count(*) FROM helpdesk.config_audit), :n_before::bigint, 'nor a logout (token version)');

-- direct DML is logged too, deletes with their before
UPDATE helpdesk.queue SET name = 'Renamed' WHERE tenant_id = :t;
DELETE FROM helpdesk.urgency_rule WHERE tenant_id = :t;
SELECT is((SELECT before ->> 'name' || ' -> ' || (after ->> 'name') FROM helpdesk.config_audit
	WHERE tenant_id = :t AND object_table = 'queue' ORDER BY id DESC LIMIT 1), 'Main -> Renamed', 'a direct UPDATE');
SELECT is((SELECT action || ' ' || (before ->> 'name') || ' ' || coalesce(after::text, 'null') FROM helpdesk.config_audit
	WHERE tenant_id = :t AND object_table = 'urgency_rule' ORDER BY id DESC LIMIT 1), 'delete angry null', 'a DELETE');

-- a restore (row_security = off, as pg_restore and pg_dump's scripts set it) is not a change
SELECT count(*) AS n_restore FROM helpdesk.config_audit \gset
SET LOCAL row_security = off;
SELECT helpdesk.upsert_queue(:t, 'restored', 'Restored');
SET LOCAL row_security = on;
SELECT is((SELECT count(*) FROM helpdesk.config_audit), :n_restore::bigint,
	'with row_security off (a restore): not logged');

-- config_audit_log: filters
SELECT is((SELECT count(*) FROM helpdesk.config_audit_log(:t)), (SELECT count(*) FROM helpdesk.config_audit
	WHERE tenant_id = :t), 'config_audit_log(tenant): all of it');
SELECT is((SELECT count(*) FROM helpdesk.config_audit_log(:t, object_type => 'webhook')), 2::bigint, 'by object type');
SELECT is((SELECT count(*) FROM helpdesk.config_audit_log(:t, to_at => :'t0')), 0::bigint, 'before t0: none');
SELECT is((SELECT count(*) FROM helpdesk.config_audit_log(:t, from_at => clock_timestamp())), 0::bigint,
	'from now: none');
SELECT is((SELECT bool_and(tenant_id = :t) FROM helpdesk.config_audit_log(:t)), true, 'only that tenant');
SELECT cmp_ok((SELECT count(DISTINCT tenant_id) FROM helpdesk.config_audit_log(NULL)), '>=', 2::bigint,
	'NULL: every tenant (for the superuser)');

-- its error paths: another tenant, every tenant
CREATE ROLE audit_admin LOGIN IN ROLE helpdesk_admin;
SELECT helpdesk.grant_tenant('audit_admin', :t);
SET LOCAL ROLE audit_admin;
SELECT cmp_ok((SELECT count(*) FROM helpdesk.config_audit_log(:t)), '>', 0::bigint, 'a bound admin reads its tenant''s log');
SELECT throws_ok(format('SELECT * FROM helpdesk.config_audit_log(%s)', :tb), '42501',
	'role audit_admin may not act for tenant ' || :tb, 'config_audit_log: another tenant');
SELECT throws_ok('SELECT * FROM helpdesk.config_audit_log(NULL)', '42501',
	'role audit_admin may not act for every tenant', 'config_audit_log: every tenant');
SELECT is((SELECT count(*) FROM helpdesk.config_audit WHERE tenant_id = :tb), 0::bigint,
	'row level security: the table shows it no row of B');
RESET ROLE;
SELECT is((SELECT actor_role FROM helpdesk.config_audit WHERE object_table = 'tenant_grant'
	AND object_key = 'audit_admin'), current_user::text, 'grant_tenant is logged');

-- the trigger refuses to be misused
SELECT throws_ok('SELECT helpdesk._config_audit()', '39P01', NULL, '_config_audit refuses a call outside a row trigger');
SELECT throws_ok('SELECT helpdesk._tenant_grant_changed()', '39P01', NULL, 'so does _tenant_grant_changed');

SELECT * FROM finish();
ROLLBACK;
