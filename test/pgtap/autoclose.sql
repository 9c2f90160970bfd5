BEGIN;
SELECT plan(66);

-- Auto-close: the settings and their errors, the schedule each ticket
-- change leaves on the ticket (rule, due time, warning), and the pass the
-- dispatcher runs, fired here through helpdesk._autoclose_pass(now) with a
-- clock hours ahead (the real dispatcher cannot see these uncommitted
-- tickets, and their due times are hours away): warnings, resolves and
-- closes with their thread entries in the customer's language, events,
-- exactly once, and customer replies before and after.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-ac', 'TAP auto-close');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-ac-2', 'TAP auto-close 2');
SELECT helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'a', helpdesk.upsert_agent(pg_temp.fx('t'), 'ana', 'Ana');
INSERT INTO fx SELECT 'c_zh', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-zh', '李雷');
INSERT INTO fx SELECT 'c_en', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-en', 'Lee', language => 'en');

CREATE FUNCTION pg_temp.ticket(customer text, subject text) RETURNS bigint LANGUAGE sql AS $$
	SELECT ticket_id FROM helpdesk.create_ticket(pg_temp.fx('t'), pg_temp.fx(customer), subject, 'help me')
$$;
CREATE FUNCTION pg_temp.sched(k bigint) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ', status, coalesce(autoclose_rule, '-'),
		(autoclose_due_at - autoclose_since)::text, autoclose_warned,
		(autoclose_due_at - autoclose_at)::text)
	FROM helpdesk.ticket WHERE id = k
$$;
CREATE FUNCTION pg_temp.last_entry(k bigint) RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' | ', sender_kind, type, body) FROM helpdesk.ticket_message
	WHERE ticket_id = k ORDER BY id DESC LIMIT 1
$$;
CREATE FUNCTION pg_temp.ac_events(k bigint) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg((payload ->> 'rule') || ':' || (payload ->> 'action'), ' ' ORDER BY id)
	FROM helpdesk.event WHERE type = 'ticket.autoclose' AND audience = 'tenant'
	  AND (payload ->> 'ticket_id')::bigint = k
$$;

------------------------------------------------------------------------------
-- settings
------------------------------------------------------------------------------
SELECT is((SELECT string_agg(concat_ws(' ', rule, enabled, close_after, coalesce(warn_before::text, '-')), ', ' ORDER BY rule)
           FROM helpdesk.autoclose_settings(pg_temp.fx('t'))),
	'pending t 3 days -, replied t 1 day -, resolved t 4 days -', 'defaults: 72 h, 24 h, 4 days, on, no warning');
SELECT lives_ok(format('SELECT helpdesk.set_autoclose(%s, %L, warn_before => %L)', pg_temp.fx('t'), 'pending', '1 hour'),
	'a warning for the pending rule');
SELECT is((SELECT concat_ws(' ', enabled, close_after, warn_before) FROM helpdesk.autoclose_settings(pg_temp.fx('t')) WHERE rule = 'pending'),
	't 3 days 01:00:00', 'the other fields keep their values');
SELECT lives_ok(format('SELECT helpdesk.set_autoclose(%s, %L, false)', pg_temp.fx('t2'), 'replied'), 'turn a rule off');
SELECT is((SELECT enabled FROM helpdesk.autoclose_settings(pg_temp.fx('t2')) WHERE rule = 'replied'), false, 'off');
SELECT lives_ok(format('SELECT helpdesk.set_autoclose(%s, %L, warn_before => %L)', pg_temp.fx('t2'), 'replied', '0'),
	'warn_before 0 removes the warning');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(NULL, %L)', 'pending'), '22004', 'tenant_id must not be NULL', 'set_autoclose: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, NULL)', pg_temp.fx('t')), '22004', 'rule must not be NULL', 'set_autoclose: NULL rule');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, %L)', pg_temp.fx('t'), 'solved'), '22023', 'invalid rule "solved"', 'set_autoclose: unknown rule');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, %L, close_after => %L)', pg_temp.fx('t'), 'pending', '0.5 seconds'),
	'22023', NULL, 'set_autoclose: close_after under 1 second');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, %L, close_after => %L)', pg_temp.fx('t'), 'pending', '400 days'),
	'22023', NULL, 'set_autoclose: close_after over a year');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, %L, warn_before => %L)', pg_temp.fx('t'), 'replied', '24 hours'),
	'22023', 'warn_before (86400 s) must be shorter than close_after (86400 s) of rule replied', 'set_autoclose: warning not before the close');
