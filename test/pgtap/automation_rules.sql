BEGIN;
SELECT * FROM no_plan();

-- Automation rules (extension/automation/rule_*.c): every error path of
-- upsert_rule, delete_rule and test_rule with its SQLSTATE, and the
-- condition language evaluated by test_rule's dry run (each operator, AND,
-- OR, NOT, nested, missing fields, the trace, what the actions would do).

\ir fixtures.psql
\set QUIET 1

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-rule-a', 'TAP rules A');
SELECT pg_temp.fx('ta') AS ta \gset

CREATE FUNCTION pg_temp.bad(ev text, c jsonb, a jsonb, state text, descr text) RETURNS text LANGUAGE sql AS $$
	SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', pg_temp.fx('ta'), 'r', ev, c, a),
		state, NULL, descr)
$$;
\set ok_actions '[{"type": "send_message", "message": "hi"}]'

-- upsert_rule
SELECT throws_ok('SELECT helpdesk.upsert_rule(NULL, ''r'', ''message.created'', ''{}'', ''[]'')', '22004', NULL, 'upsert_rule: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, NULL, %L, %L, %L)', :ta, 'message.created', '{"all": []}', :'ok_actions'), '22004', NULL, 'upsert_rule: NULL name');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(-1, %L, %L, %L, %L)', 'r', 'message.created', '{"all": []}', :'ok_actions'), 'HD404', NULL, 'upsert_rule: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, '', 'message.created', '{"all": []}', :'ok_actions'), '22023', NULL, 'upsert_rule: empty name');
SELECT pg_temp.bad('message.sent', '{"all": []}', :'ok_actions', '22023', 'unknown event');
SELECT pg_temp.bad('message.created', '[]', :'ok_actions', '22023', 'conditions not an object');
SELECT pg_temp.bad('message.created', '{"all": {}}', :'ok_actions', '22023', 'all not an array');
SELECT pg_temp.bad('message.created', '{"all": [1]}', :'ok_actions', '22023', 'a condition not an object');
SELECT pg_temp.bad('message.created', '{"op": "equal", "value": 1}', :'ok_actions', '22023', 'no field');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "value": 1}', :'ok_actions', '22023', 'no op');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "op": "like", "value": 1}', :'ok_actions', '22023', 'unknown op');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "op": "equal"}', :'ok_actions', '22023', 'no value');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "op": "in", "value": "a"}', :'ok_actions', '22023', 'in without an array');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "op": "regex", "value": "("}', :'ok_actions', '2201B', 'a bad regex is refused at upsert');
SELECT pg_temp.bad('message.created', '{"field": "message.body", "op": "regex", "value": 3}', :'ok_actions', '22023', 'regex not a string');
SELECT pg_temp.bad('message.created', '{"not": [1]}', :'ok_actions', '22023', 'not with an array');
SELECT pg_temp.bad('message.created', '{"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": [{"all": []}]}]}]}]}]}]}]}]}]}',
	:'ok_actions', '54000', 'nested too deep (the JSON depth limit)');
SELECT pg_temp.bad('message.created', jsonb_build_object('all', (SELECT jsonb_agg(jsonb_build_object('field', 'x', 'op', 'present')) FROM generate_series(1, 51))),
	:'ok_actions', '22023', 'more than 50 conditions');
