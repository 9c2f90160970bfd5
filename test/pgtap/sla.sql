-- SLA policies and clocks: every error path of upsert_sla_policy,
-- delete_sla_policy and ticket_sla, and the clock rules with real time and
-- the real dispatcher: policy order and conditions, due times on a calendar
-- and 24/7, a priority change moving the target, pending pausing and open
-- resuming the clock, resolve stopping it (hit) and a reopen resuming it,
-- next-response rounds, a reply after a breach closing the target as missed,
-- policy and calendar edits recomputing open tickets through the
-- dispatcher. No wrapping transaction (the dispatcher must see the rows);
-- this file's tenants are deleted at the end. About 8 s.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(109);

\ir fixtures.psql

SELECT 'sla' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset

\ir wait_until.psql

-- a ticket's column / a clock's column, read now
CREATE FUNCTION pg_temp.tk(name text) RETURNS helpdesk.ticket LANGUAGE sql VOLATILE AS
	$$ SELECT * FROM helpdesk.ticket WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx(name) $$;
CREATE FUNCTION pg_temp.clock(name text, tgt text, rnd integer DEFAULT 1) RETURNS helpdesk.ticket_sla
LANGUAGE sql VOLATILE AS
	$$ SELECT * FROM helpdesk.ticket_sla WHERE tenant_id = pg_temp.fx('ta') AND ticket_id = pg_temp.fx(name)
	   AND target = tgt AND round = rnd $$;
CREATE FUNCTION pg_temp.ticket(name text, customer text, priority text DEFAULT 'normal',
	issue_type text DEFAULT NULL, queue text DEFAULT NULL, channel text DEFAULT 'api') RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	INSERT INTO fx SELECT name, ticket_id FROM helpdesk.create_ticket(pg_temp.fx('ta'), pg_temp.fx(customer),
		'SLA ' || name, 'help', priority => priority, issue_type => issue_type,
		queue_id => CASE WHEN queue IS NOT NULL THEN pg_temp.fx(queue) END, channel => channel)
	RETURNING id