SELECT throws_ok(format('SELECT helpdesk.set_autoclose(%s, %L, warn_before => %L)', pg_temp.fx('t'), 'replied', '-1 hour'),
	'22023', NULL, 'set_autoclose: negative warning');
SELECT throws_ok($$SELECT helpdesk.set_autoclose(999999999, 'pending')$$, 'HD404', 'tenant 999999999 does not exist', 'set_autoclose: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.autoclose_settings(999999999)$$, 'HD404', 'tenant 999999999 does not exist', 'autoclose_settings: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.autoclose_settings(NULL)$$, '22004', 'tenant_id must not be NULL', 'autoclose_settings: NULL tenant');
SELECT throws_ok($$SELECT helpdesk._autoclose_pass(now(), 0)$$, '22023', 'max_rows must be between 1 and 100000, got 0', '_autoclose_pass: max_rows 0');

------------------------------------------------------------------------------
-- the schedule
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'k1', pg_temp.ticket('c_zh', 'pending one');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'new - f', 'a new ticket with the customer''s message: nothing scheduled');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), 'agent', pg_temp.fx('a'), 'which server?');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'open replied 1 day f 00:00:00', 'agent replied last: the replied rule, 24 h from the reply');
SELECT is((SELECT autoclose_since = last_agent_at FROM helpdesk.ticket WHERE id = pg_temp.fx('k1')), true, 'counted from last_agent_at');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), 'customer', pg_temp.fx('c_zh'), 'eu-1');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'open - f', 'the customer replied last: nothing scheduled');
SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k1'), 'pending', 'agent', pg_temp.fx('a'));
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'pending pending 3 days f 01:00:00', 'pending: 72 h, the warning an hour before');
SELECT helpdesk.set_ticket_priority(pg_temp.fx('t'), pg_temp.fx('k1'), 'high', 'agent', pg_temp.fx('a'));
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'pending pending 3 days f 01:00:00', 'a priority change leaves the schedule');
SELECT is(helpdesk._autoclose_pass(now() + interval '70 hours'), 0, 'nothing is due before the warning');

------------------------------------------------------------------------------
-- warning, then resolve, each once
------------------------------------------------------------------------------
SELECT is(helpdesk._autoclose_pass(now() + interval '71 hours 30 minutes'), 1, 'the warning fires');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'pending pending 3 days t 00:00:00', 'warned; next is the close');
SELECT is(pg_temp.last_entry(pg_temp.fx('k1')),
	'system | system | 我们一直在等待您的回复。如果您在1小时内没有回复，此工单将自动标记为已解决。',
	'the warning in the customer''s language (the tenant default, zh-CN) with the time left');
SELECT is(helpdesk._autoclose_pass(now() + interval '71 hours 40 minutes'), 0, 'the warning fires once');
SELECT is(helpdesk._autoclose_pass(now() + interval '72 hours 1 second'), 1, 'the close fires');
SELECT is((SELECT concat_ws(' ', status, resolved_by, resolution_count) FROM helpdesk.ticket WHERE id = pg_temp.fx('k1')),
	'resolved system 1', 'resolved by the system');
SELECT is((SELECT body FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k1') AND sender_kind = 'system' ORDER BY id DESC LIMIT 1),
	'由于3天内未收到您的回复，此工单已自动标记为已解决。如仍需帮助，请直接回复。', 'the entry says why, in zh-CN');
SELECT is(pg_temp.ac_events(pg_temp.fx('k1')), 'pending:warning pending:resolved', 'one event per firing');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE type = 'ticket.updated' AND audience = 'customer'
           AND (payload ->> 'ticket_id')::bigint = pg_temp.fx('k1') AND payload ->> 'actor_kind' = 'system'),
	1::bigint, 'the status change is a ticket.updated by the system');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'resolved resolved 4 days f 00:00:00', 'resolved: closes 4 days after');
