-- Roles inside a tenant decide what an agent may do (issue 16): a qa agent
-- reads transcripts and scores; every write the SQL API does for an agent is
-- refused to it with 42501 naming the agent and the action, the dispatcher
-- never offers it a chat, the ticket assignment never gives it a ticket, and
-- becoming qa gives back what the agent held.
--
-- The dispatcher acts after commit, so no wrapping transaction (as in
-- routing.sql): each statement commits, pg_temp.wait_until() polls. The
-- tenants are new (slug prefix :run); the pgTAP database is dropped after
-- the suite.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(35);

\ir fixtures.psql
\ir wait_until.psql

SELECT 'ar' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant(:'run', 'Agent roles');
INSERT INTO fx SELECT 'qauto', helpdesk.upsert_queue(pg_temp.fx('t'), 'auto', 'Auto', is_default => true);
INSERT INTO fx SELECT 'qman', helpdesk.upsert_queue(pg_temp.fx('t'), 'man', 'Manual', strategy => 'manual');
INSERT INTO fx SELECT 'ag', helpdesk.upsert_agent(pg_temp.fx('t'), 'ag', 'Agent', max_sessions => 5);
INSERT INTO fx SELECT 'qa', helpdesk.upsert_agent(pg_temp.fx('t'), 'qa', 'Quality', max_sessions => 5);
INSERT INTO fx SELECT 'c1', helpdesk.upsert_customer(pg_temp.fx('t'), 'c1');
INSERT INTO fx SELECT 'c2', helpdesk.upsert_customer(pg_temp.fx('t'), 'c2');
INSERT INTO fx SELECT 'c3', helpdesk.upsert_customer(pg_temp.fx('t'), 'c3');
DO $$ BEGIN PERFORM helpdesk.set_agent_role(pg_temp.fx('t'), pg_temp.fx('qa'), 'qa'); END $$;

-- the refusal every write below expects: 42501 naming the agent and what it tried
CREATE FUNCTION pg_temp.refused(call text, action text, who text DEFAULT 'qa') RETURNS text
LANGUAGE sql AS $$
	SELECT throws_ok(call, '42501', format('agent %s has role qa and may not %s', pg_temp.fx(who), action),
		format('qa: %s refused', action)) $$;

------------------------------------------------------------------------------
-- the dispatcher: a qa agent online with free capacity is never offered a chat
------------------------------------------------------------------------------
DO $$ BEGIN PERFORM helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('qa'), 'online'); END $$;
INSERT INTO fx SELECT 's1', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c1'),
	'web', first_message => 'hello?');
SELECT is((SELECT status FROM helpdesk.agent WHERE id = pg_temp.fx('qa')), 'online', 'the qa agent is online');
SELECT ok(NOT pg_temp.wait_until(format($q$(SELECT state FROM helpdesk.session WHERE id = %s) <> 'queued'$q$,
	pg_temp.fx('s1')), '2 seconds'), 'with only a qa agent online the chat stays queued for 2 s (several passes)');
SELECT is((SELECT count(*) FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('t') AND agent_id = pg_temp.fx('qa')),
	0::bigint, 'no dispatch action names the qa agent');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('qa')), 0, 'its load stays 0');
-- the control: the same pass offers the chat as soon as a plain agent is online
DO $$ BEGIN PERFORM helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('ag'), 'online'); END $$;
SELECT ok(pg_temp.wait_until(format($q$(SELECT state FROM helpdesk.session WHERE id = %s) = 'offered'$q$,
	pg_temp.fx('s1'))), 'an agent coming online gets the offer');
SELECT is((SELECT agent_id FROM helpdesk.session WHERE id = pg_temp.fx('s1')), pg_temp.fx('ag'), 'offered to the agent, not the qa');

