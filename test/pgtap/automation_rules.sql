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
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "send_message", "message": "x"}, {"type": "set_status", "status": "pending"}]}',
	'{"session": {"id": 12}}')->'actions',
	'[{"would": "send_message on session 12"}, {"error": "a set_status action needs a ticket, and this object has none"}]'::jsonb,
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

-- the session and ticket actions: each bad argument is 22023 naming the action and the field
CREATE FUNCTION pg_temp.bad_action(a jsonb, msg text, descr text) RETURNS text LANGUAGE sql AS $$
	SELECT throws_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L)', pg_temp.fx('ta'), 'act', 'message.created',
		'{"all": []}', jsonb_build_array(a)), '22023', msg, descr)
$$;
SELECT pg_temp.bad_action('{"type": "assign"}', 'a assign action''s "agent_id" must be a positive id, and it is missing', 'assign without agent_id');
SELECT pg_temp.bad_action('{"type": "assign", "agent_id": null}', 'a assign action''s "agent_id" must be a positive id', 'assign with a null agent_id (unassign is its own action)');
SELECT pg_temp.bad_action('{"type": "assign", "agent_id": "ana"}', 'a assign action''s "agent_id" must be a positive id', 'assign with a text agent_id');
SELECT pg_temp.bad_action('{"type": "assign", "agent_id": 0}', 'a assign action''s "agent_id" must be a positive id', 'assign with agent_id 0');
SELECT pg_temp.bad_action('{"type": "assign", "agent_id": 1.5}', 'a assign action''s "agent_id" must be a positive id', 'assign with a fractional agent_id');
SELECT pg_temp.bad_action('{"type": "transfer"}', 'a transfer action needs "queue_id" or "agent_id" (or both)', 'transfer to nowhere');
SELECT pg_temp.bad_action('{"type": "transfer", "queue_id": -3}', 'a transfer action''s "queue_id" must be a positive id', 'transfer to a negative queue');
SELECT pg_temp.bad_action('{"type": "transfer", "queue_id": 2, "agent_id": true}', 'a transfer action''s "agent_id" must be a positive id', 'transfer to a boolean agent');
SELECT pg_temp.bad_action('{"type": "set_queue"}', 'a set_queue action''s "queue_id" must be a positive id, and it is missing', 'set_queue without queue_id');
SELECT pg_temp.bad_action('{"type": "set_queue", "queue_id": [1]}', 'a set_queue action''s "queue_id" must be a positive id', 'set_queue with an array');
SELECT pg_temp.bad_action('{"type": "set_issue_type"}', 'a set_issue_type action needs "issue_type" (a code of 1 to 100 bytes)', 'set_issue_type without issue_type');
SELECT pg_temp.bad_action('{"type": "set_issue_type", "issue_type": ""}', 'a set_issue_type action needs "issue_type" (a code of 1 to 100 bytes)', 'set_issue_type empty');
SELECT pg_temp.bad_action(jsonb_build_object('type', 'set_issue_type', 'issue_type', repeat('x', 101)), 'a set_issue_type action needs "issue_type" (a code of 1 to 100 bytes)', 'set_issue_type too long');
SELECT pg_temp.bad_action('{"type": "set_priority", "priority": "extreme"}',
	'a set_priority action''s "priority" must be low, normal, high, urgent or (a session''s head start in seconds) an integer from -1000 to 1000, not "extreme"', 'set_priority with an unknown word');
SELECT pg_temp.bad_action('{"type": "set_priority", "priority": 5000}',
	'a set_priority action''s "priority" must be low, normal, high, urgent or (a session''s head start in seconds) an integer from -1000 to 1000, not "5000"', 'set_priority out of range');
SELECT pg_temp.bad_action('{"type": "set_status", "status": "done"}', 'a set_status action''s "status" must be open, pending, resolved or closed, not "done"', 'set_status with an unknown status');
SELECT pg_temp.bad_action('{"type": "unassign", "target": "customer"}', 'a unassign action''s "target" must be "session" or "ticket"', 'an unknown target');
SELECT pg_temp.bad_action('{"type": "resolve", "target": null}', 'a resolve action''s "target" must be "session" or "ticket"', 'a null target');
SELECT pg_temp.bad_action('{"type": "send_message", "message": "x", "target": "ticket"}', 'a send_message action takes no "target" (it acts on the session only)', 'send_message takes no target');
SELECT pg_temp.bad_action('{"type": "pending", "target": "session"}', 'a pending action takes no "target" (it acts on the ticket only)', 'pending takes no target');
SELECT pg_temp.bad_action('{"type": "add_note", "message": "x", "agent_id": "me"}', 'a add_note action''s "agent_id" must be a positive id', 'add_note with a bad author');
SELECT pg_temp.bad_action(jsonb_build_object('type', 'close', 'reason', repeat('r', 201)), 'a close action''s "reason" must be a text of at most 200 bytes', 'close with a long reason');
SELECT is((SELECT count(*) FROM helpdesk.automation_rule WHERE name = 'act'), 0::bigint, 'no bad action was stored');
SELECT lives_ok(format('SELECT helpdesk.upsert_rule(%s, %L, %L, %L, %L, wait_for => %L)', :ta, 'act', 'time.no_agent_reply', '{"all": []}',
	'[{"type": "assign", "agent_id": 7}, {"type": "unassign"}, {"type": "transfer", "queue_id": 2}, {"type": "transfer", "agent_id": 7, "queue_id": 2},
	  {"type": "set_queue", "queue_id": 2, "target": "ticket"}, {"type": "set_issue_type", "issue_type": "billing"}, {"type": "set_priority", "priority": -300},
	  {"type": "set_priority", "priority": "urgent"}, {"type": "resolve"}, {"type": "pending"}, {"type": "ask_csat", "target": "ticket"}]', '1 minute'),
	'every new action with good arguments is stored');

