BEGIN;
SELECT * FROM no_plan();

-- Every error path of the trigger-task API (extension/automation/task_*.c)
-- with its SQLSTATE: 22004 NULL argument, 22023 invalid task JSON or
-- argument, HD404 unknown tenant or task (another tenant's included), HD409
-- the same task_id with a different body, HD422 cancelling a task that
-- fired or finished. Failed calls store nothing.

\ir fixtures.psql
\set QUIET 1

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-task-e-a', 'TAP task errors A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-task-e-b', 'TAP task errors B');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb \gset

-- a valid task, and the same with some top-level keys replaced
CREATE FUNCTION pg_temp.task(o jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('task_id', 'T1', 'type', 'send_after_reply',
		'customer', jsonb_build_object('id', 'customer_123', 'name', '小明'),
		'trigger', jsonb_build_object('type', 'customer_reply', 'keyword', '好的'),
		'action', jsonb_build_object('type', 'send_message', 'message', 'hello')) || o
$$;
CREATE FUNCTION pg_temp.bad(o jsonb, msg text, descr text) RETURNS text LANGUAGE sql AS $$
	SELECT throws_like(format('SELECT helpdesk.receive_task(%s, %L)', pg_temp.fx('ta'), pg_temp.task(o)),
		msg, descr)
$$;
CREATE FUNCTION pg_temp.bad_state(o jsonb, descr text) RETURNS text LANGUAGE sql AS $$
	SELECT throws_ok(format('SELECT helpdesk.receive_task(%s, %L)', pg_temp.fx('ta'), pg_temp.task(o)),
		'22023', NULL, descr)
$$;

-- NULLs and unknown tenants
SELECT throws_ok($$SELECT helpdesk.receive_task(NULL, '{}')$$, '22004', NULL, 'receive_task: NULL tenant_id');
SELECT throws_ok(format('SELECT helpdesk.receive_task(%s, NULL)', :ta), '22004', NULL, 'receive_task: NULL task');
SELECT throws_ok(format('SELECT helpdesk.receive_task(-1, %L)', pg_temp.task()), 'HD404', NULL, 'receive_task: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.receive_task(%s, %L)', :ta, '[1]'), '22023', NULL, 'receive_task: not an object');

-- task fields
SELECT pg_temp.bad_state('{"task_id": null}', 'task_id missing');
SELECT pg_temp.bad_state('{"task_id": ""}', 'task_id empty');
SELECT pg_temp.bad_state(jsonb_build_object('task_id', repeat('x', 201)), 'task_id too long');
SELECT pg_temp.bad_state('{"task_id": {"a": 1}}', 'task_id not a string');
SELECT pg_temp.bad_state('{"type": null}', 'type missing');
SELECT pg_temp.bad_state('{"customer": "x"}', 'customer not an object');
SELECT pg_temp.bad_state(jsonb_build_object('customer', jsonb_build_object('id', repeat('c', 201))), 'customer.id too long');
SELECT pg_temp.bad_state('{"trigger": null}', 'trigger missing');
SELECT pg_temp.bad_state('{"trigger": []}', 'trigger not an object');
SELECT pg_temp.bad_state('{"trigger": {"keyword": "x"}}', 'trigger.type missing');
SELECT pg_temp.bad('{"trigger": {"type": "customer_said", "keyword": "x"}}', '%trigger.type%', 'unknown trigger type');
SELECT pg_temp.bad('{"trigger": {"type": "customer_reply"}}', '%needs task.trigger.keyword%', 'customer_reply without keyword');
SELECT pg_temp.bad('{"trigger": {"type": "customer_reply", "keyword": "   "}}', '%must not be empty or only spaces%', 'keyword only spaces');
SELECT pg_temp.bad('{"trigger": {"type": "customer_reply", "keyword": "\u3000"}}', '%must not be empty or only spaces%', 'keyword only an ideographic space');
SELECT pg_temp.bad_state(jsonb_build_object('trigger', jsonb_build_object('type', 'customer_reply', 'keyword', repeat('k', 201))), 'keyword too long');
SELECT pg_temp.bad('{"trigger": {"type": "customer_keyword"}}', '%keywords (one or more)%', 'customer_keyword without keywords');
SELECT pg_temp.bad('{"trigger": {"type": "customer_keyword", "keywords": []}}', '%keywords (one or more)%', 'customer_keyword with []');
SELECT pg_temp.bad('{"trigger": {"type": "customer_keyword", "keywords": "好的"}}', '%array of strings%', 'keywords not an array');
SELECT pg_temp.bad('{"trigger": {"type": "customer_keyword", "keywords": ["好的", 3]}}', '%array of strings%', 'keywords with a number');
SELECT pg_temp.bad('{"trigger": {"type": "customer_keyword", "keywords": ["好的", ""]}}', '%every task.trigger.keywords entry must not be empty%', 'keywords with an empty one');
SELECT pg_temp.bad_state(jsonb_build_object('trigger', jsonb_build_object('type', 'customer_keyword',
	'keywords', (SELECT jsonb_agg('k' || i) FROM generate_series(1, 101) i))), 'more than 100 keywords');
SELECT pg_temp.bad('{"trigger": {"type": "customer_reply", "keyword": "x", "exact_match": "yes"}}', '%exact_match must be true or false%', 'exact_match not boolean');
SELECT pg_temp.bad('{"customer": null, "trigger": {"type": "specified_customer_reply", "keyword": "x"}}', '%needs task.trigger.customer_id%', 'specified without a customer');
SELECT pg_temp.bad('{"trigger": {"type": "time_reach"}}', '%task.trigger.time is required%', 'time_reach without time');
SELECT pg_temp.bad('{"trigger": {"type": "time_reach", "time": "tomorrow"}}', '%task.trigger.time must be%', 'time_reach with words');
SELECT throws_ok(format('SELECT helpdesk.receive_task(%s, %L)', :ta,
	pg_temp.task('{"trigger": {"type": "time_reach", "time": "2026-13-45 09:00:00"}}')), '22008', NULL, 'time_reach with an impossible date');
SELECT pg_temp.bad_state('{"action": null}', 'action missing');
SELECT pg_temp.bad('{"action": {"type": "call"}}', '%task.action.type%', 'unknown action type');
SELECT pg_temp.bad('{"action": {"type": "send_message"}}', '%task.action.message is required%', 'send_message without message');
SELECT pg_temp.bad('{"action": {"type": "send_file", "file_name": "a.pdf"}}', '%task.action.file_url is required%', 'send_file without file_url');
SELECT pg_temp.bad('{"action": {"type": "send_file", "file_url": "ftp://x/a.pdf"}}', '%http or https URL%', 'send_file with ftp');
SELECT pg_temp.bad('{"priority": "urgent"}', '%task.priority%', 'unknown priority');
SELECT pg_temp.bad('{"timeout_hours": 0}', '%timeout_hours must be a whole number%', 'timeout_hours 0');
SELECT pg_temp.bad('{"timeout_hours": 1.5}', '%timeout_hours must be a whole number%', 'timeout_hours fractional');
SELECT pg_temp.bad('{"timeout_hours": "24"}', '%timeout_hours must be a whole number%', 'timeout_hours a string');
SELECT pg_temp.bad('{"timeout_hours": 8761}', '%timeout_hours must be a whole number%', 'timeout_hours over a year');
SELECT pg_temp.bad('{"callback_url": "mailto:a@b"}', '%task.callback_url must be an http or https URL%', 'callback_url not http');
SELECT pg_temp.bad('{"callback_url": "http://a b/"}', '%must not contain spaces%', 'callback_url with a space');
SELECT pg_temp.bad_state(jsonb_build_object('created_by', repeat('x', 201)), 'created_by too long');
SELECT is((SELECT count(*) FROM helpdesk.trigger_task), 0::bigint, 'no failed receive stored anything');

-- idempotency: the same body again answers it; another body under the same id is HD409
SELECT is(helpdesk.receive_task(:ta, pg_temp.task()), '{"task_id": "T1", "status": "pending"}'::jsonb, 'first receive');
SELECT is(helpdesk.receive_task(:ta, pg_temp.task('{"type": "send_after_reply"}')), '{"task_id": "T1", "status": "pending"}'::jsonb,
	'the same body again (key order aside) answers the stored task');
SELECT throws_ok(format('SELECT helpdesk.receive_task(%s, %L)', :ta, pg_temp.task('{"priority": "high"}')),
	'HD409', NULL, 'receive_task: another body under the same task_id');
SELECT lives_ok(format('SELECT helpdesk.receive_task(%s, %L)', :tb, pg_temp.task('{"priority": "high"}')),
	'the same task_id in another tenant is another task');

-- task_status
SELECT throws_ok('SELECT helpdesk.task_status(NULL, ''T1'')', '22004', NULL, 'task_status: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.task_status(%s, NULL)', :ta), '22004', NULL, 'task_status: NULL task_id');
SELECT throws_ok('SELECT helpdesk.task_status(-1, ''T1'')', 'HD404', NULL, 'task_status: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.task_status(%s, %L)', :ta, 'nope'), 'HD404', NULL, 'task_status: unknown task');