SELECT is(helpdesk._autoclose_pass(now() + interval '72 hours 2 seconds'), 0, 'the resolve fires once');

-- a customer reply after the completed auto-resolve reopens it (within the reopen window)
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), 'customer', pg_temp.fx('c_zh'), 'still broken');
SELECT is(pg_temp.sched(pg_temp.fx('k1')), 'open - f', 'a reply after the auto-resolve reopens the ticket; nothing scheduled');
SELECT is(helpdesk._autoclose_pass(now() + interval '30 days'), 0, 'and nothing fires later');

------------------------------------------------------------------------------
-- replied and resolved rules; English; a follow-up after the close
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'k2', pg_temp.ticket('c_en', 'replied one');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), 'agent', pg_temp.fx('a'), 'done, check your mail');
SELECT is(helpdesk._autoclose_pass(now() + interval '24 hours 1 second'), 1, 'the replied rule fires after 24 h');
SELECT is((SELECT status FROM helpdesk.ticket WHERE id = pg_temp.fx('k2')), 'resolved', 'resolved');
SELECT is((SELECT body FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k2') AND sender_kind = 'system' ORDER BY id DESC LIMIT 1),
	'Our agent answered and we have not heard back for 1 day, so this ticket was marked as solved. Reply if you still need help.',
	'in English for an English customer');
SELECT is(helpdesk._autoclose_pass(now() + interval '4 days 1 second'), 1, 'the resolved rule closes it 4 days after');
SELECT is((SELECT concat_ws(' ', status, closed_at IS NOT NULL) FROM helpdesk.ticket WHERE id = pg_temp.fx('k2')), 'closed t', 'closed');
SELECT is(pg_temp.last_entry(pg_temp.fx('k2')), 'system | system | This ticket is now closed. Reply to open a new one.', 'the closing entry');
SELECT is(pg_temp.ac_events(pg_temp.fx('k2')), 'replied:resolved resolved:closed', 'events');
SELECT is(pg_temp.sched(pg_temp.fx('k2')), 'closed - f', 'nothing scheduled on a closed ticket');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), 'customer', pg_temp.fx('c_en'), 'one more thing');
SELECT is((SELECT count(*) FROM helpdesk.ticket WHERE follow_up_of = pg_temp.fx('k2')), 1::bigint,
	'a reply after the close opens a follow-up ticket');
SELECT is((SELECT status FROM helpdesk.ticket WHERE id = pg_temp.fx('k2')), 'closed', 'the closed ticket stays closed');

------------------------------------------------------------------------------
-- a customer reply before the due time wins; rules turned off
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'k3', pg_temp.ticket('c_en', 'race');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k3'), 'agent', pg_temp.fx('a'), 'can you send logs?', new_status => 'pending');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k3'), 'customer', pg_temp.fx('c_en'), 'here they are');
SELECT is(pg_temp.sched(pg_temp.fx('k3')), 'open - f', 'the customer''s reply moved the ticket to open and cleared the schedule');
SELECT is(helpdesk._autoclose_pass(now() + interval '100 hours'), 0, 'nothing fires');
SELECT is(pg_temp.ac_events(pg_temp.fx('k3')), NULL, 'no auto-close event');

SELECT helpdesk.set_autoclose(pg_temp.fx('t'), 'replied', false);
INSERT INTO fx SELECT 'k4', pg_temp.ticket('c_en', 'off');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k4'), 'agent', pg_temp.fx('a'), 'fixed');
SELECT is(pg_temp.sched(pg_temp.fx('k4')), 'open - f', 'a rule turned off schedules nothing');
SELECT helpdesk.set_autoclose(pg_temp.fx('t'), 'pending', close_after => '2 hours', warn_before => '0');
SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k4'), 'pending', 'agent', pg_temp.fx('a'));
SELECT is(pg_temp.sched(pg_temp.fx('k4')), 'pending pending 02:00:00 f 00:00:00', 'new settings apply from the next change');
SELECT is(helpdesk._autoclose_pass(now() + interval '3 hours'), 1, 'no warning: straight to the resolve');
SELECT is(pg_temp.ac_events(pg_temp.fx('k4')), 'pending:resolved', 'one event');