$$;

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant(:'run' || 'a', 'SLA A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant(:'run' || 'b', 'SLA B');
CREATE TEMP TABLE my_tenants AS SELECT pg_temp.fx('ta') AS id UNION ALL SELECT pg_temp.fx('tb');
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;
INSERT INTO fx SELECT 'q_billing', helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing');
INSERT INTO fx SELECT 'q_other', helpdesk.upsert_queue(pg_temp.fx('tb'), 'other', 'Other');
INSERT INTO fx SELECT 'agent', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana');
INSERT INTO fx SELECT 'c_plain', helpdesk.upsert_customer(pg_temp.fx('ta'), 'plain');
INSERT INTO fx SELECT 'c_vip', helpdesk.upsert_customer(pg_temp.fx('ta'), 'vip', vip_level => 7);
INSERT INTO fx SELECT 'cal', helpdesk.upsert_calendar(pg_temp.fx('ta'), 'office', 'Office', 'Asia/Shanghai',
	'{"mon": [["09:00", "12:00"], ["13:30", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
	  "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]}');
INSERT INTO fx SELECT 'cal_b', helpdesk.upsert_calendar(pg_temp.fx('tb'), 'office', 'Office B', 'UTC', '"24/7"');

------------------------------------------------------------------------------
-- upsert_sla_policy / delete_sla_policy / ticket_sla: errors
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(NULL, 'x', 1, '1 hour')$$,
	'22004', 'tenant_id must not be NULL', 'upsert_sla_policy: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), NULL, 1, '1 hour')$$,
	'22004', 'name must not be NULL', 'upsert_sla_policy: NULL name');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', NULL, '1 hour')$$,
	'22004', 'position must not be NULL', 'upsert_sla_policy: NULL position');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', warning_percent => NULL)$$,
	'22004', 'warning_percent must not be NULL', 'upsert_sla_policy: NULL warning_percent');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', enabled => NULL)$$,
	'22004', 'enabled must not be NULL', 'upsert_sla_policy: NULL enabled');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('no_tenant'), 'x', 1, '1 hour')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'upsert_sla_policy: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), '', 1, '1 hour')$$,
	'22023', 'name must be 1 to 200 characters long, got 0', 'upsert_sla_policy: empty name');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', -1, '1 hour')$$,
	'22023', 'position must be between 0 and 1000000, got -1', 'upsert_sla_policy: negative position');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1)$$,
	'22023', 'an SLA policy needs at least one target (first_response, next_response or resolution)',
	'upsert_sla_policy: no target');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '0 s')$$,
	'22023', 'first_response must be between 1 and 31622400 seconds', 'upsert_sla_policy: first_response 0');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, next_response => '-1 hour')$$,
	'22023', 'next_response must be between 1 and 31622400 seconds', 'upsert_sla_policy: negative next_response');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, resolution => '367 days')$$,
	'22023', 'resolution must be between 1 and 31622400 seconds', 'upsert_sla_policy: resolution over a year');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', calendar_id => pg_temp.fx('cal_b'))$$,
	'HD404', format('calendar %s does not exist in tenant %s', pg_temp.fx('cal_b'), pg_temp.fx('ta')),
	'upsert_sla_policy: another tenant''s calendar');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', priorities => '{}')$$,
	'22023', 'priorities must not be empty (NULL matches any)', 'upsert_sla_policy: empty priorities');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', priorities => '{high,critical}')$$,
	'22023', 'invalid priorities "critical"', 'upsert_sla_policy: unknown priority');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', priorities => '{high,NULL}')$$,
	'22023', 'priorities must not contain NULL', 'upsert_sla_policy: NULL priority');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', issue_types => '{""}')$$,
	'22023', 'issue_types must be 1 to 100 characters long, got 0', 'upsert_sla_policy: empty issue type');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', min_vip_level => 11)$$,
	'22023', 'min_vip_level must be between 0 and 10, got 11', 'upsert_sla_policy: vip level 11');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', channels => '{email}')$$,
	'22023', 'invalid channels "email"', 'upsert_sla_policy: unknown channel');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', queue_ids => '{}')$$,
	'22023', 'queue_ids must not be empty (NULL matches any)', 'upsert_sla_policy: empty queue_ids');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', queue_ids => ARRAY[pg_temp.fx('q_other')])$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('q_other'), pg_temp.fx('ta')),
	'upsert_sla_policy: another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', queue_ids => ARRAY[NULL::bigint])$$,
	'22023', 'queue_ids must not contain NULL', 'upsert_sla_policy: NULL queue id');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', warning_percent => 0)$$,
	'22023', 'warning_percent must be between 1 and 99, got 0', 'upsert_sla_policy: warning at 0 %');
SELECT throws_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'x', 1, '1 hour', warning_percent => 100)$$,
	'22023', 'warning_percent must be between 1 and 99, got 100', 'upsert_sla_policy: warning at 100 %');
SELECT is((SELECT count(*) FROM helpdesk.sla_policy WHERE tenant_id IN (SELECT id FROM my_tenants)), 0::bigint,
	'upsert_sla_policy: no failed call wrote a policy');
SELECT throws_ok($$SELECT helpdesk.delete_sla_policy(NULL, 1)$$,
	'22004', 'tenant_id must not be NULL', 'delete_sla_policy: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.delete_sla_policy(pg_temp.fx('ta'), NULL)$$,
	'22004', 'policy_id must not be NULL', 'delete_sla_policy: NULL policy_id');
SELECT throws_ok($$SELECT helpdesk.delete_sla_policy(pg_temp.fx('no_tenant'), 1)$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'delete_sla_policy: unknown tenant');
INSERT INTO fx SELECT 'p_b', helpdesk.upsert_sla_policy(pg_temp.fx('tb'), 'b', 1, '1 hour');
SELECT throws_ok($$SELECT helpdesk.delete_sla_policy(pg_temp.fx('ta'), pg_temp.fx('p_b'))$$,
	'HD404', format('SLA policy %s does not exist in tenant %s', pg_temp.fx('p_b'), pg_temp.fx('ta')),
	'delete_sla_policy: another tenant''s policy');
SELECT throws_ok($$SELECT * FROM helpdesk.ticket_sla(NULL, 1)$$,
	'22004', 'tenant_id must not be NULL', 'ticket_sla: NULL tenant_id');
SELECT throws_ok($$SELECT * FROM helpdesk.ticket_sla(pg_temp.fx('ta'), NULL)$$,
	'22004', 'ticket_id must not be NULL', 'ticket_sla: NULL ticket_id');