------------------------------------------------------------------------------
-- chats: every write for a qa agent is refused
------------------------------------------------------------------------------
SELECT pg_temp.refused(format('SELECT helpdesk.accept_offer(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('qa'), pg_temp.fx('s1')),
	'accept offers');
SELECT pg_temp.refused(format('SELECT helpdesk.decline_offer(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('qa'), pg_temp.fx('s1')),
	'decline offers');
SELECT lives_ok(format('SELECT helpdesk.accept_offer(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('ag'), pg_temp.fx('s1')),
	'the agent accepts');
SELECT pg_temp.refused(format($q$SELECT helpdesk.post_message(%s, %s, 'agent', %s, 'I am QA')$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('qa')), 'post messages');
SELECT pg_temp.refused(format($q$SELECT helpdesk.post_message(%s, %s, 'note', %s, 'a QA note')$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('qa')), 'write notes');
SELECT pg_temp.refused(format($q$SELECT helpdesk.close_session(%s, %s, 'closed', 'agent', %s)$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('qa')), 'close sessions');
SELECT pg_temp.refused(format('SELECT helpdesk.transfer_session(%s, %s, %s, to_queue_id => %s)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('qa'), pg_temp.fx('qman')), 'transfer sessions');
SELECT throws_ok(format('SELECT helpdesk.transfer_session(%s, %s, %s, to_agent_id => %s)',
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('ag'), pg_temp.fx('qa')), '42501',
	format('agent %s has role qa and may not take chats', pg_temp.fx('qa')), 'qa: a chat is not transferred to a qa agent');
SELECT pg_temp.refused(format($q$SELECT helpdesk.escalate_session(%s, %s, 'by qa', actor_kind => 'agent', actor_id => %s)$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('qa')), 'escalate sessions');
INSERT INTO fx SELECT 's2', session_id FROM helpdesk.start_session(pg_temp.fx('t'), pg_temp.fx('c2'),
	'web', queue_id => pg_temp.fx('qman'), first_message => 'manual please');
SELECT pg_temp.refused(format('SELECT helpdesk.claim_session(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('qa'), pg_temp.fx('s2')),
	'claim sessions');
SELECT is((SELECT string_agg(state || ':' || coalesce(agent_id::text, '-'), ',' ORDER BY id) FROM helpdesk.session
	WHERE id IN (pg_temp.fx('s1'), pg_temp.fx('s2'))),
	format('active:%s,queued:-', pg_temp.fx('ag')), 'nothing changed by the refusals');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE tenant_id = pg_temp.fx('t') AND sender_kind IN ('agent', 'note')
	AND sender_id = pg_temp.fx('qa')),
	0::bigint, 'no message of the qa agent was stored');
-- reading stays allowed
SELECT lives_ok(format($q$SELECT helpdesk.post_message(%s, %s, 'agent', %s, 'how can I help?')$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('ag')), 'the agent posts');
SELECT ok((SELECT array_agg(body) @> ARRAY['hello?', 'how can I help?'] FROM helpdesk.session_history(pg_temp.fx('t'),
	pg_temp.fx('s1'), 'supervisor', pg_temp.fx('qa'), 0, 500)),
	'the qa agent reads the transcript (as kind supervisor, what its login token has)');
SELECT lives_ok(format($q$SELECT helpdesk.set_agent_status(%s, %s, 'away')$q$, pg_temp.fx('t'), pg_temp.fx('qa')),
	'its presence is its own to set');

------------------------------------------------------------------------------
-- tickets
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'tk', ticket_id FROM helpdesk.create_ticket(pg_temp.fx('t'), pg_temp.fx('c3'), 'Lost sword',
	'where is it?');
SELECT pg_temp.refused(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'QA here')$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('qa')), 'reply to tickets');
SELECT pg_temp.refused(format($q$SELECT helpdesk.add_ticket_note(%s, %s, %s, 'QA note')$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('qa')), 'write ticket notes');
SELECT pg_temp.refused(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'open', 'agent', %s)$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('qa')), 'change tickets');
SELECT pg_temp.refused(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, 'urgent', 'agent', %s)$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('qa')), 'change tickets');
SELECT pg_temp.refused(format('SELECT helpdesk.take_ticket(%s, %s, %s)', pg_temp.fx('t'), pg_temp.fx('qa'), pg_temp.fx('tk')),
	'take tickets');
SELECT pg_temp.refused(format($q$SELECT helpdesk.assign_ticket(%s, %s, %s, 'supervisor', %s)$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('ag'), pg_temp.fx('qa')), 'assign tickets');
SELECT throws_ok(format($q$SELECT helpdesk.assign_ticket(%s, %s, %s, 'api')$q$,
	pg_temp.fx('t'), pg_temp.fx('tk'), pg_temp.fx('qa')), '42501',
	format('agent %s has role qa and may not be assigned tickets', pg_temp.fx('qa')), 'qa: a ticket is not assigned to a qa agent');
SELECT is((SELECT row(status, priority, assignee_id)::text FROM helpdesk.ticket WHERE id = pg_temp.fx('tk')),
	row('new', 'normal', NULL::bigint)::text, 'the ticket is as it was');
SELECT is((SELECT count(*) FROM helpdesk.ticket_messages(pg_temp.fx('t'), pg_temp.fx('tk'), 0, 500, true)),
	1::bigint, 'the thread has only the customer''s message');

------------------------------------------------------------------------------
-- becoming qa gives back what the agent held, like disabling
------------------------------------------------------------------------------
DO $$ BEGIN PERFORM helpdesk.set_agent_role(pg_temp.fx('t'), pg_temp.fx('ag'), 'qa'); END $$;
SELECT is((SELECT state || ':' || coalesce(agent_id::text, '-') FROM helpdesk.session WHERE id = pg_temp.fx('s1')),
	'queued:-', 'its chat went back to the queue');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('ag')), 0, 'and its load is 0');
SELECT pg_temp.refused(format($q$SELECT helpdesk.post_message(%s, %s, 'agent', %s, 'still here?')$q$,
	pg_temp.fx('t'), pg_temp.fx('s1'), pg_temp.fx('ag')), 'post messages', 'ag');

------------------------------------------------------------------------------
-- clean up (as routing.sql): later files count every tenant's rows
------------------------------------------------------------------------------
SELECT lives_ok(format($q$SELECT count(helpdesk.close_session(tenant_id, id)) FROM helpdesk.session
	WHERE tenant_id = %s AND state <> 'closed'$q$, pg_temp.fx('t')), 'clean up: close open sessions');
SELECT lives_ok(format($q$DELETE FROM helpdesk.dispatch_audit WHERE tenant_id = %1$s;
	DELETE FROM helpdesk.session_assignment WHERE tenant_id = %1$s;
	DELETE FROM helpdesk.tenant WHERE id = %1$s$q$, pg_temp.fx('t')), 'clean up: delete the tenant');

SELECT * FROM finish();
