BEGIN;
SELECT plan(53);

-- CSAT: asked after a chat with an agent closes and after each resolve of
-- a ticket (per the tenant's csat_mode), answered once within the window by
-- the right customer; every error of set_csat and submit_csat.

\ir fixtures.psql

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant('tap-csat', 'TAP CSAT');
INSERT INTO fx SELECT 't2', helpdesk.upsert_tenant('tap-csat-2', 'TAP CSAT 2');
INSERT INTO fx SELECT 'q', helpdesk.upsert_queue(pg_temp.fx('t'), 'general', 'General', is_default => true,
	strategy => 'manual');
INSERT INTO fx SELECT 'a', helpdesk.upsert_agent(pg_temp.fx('t'), 'ana', 'Ana');
INSERT INTO fx SELECT 'c', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-1', 'Lee', language => 'en');
INSERT INTO fx SELECT 'c_zh', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-2', '李雷');
INSERT INTO fx SELECT 'c_other', helpdesk.upsert_customer(pg_temp.fx('t'), 'c-3');
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a'), 'online');

CREATE FUNCTION pg_temp.ticket(customer text) RETURNS bigint LANGUAGE sql AS $$
	SELECT ticket_id FROM helpdesk.create_ticket(pg_temp.fx('t'), pg_temp.fx(customer), 'broken sword', 'help')
$$;
CREATE FUNCTION pg_temp.resolve(k bigint) RETURNS text LANGUAGE sql AS $$
	SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), k, 'resolved', 'agent', pg_temp.fx('a'))
$$;
-- a chat the agent took (claimed from the manual queue), then closed by the agent
CREATE FUNCTION pg_temp.chat(customer text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	s bigint;
BEGIN
	SELECT session_id INTO s FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx(customer));
	PERFORM helpdesk.claim_session(pg_temp.fx('t'), pg_temp.fx('a'), s);
	RETURN s;
END $$;
CREATE FUNCTION pg_temp.surveys(kind text, k bigint) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(concat_ws(':', resolution, coalesce(score::text, '-'), after_autoclose), ' ' ORDER BY id), '')
	FROM helpdesk.csat WHERE (kind = 'ticket' AND ticket_id = k) OR (kind = 'session' AND session_id = k)
$$;

------------------------------------------------------------------------------
-- settings
------------------------------------------------------------------------------
SELECT is((SELECT concat_ws(' ', csat_mode, csat_window) FROM helpdesk.tenant WHERE id = pg_temp.fx('t')), 'off 7 days',
	'default: off, window 7 days');
INSERT INTO fx SELECT 'k_off', pg_temp.ticket('c');
SELECT pg_temp.resolve(pg_temp.fx('k_off'));
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_off')), '', 'off: no survey on resolve');
SELECT throws_ok(format('SELECT helpdesk.set_csat(%s, %L)', pg_temp.fx('t'), 'always'), '22023', 'invalid mode "always"', 'set_csat: bad mode');
SELECT throws_ok(format('SELECT helpdesk.set_csat(%s, "window" => %L)', pg_temp.fx('t'), '30 seconds'), '22023', NULL, 'set_csat: window under a minute');
SELECT throws_ok(format('SELECT helpdesk.set_csat(%s, "window" => %L)', pg_temp.fx('t'), '2 years'), '22023', NULL, 'set_csat: window over a year');
SELECT throws_ok('SELECT helpdesk.set_csat(NULL, ''on'')', '22004', 'tenant_id must not be NULL', 'set_csat: NULL tenant');
SELECT throws_ok('SELECT helpdesk.set_csat(999999999, ''on'')', 'HD404', 'tenant 999999999 does not exist', 'set_csat: unknown tenant');
SELECT lives_ok(format('SELECT helpdesk.set_csat(%s, %L)', pg_temp.fx('t'), 'on'), 'set_csat on');
SELECT is((SELECT concat_ws(' ', csat_mode, csat_window) FROM helpdesk.tenant WHERE id = pg_temp.fx('t')), 'on 7 days', 'the window kept');

------------------------------------------------------------------------------
-- tickets: asked on every resolve
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'k', pg_temp.ticket('c');
UPDATE helpdesk.ticket SET assignee_id = pg_temp.fx('a'), queue_id = pg_temp.fx('q') WHERE id = pg_temp.fx('k');
SELECT pg_temp.resolve(pg_temp.fx('k'));
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k')), '1:-:f', 'on: asked on the first resolve');
SELECT is((SELECT concat_ws(' ', agent_id = pg_temp.fx('a'), queue_id = pg_temp.fx('q'), sla_policy_id IS NULL,
                             expires_at = now() + interval '7 days', customer_id = pg_temp.fx('c'))
           FROM helpdesk.csat WHERE ticket_id = pg_temp.fx('k')), 't t t t t',
	'stored with agent, queue, (no) policy, the window and the customer');