------------------------------------------------------------------------------
-- policy order and conditions
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'p_vip', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'vip', 1, '1 hour', min_vip_level => 5);
INSERT INTO fx SELECT 'p_urgent', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'urgent', 2, '10 minutes',
	resolution => '1 hour', priorities => '{urgent,high}');
INSERT INTO fx SELECT 'p_queue', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'billing', 3, '2 hours',
	queue_ids => ARRAY[pg_temp.fx('q_billing')]);
INSERT INTO fx SELECT 'p_channel', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'offline', 4, '3 hours', channels => '{offline}');
INSERT INTO fx SELECT 'p_issue', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'refund', 5, '4 hours', issue_types => '{refund}');
INSERT INTO fx SELECT 'p_off', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'disabled', 6, '1 second', enabled => false);
INSERT INTO fx SELECT 'p_default', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'default', 10, '8 hours',
	resolution => '3 days', calendar_id => pg_temp.fx('cal'));
SELECT is(helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'default', 10, '8 hours', resolution => '3 days',
	calendar_id => pg_temp.fx('cal')), pg_temp.fx('p_default'), 'upsert_sla_policy: the same name updates the same policy');

SELECT pg_temp.ticket('k_vip', 'c_vip', 'urgent');
SELECT pg_temp.ticket('k_urgent', 'c_plain', 'urgent');
SELECT pg_temp.ticket('k_queue', 'c_plain', queue => 'q_billing');
SELECT pg_temp.ticket('k_channel', 'c_plain', channel => 'offline');
SELECT pg_temp.ticket('k_issue', 'c_plain', issue_type => 'refund');
SELECT pg_temp.ticket('k_default', 'c_plain');
SELECT pg_temp.ticket('k_pause', 'c_plain', 'high');
SELECT is((pg_temp.tk('k_vip')).sla_policy_id, pg_temp.fx('p_vip'), 'policy: the first in order wins (VIP before urgent)');
SELECT is((pg_temp.tk('k_urgent')).sla_policy_id, pg_temp.fx('p_urgent'), 'policy: by priority');
SELECT is((pg_temp.tk('k_queue')).sla_policy_id, pg_temp.fx('p_queue'), 'policy: by queue');
SELECT is((pg_temp.tk('k_channel')).sla_policy_id, pg_temp.fx('p_channel'), 'policy: by channel');
SELECT is((pg_temp.tk('k_issue')).sla_policy_id, pg_temp.fx('p_issue'), 'policy: by issue type');
SELECT is((pg_temp.tk('k_default')).sla_policy_id, pg_temp.fx('p_default'), 'policy: a disabled one is skipped, the catch-all applies');
SELECT is((pg_temp.tk('k_default')).sla_state, 'active', 'sla_state: active while measured');

------------------------------------------------------------------------------
-- due times
------------------------------------------------------------------------------
SELECT is((pg_temp.tk('k_urgent')).sla_first_response_due, (pg_temp.tk('k_urgent')).created_at + interval '10 minutes',
	'due: 24/7 first response is created_at + the target');
SELECT is((pg_temp.tk('k_default')).sla_first_response_due,
	helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('cal'), (pg_temp.tk('k_default')).created_at, '8 hours'),
	'due: on the policy''s calendar');
SELECT is((pg_temp.tk('k_default')).sla_resolution_due,
	helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('cal'), (pg_temp.tk('k_default')).created_at, '3 days'),
	'due: resolution on the calendar (a day of target is 24 open hours)');
SELECT is((pg_temp.tk('k_default')).sla_next_at,
	helpdesk.business_time_add(pg_temp.fx('ta'), pg_temp.fx('cal'), (pg_temp.tk('k_default')).created_at, '6.4 hours'),
	'sla_next_at: the first-response warning at 80 %');

-- a priority change moves the ticket to another policy and its target
SELECT helpdesk.set_ticket_priority(pg_temp.fx('ta'), pg_temp.fx('k_default'), 'high', 'agent', pg_temp.fx('agent'));
SELECT is((pg_temp.tk('k_default')).sla_policy_id, pg_temp.fx('p_urgent'), 'priority change: the urgent/high policy applies');
SELECT is((pg_temp.tk('k_default')).sla_first_response_due, (pg_temp.tk('k_default')).created_at + interval '10 minutes',
	'priority change: the first response is due 10 minutes after creation (24/7)');