-- cancel_task
SELECT throws_ok('SELECT helpdesk.cancel_task(NULL, ''T1'')', '22004', NULL, 'cancel_task: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.cancel_task(%s, NULL)', :ta), '22004', NULL, 'cancel_task: NULL task_id');
SELECT throws_ok('SELECT helpdesk.cancel_task(-1, ''T1'')', 'HD404', NULL, 'cancel_task: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.cancel_task(%s, %L)', :ta, 'nope'), 'HD404', NULL, 'cancel_task: unknown task');
SELECT throws_ok(format('SELECT helpdesk.cancel_task(%s, %L, %L)', :ta, 'T1', repeat('r', 501)), '22023', NULL, 'cancel_task: reason too long');
SELECT is(helpdesk.cancel_task(:ta, 'T1', '客户取消订单')->>'status', 'cancelled', 'cancel a pending task');
SELECT is(helpdesk.cancel_task(:ta, 'T1', 'again')->>'cancel_reason', '客户取消订单', 'cancelling again answers it unchanged');
UPDATE helpdesk.trigger_task SET status = 'completed', due_at = NULL, triggered_at = now()
	WHERE tenant_id = :tb AND task_id = 'T1';
SELECT throws_like(format('SELECT helpdesk.cancel_task(%s, %L)', :tb, 'T1'), '%is completed and can no longer be cancelled%',
	'cancel_task: a completed task (HD422)');