-- what a dry run says each new action would do: the session by default on session events,
-- the ticket on ticket events, "target" overriding
CREATE FUNCTION pg_temp.would(ev text, a jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT helpdesk.test_rule(pg_temp.fx('ta'), jsonb_build_object('conditions', '{"all": []}'::jsonb, 'actions', a),
		jsonb_build_object('event', jsonb_build_object('type', ev), 'session', '{"id": 12}'::jsonb, 'ticket', '{"id": 40}'::jsonb))->'actions'
$$;
SELECT is(pg_temp.would('time.no_agent_reply', '[{"type": "assign", "agent_id": 7}, {"type": "unassign"}, {"type": "transfer", "queue_id": 2},
	{"type": "transfer", "agent_id": 7, "queue_id": 2}, {"type": "set_queue", "queue_id": 3}, {"type": "set_issue_type", "issue_type": "billing"},
	{"type": "set_priority", "priority": "high"}, {"type": "set_priority", "priority": -50}, {"type": "resolve"}, {"type": "pending"}]'),
	'[{"would": "assign on session 12: to agent 7"}, {"would": "unassign on session 12"}, {"would": "transfer on session 12: to queue 2"},
	  {"would": "transfer on session 12: to agent 7 via queue 2"}, {"would": "set_queue on session 12: queue 3"},
	  {"would": "set_issue_type on session 12: billing"}, {"would": "set_priority on session 12: high (300 s of head start)"},
	  {"would": "set_priority on session 12: -50 (-50 s of head start)"}, {"would": "resolve on session 12"}, {"would": "pending on ticket 40"}]'::jsonb,
	'dry run on a session event: the session''s actions (pending is the ticket''s)');
SELECT is(pg_temp.would('ticket.updated', '[{"type": "assign", "agent_id": 7}, {"type": "unassign"}, {"type": "transfer", "queue_id": 2},
	{"type": "set_queue", "queue_id": 3}, {"type": "set_issue_type", "issue_type": "billing"}, {"type": "set_priority", "priority": "urgent"},
	{"type": "set_priority", "priority": 100}, {"type": "resolve"}, {"type": "unassign", "target": "session"}]'),
	'[{"would": "assign on ticket 40: to agent 7"}, {"would": "unassign on ticket 40"}, {"would": "transfer on ticket 40: to queue 2"},
	  {"would": "set_queue on ticket 40: queue 3"}, {"would": "set_issue_type on ticket 40: billing"}, {"would": "set_priority on ticket 40: urgent"},
	  {"error": "a ticket''s priority is low, normal, high or urgent, not 100"}, {"would": "resolve on ticket 40"},
	  {"would": "unassign on session 12"}]'::jsonb,
	'dry run on a ticket event: the ticket''s actions, a number refused as a ticket priority, target session overriding');
SELECT is(pg_temp.would('sla.breached', '[{"type": "set_queue", "queue_id": 3}]'),
	'[{"would": "set_queue on ticket 40: queue 3"}]'::jsonb, 'sla events act on the ticket');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "unassign"}, {"type": "pending"}, {"type": "assign", "agent_id": 3, "target": "ticket"}]}',
	'{"event": {"type": "session.created"}, "session": {"id": 12}}')->'actions',
	'[{"would": "unassign on session 12"}, {"error": "a pending action needs a ticket, and this object has none"},
	  {"error": "a assign action needs a ticket, and this object has none"}]'::jsonb, 'dry run: what is missing for each');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "transfer", "agent_id": 3}]}',
	'{"event": {"type": "time.pending"}, "ticket": {"id": 40}, "session": {"id": 12}}')->'actions',
	'[{"would": "transfer on ticket 40: to agent 3"}]'::jsonb, 'time.pending acts on the ticket');
-- ask_csat on a ticket: the dry run looks at the ticket
INSERT INTO fx SELECT 'tcust', helpdesk.upsert_customer(:ta, 'tap-rule-customer');
SELECT ticket_id AS tk FROM helpdesk.create_ticket(:ta, pg_temp.fx('tcust'), 'survey me', 'hello') \gset
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "ask_csat"}]}',
	format('{"event": {"type": "ticket.created"}, "ticket": {"id": %s}}', :tk)::jsonb)->'actions',
	format('[{"would": "ask_csat on ticket %s"}]', :tk)::jsonb, 'dry run: ask_csat on a ticket');
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "ask_csat"}]}',
	'{"event": {"type": "ticket.created"}, "ticket": {"id": 999999999}}')->'actions',
	'[{"error": "ticket 999999999 does not exist"}]'::jsonb, 'dry run: ask_csat on a ticket that does not exist');
SELECT is((SELECT count(*) FROM helpdesk.csat WHERE ticket_id = :tk), 0::bigint, 'a dry run asks nothing');
SELECT lives_ok(format('SELECT helpdesk.set_ticket_status(%s, %s, %L, %L)', :ta, :tk, s, 'system'), 'the ticket ' || s)
	FROM unnest(ARRAY['resolved', 'closed']) s;
SELECT is(helpdesk.test_rule(:ta, '{"conditions": {"all": []}, "actions": [{"type": "ask_csat"}]}',
	format('{"event": {"type": "ticket.created"}, "ticket": {"id": %s}}', :tk)::jsonb)->'actions',
	format('[{"error": "ticket %s is closed"}]', :tk)::jsonb, 'dry run: ask_csat on a closed ticket');
SELECT * FROM finish();
ROLLBACK;