SELECT is((pg_temp.clock('k_default', 'first_response')).goal, interval '10 minutes', 'priority change: the clock''s goal follows');

------------------------------------------------------------------------------
-- pending pauses, open resumes, resolved stops, a reopen resumes
------------------------------------------------------------------------------
SELECT pg_sleep(0.3);
SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'pending', 'agent', pg_temp.fx('agent'));
SELECT is((pg_temp.tk('k_pause')).sla_first_response_due, NULL, 'pending: no first-response due time');
SELECT is((pg_temp.tk('k_pause')).sla_next_at, NULL, 'pending: nothing for the dispatcher');
SELECT is((pg_temp.clock('k_pause', 'resolution')).running_since, NULL, 'pending: the resolution clock is paused');
SELECT ok((pg_temp.clock('k_pause', 'resolution')).consumed >= interval '0.3 s', 'pending: the clock kept the open time before the pause');
SELECT pg_sleep(1);
SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'open', 'agent', pg_temp.fx('agent'));
SELECT is((pg_temp.tk('k_pause')).sla_resolution_due,
	(pg_temp.clock('k_pause', 'resolution')).running_since + interval '1 hour' - (pg_temp.clock('k_pause', 'resolution')).consumed,
	'open again: due = resume + what is left of the target');
SELECT ok((pg_temp.tk('k_pause')).sla_resolution_due >= (pg_temp.tk('k_pause')).created_at + interval '1 hour 1 second',
	'open again: the due time moved by the paused second');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'agent', pg_temp.fx('agent'), 'fixed?') > 0, true, 'agent reply');
SELECT is((pg_temp.clock('k_pause', 'first_response')).outcome, 'hit', 'agent reply: first response hit');
SELECT is((pg_temp.tk('k_pause')).sla_first_response_due, NULL, 'agent reply: no first-response due time');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'customer', pg_temp.fx('c_plain'), 'no') > 0, true, 'customer reply');
SELECT is((SELECT count(*) FROM helpdesk.ticket_sla WHERE ticket_id = pg_temp.fx('k_pause') AND target = 'next_response'), 0::bigint,
	'customer reply: the policy has no next-response target, so no clock');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'agent', pg_temp.fx('agent'), 'now?') > 0, true, 'agent reply again');
SELECT is((pg_temp.tk('k_pause')).sla_next_response_due, NULL, 'no next-response due time');
SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'resolved', 'agent', pg_temp.fx('agent'));
SELECT is((pg_temp.tk('k_pause')).sla_state, 'hit', 'resolved with no miss: hit');
SELECT is((pg_temp.clock('k_pause', 'resolution')).outcome, 'hit', 'resolved: the resolution clock stops as hit');
SELECT is((pg_temp.tk('k_pause')).sla_next_at, NULL, 'resolved: nothing left to fire');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_pause'), 'customer', pg_temp.fx('c_plain'), 'broken again') > 0, true,
	'customer reply reopens');
SELECT is((pg_temp.tk('k_pause')).status, 'open', 'reopened');
SELECT is((pg_temp.tk('k_pause')).sla_state, 'active', 'reopened: active again');
SELECT ok((pg_temp.clock('k_pause', 'resolution')).running_since IS NOT NULL AND (pg_temp.clock('k_pause', 'resolution')).outcome IS NULL,
	'reopened: the resolution clock runs on');

------------------------------------------------------------------------------
-- next response rounds; a reply after a breach is a miss
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'p_fast', helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'fast', 0, '1 second', next_response => '1 second',
	issue_types => '{fast}');
SELECT pg_temp.ticket('k_fast', 'c_plain', issue_type => 'fast');
SELECT ok(pg_temp.wait_until($$EXISTS (SELECT 1 FROM helpdesk.sla_event WHERE ticket_id = pg_temp.fx('k_fast')
	AND target = 'first_response' AND kind = 'breach')$$), 'breach: the dispatcher fires it');
SELECT is((SELECT array_agg(kind ORDER BY kind) FROM helpdesk.sla_event WHERE ticket_id = pg_temp.fx('k_fast')),
	'{breach,warning}', 'breach: one warning and one breach');