SELECT throws_ok(format('SELECT helpdesk.cancel_task(%s, %L)', :tb, 'T1'), 'HD422', NULL, 'cancel_task: HD422');

-- list_tasks
SELECT throws_ok('SELECT helpdesk.list_tasks(NULL)', '22004', NULL, 'list_tasks: NULL tenant');
SELECT throws_ok('SELECT helpdesk.list_tasks(-1)', 'HD404', NULL, 'list_tasks: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.list_tasks(%s, status => %L)', :ta, 'done'), '22023', NULL, 'list_tasks: unknown status');
SELECT throws_ok(format('SELECT helpdesk.list_tasks(%s, page => 0)', :ta), '22023', NULL, 'list_tasks: page 0');
SELECT throws_ok(format('SELECT helpdesk.list_tasks(%s, page_size => 0)', :ta), '22023', NULL, 'list_tasks: page_size 0');
SELECT throws_ok(format('SELECT helpdesk.list_tasks(%s, page_size => 101)', :ta), '22023', NULL, 'list_tasks: page_size 101');

-- settings and the callback secret
SELECT throws_ok('SELECT helpdesk.set_task_settings(NULL)', '22004', NULL, 'set_task_settings: NULL tenant');
SELECT throws_ok('SELECT helpdesk.set_task_settings(-1)', 'HD404', NULL, 'set_task_settings: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.set_task_settings(%s, %L::text[])', :ta, '{}'), '22023', NULL, 'set_task_settings: no phrases');
SELECT throws_ok(format('SELECT helpdesk.set_task_settings(%s, %L::text[])', :ta, '{a,NULL}'), '22023', NULL, 'set_task_settings: NULL phrase');
SELECT throws_ok(format('SELECT helpdesk.set_task_settings(%s, %L::text[])', :ta, '{" "}'), '22023', NULL, 'set_task_settings: blank phrase');
SELECT throws_ok(format('SELECT helpdesk.set_task_settings(%s, time_zone => %L)', :ta, 'Mars/Olympus'), '22023', NULL, 'set_task_settings: unknown zone');
SELECT throws_ok('SELECT helpdesk.task_callback_secret(NULL)', '22004', NULL, 'task_callback_secret: NULL tenant');
SELECT throws_ok('SELECT helpdesk.task_callback_secret(-1)', 'HD404', NULL, 'task_callback_secret: unknown tenant');
SELECT matches(helpdesk.task_callback_secret(:ta), '^whsec_', 'a callback secret is made on first call');
SELECT is(helpdesk.task_callback_secret(:ta), helpdesk.task_callback_secret(:ta), 'and kept');
SELECT helpdesk.task_callback_secret(:ta) AS old_secret \gset
SELECT isnt(helpdesk.task_callback_secret(:ta, rotate => true), :'old_secret', 'rotate makes a new one');
SELECT helpdesk.task_callback_secret(:ta) AS cur_secret \gset
SELECT is((SELECT position(convert_to(:'cur_secret', 'UTF8') IN callback_secret) FROM helpdesk.automation_settings WHERE tenant_id = :ta),
	0, 'the callback secret is stored sealed, not in plain');
SELECT is((SELECT pg_typeof(callback_secret)::text FROM helpdesk.automation_settings WHERE tenant_id = :ta), 'bytea',
	'sealed (bytea: readers get no SELECT on it)');
SELECT ok((SELECT bool_and(after->>'callback_secret' IN ('[sealed]', '[sealed, changed]'))
	AND bool_or(after->>'callback_secret' = '[sealed, changed]') FROM helpdesk.config_audit
	WHERE tenant_id = :ta AND object_table = 'automation_settings' AND after->>'callback_secret' IS NOT NULL),
	'config audit: the callback secret shows as [sealed] / [sealed, changed] (rotate)');
SELECT is((SELECT count(*) FROM helpdesk.config_audit WHERE tenant_id = :ta AND (coalesce(before::text, '') || after::text) LIKE '%whsec_%'),
	0::bigint, 'no callback secret in plain in the config audit');
UPDATE helpdesk.automation_settings SET callback_secret = decode(repeat('00', 40), 'hex') WHERE tenant_id = :ta;
SELECT throws_ok(format('SELECT helpdesk.task_callback_secret(%s)', :ta), NULL, NULL, 'a tampered sealed secret does not open');

SELECT * FROM finish();
ROLLBACK;