-- the built-in texts of the close warning (the resolved rule)
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'autoclose_close_warning', 'en', '1 hour'),
	'This ticket will be closed in 1 hour; after that, a reply opens a new ticket.', 'close warning, en');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'autoclose_close_warning', 'zh-CN', '1 hour'),
	'此工单将在1小时后关闭，关闭后的回复将创建新工单。', 'close warning, zh-CN');
-- a tenant's own text replaces the built-in one
SELECT helpdesk.set_system_text(pg_temp.fx('t'), 'autoclose_resolved', 'en', 'Closed after {duration} of quiet.');
SELECT is(helpdesk.system_text(pg_temp.fx('t'), 'autoclose_resolved', 'en', '4 days'), 'Closed after 4 days of quiet.',
	'auto-close texts can be overridden per tenant');
SELECT is(helpdesk._autoclose_pass(now() + interval '4 days 4 hours'), 1, 'the auto-resolved ticket closes');
SELECT is(pg_temp.last_entry(pg_temp.fx('k4')), 'system | system | Closed after 4 days of quiet.', 'with the tenant''s text');

-- a schedule that no longer fits the ticket (written around the API) is recomputed, not fired
UPDATE helpdesk.ticket SET autoclose_rule = 'resolved', autoclose_since = now(), autoclose_due_at = now(),
	autoclose_at = now() WHERE id = pg_temp.fx('k3');
SELECT is(helpdesk._autoclose_pass(now() + interval '1 second'), 0, 'an open ticket scheduled as resolved is not closed');
SELECT is(pg_temp.sched(pg_temp.fx('k3')), 'open - f', 'its schedule recomputed from the row');

-- a firing that fails is rolled back alone, kept in autoclose_error and retried a minute later
INSERT INTO fx SELECT 'k5', pg_temp.ticket('c_en', 'fails');
INSERT INTO fx SELECT 'k6', pg_temp.ticket('c_en', 'fine');
SELECT helpdesk.set_autoclose(pg_temp.fx('t'), 'replied', true);
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx(k), 'agent', pg_temp.fx('a'), 'done') FROM unnest('{k5,k6}'::text[]) k;
CREATE FUNCTION pg_temp.refuse_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.ticket_id = pg_temp.fx('k5') AND NEW.sender_kind = 'system' THEN
		RAISE EXCEPTION 'a DBA''s trigger refuses this entry';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER refuse_entry BEFORE INSERT ON helpdesk.ticket_message FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_entry();
SET LOCAL client_min_messages = error;  -- the pass logs the failure as a WARNING
SELECT is(helpdesk._autoclose_pass(now() + interval '24 hours 1 second'), 1, 'the failing ticket does not stop the other');
RESET client_min_messages;
SELECT is((SELECT string_agg(status, ' ' ORDER BY id) FROM helpdesk.ticket WHERE id IN (pg_temp.fx('k5'), pg_temp.fx('k6'))),
	'open resolved', 'the failing one stays open, nothing of it written; the other is resolved');
SELECT is((SELECT concat_ws(' ', autoclose_at = now() + interval '24 hours 1 second 1 minute', autoclose_error)
           FROM helpdesk.ticket WHERE id = pg_temp.fx('k5')),
	't a DBA''s trigger refuses this entry', 'marked with the error, retried a minute later');
DROP TRIGGER refuse_entry ON helpdesk.ticket_message;
SELECT is(helpdesk._autoclose_pass(now() + interval '24 hours 2 minutes'), 1, 'the retry fires once the cause is gone');
SELECT is((SELECT concat_ws(' ', status, autoclose_error IS NULL) FROM helpdesk.ticket WHERE id = pg_temp.fx('k5')),
	'resolved t', 'resolved; the mark cleared by the change');

SELECT * FROM finish();
ROLLBACK;