SELECT pg_temp.bad('message.created', '{"all": []}', '{}', '22023', 'actions not an array');
SELECT pg_temp.bad('message.created', '{"all": []}', '[]', '22023', 'no actions');
SELECT pg_temp.bad('message.created', '{"all": []}', (SELECT jsonb_agg('{"type": "close"}'::jsonb) FROM generate_series(1, 21)), '22023', 'more than 20 actions');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "explode"}]', '22023', 'unknown action');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"message": "x"}]', '22023', 'action without type');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "send_message"}]', '22023', 'send_message without message');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "add_note", "message": "x"}]', '22023', 'add_note without agent_id');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "set_priority"}]', '22023', 'set_priority without priority');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "set_status"}]', '22023', 'set_status without status');
SELECT pg_temp.bad('message.created', '{"all": []}', '[{"type": "add_tags", "tags": "x"}]', '22023', 'add_tags without an array');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, -1)', :ta, 'r', 'message.created', '{"all": []}', :'ok_actions'), '22023', NULL, 'negative position');
SELECT is((SELECT count(*) FROM helpdesk.automation_rule), 0::bigint, 'nothing stored by failed calls');
SELECT helpdesk.upsert_rule(:ta, 'r', 'message.created', '{"all": []}', :'ok_actions') AS r1 \gset
SELECT is(helpdesk.upsert_rule(:ta, 'r', 'session.closed', '{"any": []}', :'ok_actions', 5, false), :r1::bigint, 'upsert by name keeps the id');
SELECT is((SELECT event || ' ' || position || ' ' || enabled FROM helpdesk.automation_rule WHERE id = :r1), 'session.closed 5 false', 'and replaces the rest');
SELECT throws_ok('SELECT helpdesk.delete_rule(NULL, ''r'')', '22004', NULL, 'delete_rule: NULL tenant');
SELECT throws_ok('SELECT helpdesk.delete_rule(-1, ''r'')', 'HD404', NULL, 'delete_rule: unknown tenant');
SELECT is(helpdesk.delete_rule(:ta, 'r'), true, 'delete_rule');
SELECT is(helpdesk.delete_rule(:ta, 'r'), false, 'delete_rule again: false');

-- test_rule errors
SELECT throws_ok('SELECT helpdesk.test_rule(NULL, ''{}'', ''{}'')', '22004', NULL, 'test_rule: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.test_rule(%s, NULL, %L)', :ta, '{}'), '22004', NULL, 'test_rule: NULL rule');
SELECT throws_ok(format('SELECT helpdesk.test_rule(%s, %L, NULL)', :ta, '{}'), '22004', NULL, 'test_rule: NULL object');
SELECT throws_ok(format('SELECT helpdesk.test_rule(-1, %L, %L)', jsonb_build_object('conditions', '{"all": []}'::jsonb, 'actions', :'ok_actions'::jsonb), '{}'), 'HD404', NULL, 'test_rule: unknown tenant');
SELECT throws_ok(format('SELECT helpdesk.test_rule(%s, %L, %L)', :ta, '{"conditions": {"all": []}}', '{}'), '22023', NULL, 'test_rule: no actions');
SELECT throws_ok(format('SELECT helpdesk.test_rule(%s, %L, %L)', :ta, '{"conditions": {"all": []}, "actions": [{"type": "nope"}]}', '{}'), '22023', NULL, 'test_rule: bad action');