SELECT is((pg_temp.tk('k_fast')).sla_state, 'missed', 'breach: the ticket is missed');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_fast'), 'agent', pg_temp.fx('agent'), 'late') > 0, true, 'late agent reply');
SELECT is((pg_temp.clock('k_fast', 'first_response')).outcome, 'missed', 'a reply after the breach closes the target as missed');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_fast'), 'customer', pg_temp.fx('c_plain'), 'and?') > 0, true, 'customer waits');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_fast'), 'agent', pg_temp.fx('agent'), 'quick') > 0, true, 'quick answer');
SELECT is((pg_temp.clock('k_fast', 'next_response', 1)).outcome, 'hit', 'next response round 1: hit');
SELECT is(helpdesk.reply_ticket(pg_temp.fx('ta'), pg_temp.fx('k_fast'), 'customer', pg_temp.fx('c_plain'), 'one more') > 0, true, 'customer waits again');
SELECT ok((pg_temp.clock('k_fast', 'next_response', 2)).running_since IS NOT NULL, 'next response round 2 runs');
SELECT ok(pg_temp.wait_until($$EXISTS (SELECT 1 FROM helpdesk.sla_event WHERE ticket_id = pg_temp.fx('k_fast')
	AND target = 'next_response' AND kind = 'breach' AND round = 2)$$), 'next response round 2: breached');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND type = 'ticket.sla'
	AND audience = 'tenant' AND (payload->>'ticket_id')::bigint = pg_temp.fx('k_fast')),
	(SELECT count(*) FROM helpdesk.sla_event WHERE ticket_id = pg_temp.fx('k_fast')), 'one ticket.sla event for supervisors per SLA event');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND type = 'ticket.sla'
	AND audience = 'customer'), 0::bigint, 'ticket.sla is never sent to the customer');
SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx('k_fast'), 'resolved', 'agent', pg_temp.fx('agent'));
SELECT is((pg_temp.tk('k_fast')).sla_state, 'missed', 'resolved after a miss: still missed');
SELECT is((pg_temp.clock('k_fast', 'next_response', 2)).stopped_at IS NOT NULL, true, 'resolved: the next-response clock stops (Chatwoot #10178)');

------------------------------------------------------------------------------
-- policy and calendar edits recompute open tickets (through the dispatcher)
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT helpdesk.upsert_sla_policy(pg_temp.fx('ta'), 'billing', 3, '20 minutes',
	queue_ids => ARRAY[pg_temp.fx('q_billing')])$$, 'policy edit');
SELECT ok(pg_temp.wait_until($$(pg_temp.tk('k_queue')).sla_first_response_due = (pg_temp.tk('k_queue')).created_at + interval '20 minutes'$$),
	'policy edit: the open ticket''s due time follows');
SELECT lives_ok($$SELECT helpdesk.delete_sla_policy(pg_temp.fx('ta'), pg_temp.fx('p_channel'))$$, 'delete_sla_policy');
SELECT ok(pg_temp.wait_until($$(pg_temp.tk('k_channel')).sla_policy_id = pg_temp.fx('p_default')$$),
	'delete_sla_policy: its ticket gets the next matching policy');
SELECT lives_ok($$SELECT helpdesk.upsert_calendar(pg_temp.fx('ta'), 'office', 'Office', 'Asia/Shanghai', '"24/7"')$$, 'calendar edit');
-- the request is waited for first: a ticket created Tue-Fri between 09:00 and
-- 10:00 in Shanghai is due 8 hours later under the office hours too, so its
-- due time alone cannot tell whether the recompute ran yet
SELECT ok(pg_temp.wait_until($$NOT EXISTS (SELECT 1 FROM helpdesk.sla_recompute WHERE tenant_id = pg_temp.fx('ta'))$$),
	'recompute requests are worked off');
SELECT is((pg_temp.tk('k_channel')).sla_first_response_due, (pg_temp.tk('k_channel')).created_at + interval '8 hours',
	'calendar edit: the due time follows the new hours');
SELECT throws_ok($$SELECT * FROM helpdesk.ticket_sla(pg_temp.fx('tb'), pg_temp.fx('k_fast'))$$,
	'HD404', format('ticket %s does not exist in tenant %s', pg_temp.fx('k_fast'), pg_temp.fx('tb')), 'ticket_sla: another tenant''s ticket');