SELECT is((SELECT concat_ws(' | ', sender_kind, type, body) FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k') ORDER BY id DESC LIMIT 1),
	'system | csat | How did we do? Please rate this conversation from 1 to 5.', 'a csat message on the thread, in English');
SELECT is((SELECT message_id FROM helpdesk.csat WHERE ticket_id = pg_temp.fx('k')),
	(SELECT max(id) FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k')), 'the survey points at its message');
SELECT is((SELECT string_agg(audience, ',' ORDER BY audience) FROM helpdesk.event WHERE type = 'csat.requested'
           AND (payload ->> 'ticket_id')::bigint = pg_temp.fx('k')), 'agent,customer,queue,tenant',
	'csat.requested for the customer, the assignee, the queue and supervisors');

-- errors, in the order they are checked
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 0)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'22023', 'score must be between 1 and 5, got 0', 'score 0');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 6)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'22023', 'score must be between 1 and 5, got 6', 'score 6');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, NULL)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'22004', 'score must not be NULL', 'NULL score');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, NULL, %s, %s, 5)', pg_temp.fx('t'), pg_temp.fx('k'), pg_temp.fx('c')),
	'22004', 'target must not be NULL', 'NULL target');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'chat', pg_temp.fx('k'), pg_temp.fx('c')),
	'22023', 'invalid target "chat"', 'bad target');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5, %L)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c'), repeat('x', 2001)),
	'22023', 'comment must be 0 to 2000 characters long, got 2001', 'comment too long');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t2'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'HD404', format('ticket %s does not exist in tenant %s', pg_temp.fx('k'), pg_temp.fx('t2')), 'another tenant''s ticket');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c_other')),
	'42501', format('customer %s is not the customer of ticket #%s', pg_temp.fx('c_other'),
	                (SELECT number FROM helpdesk.ticket WHERE id = pg_temp.fx('k'))), 'the wrong customer');
SELECT is(helpdesk.submit_csat(pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c'), 4, 'quick, thanks'),
	(SELECT id FROM helpdesk.csat WHERE ticket_id = pg_temp.fx('k')), 'submitted: returns the survey id');
SELECT is((SELECT concat_ws(' ', score, comment, submitted_at = now()) FROM helpdesk.csat WHERE ticket_id = pg_temp.fx('k')),
	'4 quick, thanks t', 'stored');
SELECT is((SELECT string_agg(audience || '=' || (payload ->> 'score') || '/' || (payload ->> 'agent_id' = pg_temp.fx('a')::text), ',' ORDER BY audience)
           FROM helpdesk.event WHERE type = 'csat.submitted' AND (payload ->> 'ticket_id')::bigint = pg_temp.fx('k')),
	'agent=4/true,queue=4/true,tenant=4/true', 'csat.submitted for staff, with score and agent');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'HD409', NULL, 'twice: HD409');

-- reopened and resolved again: asked again, answered again
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k'), 'customer', pg_temp.fx('c'), 'it broke again');
SELECT is((SELECT status FROM helpdesk.ticket WHERE id = pg_temp.fx('k')), 'open', 'reopened by the reply');
SELECT pg_temp.resolve(pg_temp.fx('k'));
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k')), '1:4:f 2:-:f', 'the second resolution asks again');
SELECT lives_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 2)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k'), pg_temp.fx('c')),
	'and can be answered');
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k')), '1:4:f 2:2:f', 'each resolution rated once');

-- after the window
INSERT INTO fx SELECT 'k_late', pg_temp.ticket('c');
SELECT pg_temp.resolve(pg_temp.fx('k_late'));
UPDATE helpdesk.csat SET requested_at = now() - interval '8 days', expires_at = now() - interval '1 day'
 WHERE ticket_id = pg_temp.fx('k_late');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k_late'), pg_temp.fx('c')),
	'HD410', NULL, 'after the window: HD410');
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_late')), '1:-:f', 'nothing stored');
-- never asked
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'ticket', pg_temp.fx('k_off'), pg_temp.fx('c')),
	'HD404', format('no satisfaction survey was asked for ticket #%s', (SELECT number FROM helpdesk.ticket WHERE id = pg_temp.fx('k_off'))),
	'a resolve while surveys were off asked nothing');

------------------------------------------------------------------------------
-- not after auto-close; on after auto-close
------------------------------------------------------------------------------
SELECT helpdesk.set_csat(pg_temp.fx('t'), 'not_after_autoclose');
INSERT INTO fx SELECT 'k_auto', pg_temp.ticket('c_zh');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k_auto'), 'agent', pg_temp.fx('a'), 'done');
SELECT is(helpdesk._autoclose_pass(now() + interval '25 hours'), 1, 'auto-resolved');
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_auto')), '', 'not_after_autoclose: no survey after the auto-resolve');
INSERT INTO fx SELECT 'k_manual', pg_temp.ticket('c_zh');
SELECT pg_temp.resolve(pg_temp.fx('k_manual'));
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_manual')), '1:-:f', 'not_after_autoclose: asked after an agent''s resolve');
SELECT is((SELECT body FROM helpdesk.ticket_message WHERE ticket_id = pg_temp.fx('k_manual') AND type = 'csat'),
	'请为本次服务评分（1-5分），感谢您的反馈！', 'in zh-CN for a customer without a language');