-- the condition language, through the dry run
CREATE FUNCTION pg_temp.m(c jsonb) RETURNS boolean LANGUAGE sql AS $$
	SELECT (helpdesk.test_rule(pg_temp.fx('ta'), jsonb_build_object('conditions', c,
		'actions', '[{"type": "send_message", "message": "x"}]'::jsonb),
		'{"message": {"body": "我要退款 refund please", "sender_kind": "customer", "id": 7},
		  "session": {"id": 3, "state": "active", "priority": 5, "queue_id": 2},
		  "customer": {"vip_level": 3, "language": "zh", "display_name": ""},
		  "ticket": {"tags": ["billing", "vip"], "priority": "high"}}'::jsonb)->>'matched')::boolean
$$;
SELECT is(pg_temp.m('{"field": "message.sender_kind", "op": "equal", "value": "customer"}'), true, 'equal');
SELECT is(pg_temp.m('{"field": "message.sender_kind", "op": "equal", "value": "agent"}'), false, 'equal, not');
SELECT is(pg_temp.m('{"field": "session.priority", "op": "equal", "value": 5.0}'), true, 'equal numbers as numbers');
SELECT is(pg_temp.m('{"field": "message.sender_kind", "op": "not_equal", "value": "agent"}'), true, 'not_equal');
SELECT is(pg_temp.m('{"field": "nowhere.x", "op": "not_equal", "value": "agent"}'), true, 'not_equal of a missing field');
SELECT is(pg_temp.m('{"field": "message.body", "op": "contains", "value": "退款"}'), true, 'contains (Chinese)');
SELECT is(pg_temp.m('{"field": "message.body", "op": "contains", "value": "Refund"}'), false, 'contains is case-sensitive');
SELECT is(pg_temp.m('{"field": "ticket.tags", "op": "contains", "value": "vip"}'), true, 'contains on an array: an element');
SELECT is(pg_temp.m('{"field": "ticket.tags", "op": "contains", "value": "vi"}'), false, 'contains on an array: not a substring');
SELECT is(pg_temp.m('{"field": "message.body", "op": "starts_with", "value": "我要"}'), true, 'starts_with');
SELECT is(pg_temp.m('{"field": "message.body", "op": "starts_with", "value": "退款"}'), false, 'starts_with, not');
SELECT is(pg_temp.m('{"field": "message.body", "op": "regex", "value": "re(fund|turn)"}'), true, 'regex');
SELECT is(pg_temp.m('{"field": "message.body", "op": "regex", "value": "^refund"}'), false, 'regex anchored');
SELECT is(pg_temp.m('{"field": "customer.language", "op": "in", "value": ["en", "zh"]}'), true, 'in');
SELECT is(pg_temp.m('{"field": "session.queue_id", "op": "in", "value": [1, 3]}'), false, 'in, not');
SELECT is(pg_temp.m('{"field": "customer.vip_level", "op": "gt", "value": 2}'), true, 'gt');
SELECT is(pg_temp.m('{"field": "customer.vip_level", "op": "gt", "value": 3}'), false, 'gt is strict');
SELECT is(pg_temp.m('{"field": "customer.vip_level", "op": "lt", "value": 10}'), true, 'lt numbers (3 < 10, not as text)');
SELECT is(pg_temp.m('{"field": "message.id", "op": "present"}'), true, 'present');
SELECT is(pg_temp.m('{"field": "customer.display_name", "op": "present"}'), false, 'present: empty text is not');
SELECT is(pg_temp.m('{"field": "message.attachment", "op": "present"}'), false, 'present: missing');
SELECT is(pg_temp.m('{"all": []}'), true, 'empty all');
SELECT is(pg_temp.m('{"any": []}'), false, 'empty any');
SELECT is(pg_temp.m('{"not": {"field": "message.sender_kind", "op": "equal", "value": "agent"}}'), true, 'not');
SELECT is(pg_temp.m('{"all": [{"field": "message.sender_kind", "op": "equal", "value": "customer"},
	{"any": [{"field": "customer.vip_level", "op": "gt", "value": 5}, {"field": "message.body", "op": "contains", "value": "退款"}]}]}'),
	true, 'AND of an OR group (not left to right)');
SELECT is(pg_temp.m('{"any": [{"all": [{"field": "customer.vip_level", "op": "gt", "value": 5}, {"field": "message.body", "op": "contains", "value": "退款"}]},
	{"field": "session.state", "op": "equal", "value": "queued"}]}'), false, 'OR of an AND group');

-- the trace and the actions of a dry run
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": [{"field": "message.body", "op": "contains", "value": "退款"}, {"field": "customer.vip_level", "op": "gt", "value": 5}]},
	"actions": [{"type": "send_message", "message": "x"}]}', '{"message": {"body": "退款"}, "customer": {"vip_level": 3}}'),
	'{"matched": false, "actions": [], "conditions": [{"op": "contains", "field": "message.body", "value": "退款", "actual": "退款", "result": true},
	  {"op": "gt", "field": "customer.vip_level", "value": 5, "actual": 3, "result": false}]}'::jsonb,
	'the trace names every test, its actual value and result; nothing would be done');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "send_message", "message": "x"}, {"type": "set_priority", "priority": "high"}]}',
	'{"session": {"id": 12}}')->'actions',
	'[{"would": "send_message on session 12"}, {"error": "a set_priority action needs a ticket, and this object has none"}]'::jsonb,
	'the actions it would do, and why one could not');