------------------------------------------------------------------------------
-- chat sessions: a first-response target per queue
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'q_chat', helpdesk.upsert_queue(pg_temp.fx('ta'), 'chat', 'Chat');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(NULL, pg_temp.fx('q_chat'), '1 s')$$,
	'22004', 'tenant_id must not be NULL', 'set_queue_sla: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), NULL, '1 s')$$,
	'22004', 'queue_id must not be NULL', 'set_queue_sla: NULL queue_id');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), pg_temp.fx('q_chat'), NULL)$$,
	'22004', 'chat_first_response must not be NULL', 'set_queue_sla: NULL target');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), pg_temp.fx('q_chat'), '0.5 s')$$,
	'22023', 'chat_first_response must be between 1 and 604800 seconds', 'set_queue_sla: under a second');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), pg_temp.fx('q_other'), '1 s')$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('q_other'), pg_temp.fx('ta')),
	'set_queue_sla: another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('no_tenant'), pg_temp.fx('q_chat'), '1 s')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'set_queue_sla: unknown tenant');
SELECT lives_ok($$SELECT helpdesk.set_queue_sla(pg_temp.fx('ta'), pg_temp.fx('q_chat'), '1 second')$$, 'set_queue_sla');
SELECT lives_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('ta'), pg_temp.fx('q_chat'), offer_mode => 'direct')$$,
	'the chat queue assigns directly');
INSERT INTO fx SELECT 'c_chat1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'chat1');
INSERT INTO fx SELECT 'c_chat2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'chat2');
-- nobody online: the first response is late
INSERT INTO fx SELECT 's_late', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c_chat1'),
	queue_id => pg_temp.fx('q_chat'));
SELECT is((SELECT sla_first_response_due - queued_at FROM helpdesk.session WHERE id = pg_temp.fx('s_late')),
	interval '1 second', 'chat: entering the queue sets the due time');
SELECT ok(pg_temp.wait_until($$(SELECT sla_breached_at IS NOT NULL AND sla_first_response_due IS NULL
	FROM helpdesk.session WHERE id = pg_temp.fx('s_late'))$$), 'chat: the dispatcher finds the breach');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND type = 'session.sla'
	AND audience = 'tenant' AND session_id = pg_temp.fx('s_late')), 1::bigint, 'chat: one session.sla event for supervisors');
-- an agent answers in time: no breach
INSERT INTO fx SELECT 'bo', helpdesk.upsert_agent(pg_temp.fx('ta'), 'bo', 'Bo');
SELECT lives_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('bo'), 'online')$$, 'an agent comes online');
INSERT INTO fx SELECT 's_ok', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('c_chat2'),
	queue_id => pg_temp.fx('q_chat'));
SELECT ok(pg_temp.wait_until($$(SELECT state = 'active' FROM helpdesk.session WHERE id = pg_temp.fx('s_ok'))$$, '0.8 s'),
	'chat: the session is assigned');
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s_ok'), 'agent', pg_temp.fx('bo'), 'hello')$$,
	'chat: the agent answers');
SELECT ok(pg_temp.wait_until($$(SELECT sla_first_response_due IS NULL FROM helpdesk.session WHERE id = pg_temp.fx('s_ok'))$$),
	'chat: checked at the due time');
SELECT is((SELECT sla_breached_at FROM helpdesk.session WHERE id = pg_temp.fx('s_ok')), NULL, 'chat: answered in time, no breach');

------------------------------------------------------------------------------
-- clean up
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT count(helpdesk.close_session(tenant_id, id)) FROM helpdesk.session
	WHERE tenant_id IN (SELECT id FROM my_tenants) AND state <> 'closed'$$, 'clean up: close open sessions');
SELECT lives_ok($$DELETE FROM helpdesk.dispatch_audit WHERE tenant_id IN (SELECT id FROM my_tenants)$$,
	'clean up: delete the audit rows');
SELECT lives_ok($$DELETE FROM helpdesk.session_assignment WHERE tenant_id IN (SELECT id FROM my_tenants)$$,
	'clean up: delete the assignment history');
SELECT lives_ok($$DELETE FROM helpdesk.tenant WHERE id IN (SELECT id FROM my_tenants)$$, 'clean up: delete the tenants');

SELECT * FROM finish();