INSERT INTO fx SELECT 's_idle', pg_temp.chat('c_other');
SELECT helpdesk.close_session(pg_temp.fx('t'), pg_temp.fx('s_idle'), 'idle', 'system');
SELECT is(pg_temp.surveys('session', pg_temp.fx('s_idle')), '', 'not_after_autoclose: a chat the idle timer closed asks nothing');
INSERT INTO fx SELECT 's_sys', pg_temp.chat('c_other');
SELECT helpdesk.close_session(pg_temp.fx('t'), pg_temp.fx('s_sys'));
SELECT is(pg_temp.surveys('session', pg_temp.fx('s_sys')), '1:-:f', 'not_after_autoclose: a chat closed through the API (closed_by system) asks');
SELECT helpdesk.set_csat(pg_temp.fx('t'), 'on');
INSERT INTO fx SELECT 'k_auto2', pg_temp.ticket('c_zh');
SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k_auto2'), 'agent', pg_temp.fx('a'), 'done');
SELECT is(helpdesk._autoclose_pass(now() + interval '25 hours'), 1, 'auto-resolved');
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_auto2')), '1:-:t', 'on: asked after the auto-resolve, marked so');

------------------------------------------------------------------------------
-- sessions
------------------------------------------------------------------------------
INSERT INTO fx SELECT 's', pg_temp.chat('c');
SELECT helpdesk.close_session(pg_temp.fx('t'), pg_temp.fx('s'), NULL, 'agent', pg_temp.fx('a'));
SELECT is(pg_temp.surveys('session', pg_temp.fx('s')), '1:-:f', 'a chat with an agent closed: asked');
SELECT is((SELECT concat_ws(' | ', sender_kind, type, body) FROM helpdesk.message WHERE session_id = pg_temp.fx('s') ORDER BY id DESC LIMIT 1),
	'system | csat | How did we do? Please rate this conversation from 1 to 5.', 'a csat message in the closed session');
SELECT is((SELECT string_agg(type, ',' ORDER BY id) FROM helpdesk.event WHERE session_id = pg_temp.fx('s')
           AND type IN ('message.created', 'csat.requested') AND message_id = (SELECT message_id FROM helpdesk.csat WHERE session_id = pg_temp.fx('s'))),
	'message.created,csat.requested', 'its message event and csat.requested, for the session');
SELECT is((SELECT agent_id = pg_temp.fx('a') AND queue_id = pg_temp.fx('q') FROM helpdesk.csat WHERE session_id = pg_temp.fx('s')), true,
	'stored with the agent and queue of the chat');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'session', pg_temp.fx('s'), pg_temp.fx('c_zh')),
	'42501', format('customer %s is not the customer of session %s', pg_temp.fx('c_zh'), pg_temp.fx('s')), 'session: the wrong customer');
SELECT lives_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'session', pg_temp.fx('s'), pg_temp.fx('c')),
	'session: rated');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'session', pg_temp.fx('s'), pg_temp.fx('c')),
	'HD409', format('session %s was already rated (score 5)', pg_temp.fx('s')), 'session: twice');
SELECT is((SELECT string_agg(audience, ',' ORDER BY audience) FROM helpdesk.event WHERE type = 'csat.submitted' AND session_id = pg_temp.fx('s')),
	'session_staff,tenant', 'csat.submitted for the session''s staff and supervisors');
-- abandoned: the customer left before an agent took it
INSERT INTO fx SELECT 's_ab', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c_zh'));
SELECT helpdesk.close_session(pg_temp.fx('t'), pg_temp.fx('s_ab'), NULL, 'customer', pg_temp.fx('c_zh'));
SELECT is(pg_temp.surveys('session', pg_temp.fx('s_ab')), '', 'an abandoned session asks nothing');
SELECT throws_ok(format('SELECT helpdesk.submit_csat(%s, %L, %s, %s, 5)', pg_temp.fx('t'), 'session', pg_temp.fx('s_ab'), pg_temp.fx('c_zh')),
	'HD404', format('no satisfaction survey was asked for session %s', pg_temp.fx('s_ab')), 'session: never asked');
-- escalated: its ticket asks when resolved
INSERT INTO fx SELECT 's_esc', pg_temp.chat('c_zh');
INSERT INTO fx SELECT 'k_esc', helpdesk.escalate_session(pg_temp.fx('t'), pg_temp.fx('s_esc'));
SELECT is(pg_temp.surveys('session', pg_temp.fx('s_esc')), '', 'an escalated session asks nothing (its ticket will)');
SELECT pg_temp.resolve(pg_temp.fx('k_esc'));
SELECT is(pg_temp.surveys('ticket', pg_temp.fx('k_esc')), '1:-:f', 'the escalated ticket asks on resolve');

SELECT * FROM finish();
ROLLBACK;