SELECT is((SELECT count(*) FROM helpdesk.message), 0::bigint, 'a dry run sends nothing');

-- time rules: wait_for (issue 18's time conditions)
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, 'tq', 'time.queued', '{"all": []}', :'ok_actions'),
	'22023', 'wait_for is required for the time rule event time.queued', 'time rule without wait_for');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', 'time.queued', '{"all": []}', :'ok_actions', '0.5 seconds'),
	'22023', 'wait_for must be between 1 and 7776000 seconds', 'wait_for under a second');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', 'time.pending', '{"all": []}', :'ok_actions', '91 days'),
	'22023', 'wait_for must be between 1 and 7776000 seconds', 'wait_for over 90 days');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', 'time.pending', '{"all": []}', :'ok_actions', '-1 hour'),
	'22023', 'wait_for must be between 1 and 7776000 seconds', 'negative wait_for');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', 'message.created', '{"all": []}', :'ok_actions', '1 hour'),
	'22023', 'wait_for is only for the time rules (event time.*), not message.created', 'wait_for on an event rule');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', 'time.later', '{"all": []}', :'ok_actions', '1 hour'),
	'22023', NULL, 'unknown time event');
SELECT lives_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'tq', e, '{"all": []}', :'ok_actions', '5 minutes'),
	'time rule ' || e) FROM unnest(ARRAY['time.no_agent_reply', 'time.queued', 'time.pending', 'time.no_customer_reply']) e;
SELECT is((SELECT event || ' ' || wait_for FROM helpdesk.automation_rule WHERE tenant_id = :ta AND name = 'tq'),
	'time.no_customer_reply 00:05:00', 'the last upsert of the time rule is stored with its wait_for');
SELECT lives_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, 'tq', 'message.created', '{"all": []}', :'ok_actions'),
	'a time rule becomes an event rule');
SELECT is((SELECT wait_for FROM helpdesk.automation_rule WHERE tenant_id = :ta AND name = 'tq'), NULL,
	'an event rule has no wait_for');
SELECT throws_ok(format('INSERT INTO helpdesk.automation_rule (tenant_id, name, event, actions) VALUES (%s, %L, %L, %L)', :ta, 'raw', 'time.queued', '[]'),
	'23514', NULL, 'the table refuses a time rule without wait_for');
-- send_webhook and ask_csat
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, 'wh', 'message.created', '{"all": []}', '[{"type": "send_webhook"}]'),
	'22023', 'a send_webhook action needs "webhook" (the external id of one of the tenant''s webhooks)', 'send_webhook without webhook');
SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, 'wh', 'message.created', '{"all": []}', '[{"type": "send_webhook", "webhook": ""}]'),
	'22023', NULL, 'send_webhook with an empty webhook');
SELECT lives_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', :ta, 'wh', 'message.created', '{"all": []}',
	'[{"type": "send_webhook", "webhook": "ops"}, {"type": "ask_csat"}]'), 'send_webhook and ask_csat are actions');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "send_webhook", "webhook": "nope"}]}', '{}')->'actions',
	'[{"error": "webhook \"nope\" does not exist in the tenant"}]', 'dry run: send_webhook to an unknown webhook');
SELECT helpdesk.upsert_webhook(:ta, 'ops', 'https://hooks.example/ops', '{ticket.created}') IS NOT NULL AS made \gset
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "send_webhook", "webhook": "ops"}]}', '{}')->'actions',
	'[{"would": "send_webhook to \"ops\""}]', 'dry run: send_webhook to a webhook of the tenant');
SELECT helpdesk.upsert_webhook(:ta, 'ops', 'https://hooks.example/ops', '{ticket.created}', enabled => false) IS NOT NULL AS made \gset
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "send_webhook", "webhook": "ops"}]}', '{}')->'actions',
	'[{"error": "webhook \"ops\" is disabled"}]', 'dry run: send_webhook to a disabled webhook');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "ask_csat"}]}', '{}')->'actions',
	'[{"error": "a ask_csat action needs a session, and this object has none"}]', 'dry run: ask_csat without a session');
SELECT * FROM finish();
ROLLBACK;
