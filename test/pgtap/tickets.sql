BEGIN;
SELECT * FROM no_plan();

-- Tickets: numbering, the thread, the customer-reply rules, timestamps,
-- events, reads and receipts, escalation and offline tickets. Error paths
-- are in tickets_errors.sql.

\ir fixtures.psql
\set QUIET 1

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-tk-a', 'TAP tickets A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-tk-b', 'TAP tickets B');
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qa2', helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing',
	required_skills => ARRAY['billing']);
INSERT INTO fx SELECT 'aa', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana');
INSERT INTO fx SELECT 'aa2', helpdesk.upsert_agent(pg_temp.fx('ta'), 'bo', 'Bo');
INSERT INTO fx SELECT 'ca', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c1', 'Cleo');
INSERT INTO fx SELECT 'ca2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c2', 'Dan');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'c1', 'Eve');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb, pg_temp.fx('qa') AS qa, pg_temp.fx('qa2') AS qa2,
       pg_temp.fx('aa') AS aa, pg_temp.fx('aa2') AS aa2, pg_temp.fx('ca') AS ca,
       pg_temp.fx('ca2') AS ca2, pg_temp.fx('cb') AS cb \gset

-- ---- numbering: per tenant from 1001, no gaps ----
SELECT ticket_id AS t1, number AS n1, message_id AS m1
  FROM helpdesk.create_ticket(:ta, :ca, 'Lost sword', 'My sword vanished', client_msg_id => 'new-1',
                              tags => ARRAY['Items', ' bug ', 'items'], queue_id => :qa) \gset
SELECT is(:n1::bigint, 1001::bigint, 'the first ticket of a tenant is #1001');
SELECT ticket_id AS t2, number AS n2 FROM helpdesk.create_ticket(:ta, :ca2, 'Refund', NULL, 'high') \gset
SELECT is(:n2::bigint, 1002::bigint, 'the second is #1002');
SELECT ticket_id AS tb1, number AS nb1 FROM helpdesk.create_ticket(:tb, :cb, 'Other tenant', 'hi') \gset
SELECT is(:nb1::bigint, 1001::bigint, 'another tenant counts on its own');
-- a creation that fails rolls its number back
SAVEPOINT s;
SELECT lives_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 'doomed', 'x')$q$, :ta, :ca), 'a creation in a savepoint');
ROLLBACK TO s;
SELECT is((SELECT number FROM helpdesk.create_ticket(:ta, :ca2, 'Third', 'x')), 1003::bigint,
	'a rolled back creation leaves no gap');
SELECT is((SELECT next_number FROM helpdesk.ticket_counter WHERE tenant_id = :ta), 1004::bigint,
	'the counter row holds the next number');

-- ---- create_ticket: stored as given ----
SELECT is((SELECT row(status, priority, channel, tags, queue_id, last_public_sender, last_customer_at IS NOT NULL)::text
	FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1),
	row('new', 'normal', 'api', ARRAY['bug', 'items'], :qa::bigint, 'customer', true)::text,
	'new ticket: status new, default priority, channel api, tags normalised, the customer spoke last');
SELECT is((SELECT row(sender_kind, sender_id, body)::text FROM helpdesk.ticket_message WHERE tenant_id = :ta AND id = :m1),
	row('customer', :ca::bigint, 'My sword vanished')::text, 'the body is the customer''s first message');
SELECT is((SELECT row(last_public_sender, last_customer_at)::text FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t2),
	row(NULL::text, NULL::timestamptz)::text, 'a ticket without a body has no public activity yet');
SELECT is((SELECT row(ticket_id, number, message_id)::text
	FROM helpdesk.create_ticket(:ta, :ca, 'Lost sword', 'My sword vanished', client_msg_id => 'new-1')),
	row(:t1::bigint, :n1::bigint, :m1::bigint)::text, 'create_ticket replayed with its client_msg_id returns the same ticket');
SELECT is((SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = :ta), 3::bigint, 'and creates nothing');
SELECT is((SELECT count(*) FROM helpdesk.create_ticket(:ta, :ca2, 'Lost sword', 'My sword vanished', client_msg_id => 'new-1')),
	1::bigint, 'the same client id of another customer is another ticket');

-- events of a creation: customer, queue, tenant
SELECT set_eq(format($q$SELECT audience, audience_id, type FROM helpdesk.event
	WHERE tenant_id = %s AND (payload->>'ticket_id')::bigint = %s$q$, :ta, :t1),
	format($q$VALUES ('customer', %s::bigint, 'ticket.created'), ('queue', %s, 'ticket.created'),
	('tenant', %s, 'ticket.created'), ('customer', %s, 'ticket.message'), ('queue', %s, 'ticket.message'),
	('tenant', %s, 'ticket.message')$q$, :ca, :qa, :ta, :ca, :qa, :ta),
	'ticket.created and ticket.message for the customer, the queue and the tenant');
SELECT is((SELECT payload->'message'->>'body' FROM helpdesk.event WHERE tenant_id = :ta AND type = 'ticket.message'
	AND audience = 'customer' AND (payload->>'ticket_id')::bigint = :t1),
	'My sword vanished', 'ticket.message carries the message');

-- ---- agent replies ----
SELECT helpdesk.reply_ticket(:ta, :t1, 'agent', :aa, 'Looking into it', client_msg_id => 'ag-1') AS r1 \gset
SELECT is((SELECT row(status, last_public_sender, first_response_at IS NOT NULL, first_response_at = last_agent_at)::text
	FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1), row('open', 'agent', true, true)::text,
	'an agent''s first reply opens a new ticket and is its first response');
SELECT first_response_at AS fr1 FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1 \gset
SELECT is(helpdesk.reply_ticket(:ta, :t1, 'agent', :aa, 'Looking into it', client_msg_id => 'ag-1'), :r1::bigint,
	'an agent reply replayed returns the same id');
SELECT is(helpdesk.reply_ticket(:ta, :t1, 'agent', :aa2, 'Found it', new_status => 'pending') > :r1, true,
	'another agent replies and sets pending');
SELECT is((SELECT row(status, first_response_at = :'fr1'::timestamptz)::text FROM helpdesk.ticket
	WHERE tenant_id = :ta AND id = :t1), row('pending', true)::text,
	'new_status applied; first_response_at stays the first reply''s');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = :ta AND type = 'ticket.updated'
	AND (payload->>'ticket_id')::bigint = :t1 AND payload->>'status' = 'pending' AND audience = 'customer'), 1::bigint,
	'the status change is a public ticket.updated');

-- ---- customer replies: pending -> open ----
SELECT helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'still missing', client_msg_id => 'cu-1') AS r2 \gset
SELECT is((SELECT row(status, last_public_sender)::text FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1),
	row('open', 'customer')::text, 'a customer reply opens a pending ticket');
SELECT is(helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'still missing', client_msg_id => 'cu-1'), :r2::bigint,
	'a customer reply replayed returns the same id');
SELECT is((SELECT count(*) FROM helpdesk.ticket_message WHERE tenant_id = :ta AND ticket_id = :t1 AND client_msg_id = 'cu-1'),
	1::bigint, 'and is stored once');

-- ---- notes ----
SELECT helpdesk.add_ticket_note(:ta, :t1, :aa, 'check the item log', client_msg_id => 'nt-1') AS nt \gset
SELECT is(helpdesk.add_ticket_note(:ta, :t1, :aa, 'check the item log', client_msg_id => 'nt-1'), :nt::bigint,
	'a note replayed returns the same id');
SELECT is((SELECT last_public_sender FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1), 'customer',
	'a note is not public activity');
SELECT is((SELECT count(*) FROM helpdesk.ticket_messages(:ta, :t1) WHERE sender_kind = 'note'), 0::bigint,
	'ticket_messages leaves notes out by default');
SELECT is((SELECT count(*) FROM helpdesk.ticket_messages(:ta, :t1, include_notes => true) WHERE sender_kind = 'note'), 1::bigint,
	'and includes them for staff');
SELECT set_eq(format($q$SELECT audience FROM helpdesk.event WHERE tenant_id = %s AND type = 'ticket.note'$q$, :ta),
	ARRAY['queue', 'tenant'], 'ticket.note goes to staff audiences only, never the customer');

-- ---- resolve, reopen within the window, resolve again ----
SELECT is(helpdesk.set_ticket_status(:ta, :t1, 'resolved', 'agent', :aa), 'open', 'set_ticket_status returns the status before');
SELECT is((SELECT row(status, resolution_count, resolved_by, resolved_at IS NOT NULL)::text FROM helpdesk.ticket
	WHERE tenant_id = :ta AND id = :t1), row('resolved', 1, 'agent', true)::text, 'resolved: counted, by whom, when');
SELECT is(helpdesk.set_ticket_status(:ta, :t1, 'resolved', 'agent', :aa), 'resolved', 'the same status again');
SELECT is((SELECT resolution_count FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1), 1,
	'changes nothing');
SELECT helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'no, it is back') AS r3 \gset
SELECT is((SELECT row(status, resolved_at, follow_up_of)::text FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1),
	row('open', NULL::timestamptz, NULL::bigint)::text, 'a customer reply within reopen_window reopens it');
SELECT is((SELECT ticket_id FROM helpdesk.ticket_message WHERE tenant_id = :ta AND id = :r3), :t1::bigint,
	'in the same ticket');
SELECT is(helpdesk.set_ticket_status(:ta, :t1, 'resolved', 'customer', :ca), 'open', 'the customer may resolve its own ticket');
SELECT is((SELECT row(resolution_count, resolved_by)::text FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1),
	row(2, 'customer')::text, 'a second resolution counts again');

-- ---- after the window: a follow-up ----
SELECT helpdesk.set_ticket_settings(:ta, reopen_window => '0 seconds');
UPDATE helpdesk.ticket SET resolved_at = now() - interval '1 minute' WHERE tenant_id = :ta AND id = :t1;
SELECT helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'one more thing', client_msg_id => 'late-1') AS r4 \gset
SELECT ticket_id AS f1 FROM helpdesk.ticket_message WHERE tenant_id = :ta AND id = :r4 \gset
SELECT isnt(:f1::bigint, :t1::bigint, 'a reply after reopen_window lands in another ticket');
SELECT is((SELECT row(follow_up_of, status, customer_id, subject, queue_id, number)::text FROM helpdesk.ticket
	WHERE tenant_id = :ta AND id = :f1),
	row(:t1::bigint, 'new', :ca::bigint, 'Lost sword', :qa::bigint, 1005::bigint)::text,
	'a follow-up: linked, new, same customer, subject and queue, the next number');
SELECT is((SELECT status FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t1), 'resolved', 'the old ticket stays resolved');
SELECT is(helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'one more thing', client_msg_id => 'late-1'), :r4::bigint,
	'the reply retried on the old ticket finds it in the follow-up');
SELECT helpdesk.reply_ticket(:ta, :t1, 'customer', :ca, 'and another') AS r4b \gset
SELECT is((SELECT ticket_id FROM helpdesk.ticket_message WHERE tenant_id = :ta AND id = :r4b), :f1::bigint,
	'further replies to the old ticket land in its open follow-up');
SELECT is((SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = :ta AND follow_up_of = :t1), 1::bigint,
	'one follow-up only');
SELECT is(helpdesk.get_ticket(:ta, :t1)->'follow_ups', jsonb_build_array(:f1::bigint), 'get_ticket lists the follow-ups');
SELECT is(helpdesk.get_ticket(:ta, :t1)->>'number', '1001', 'get_ticket has every column');

-- ---- closed: a follow-up too ----
SELECT helpdesk.set_ticket_status(:ta, :t1, 'closed', 'system');
SELECT is((SELECT row(status, closed_at IS NOT NULL, resolved_at IS NOT NULL)::text FROM helpdesk.ticket
	WHERE tenant_id = :ta AND id = :t1), row('closed', true, true)::text, 'closed: closed_at set, resolved_at kept');
SELECT helpdesk.set_ticket_settings(:ta, reopen_window => '7 days');
SELECT ticket_id AS t4 FROM helpdesk.create_ticket(:ta, :ca2, 'Closed one', 'help') \gset
SELECT helpdesk.set_ticket_status(:ta, :t4, 'resolved', 'api');
SELECT helpdesk.set_ticket_status(:ta, :t4, 'closed', 'api');
SELECT helpdesk.reply_ticket(:ta, :t4, 'customer', :ca2, 'reopen please') AS r5 \gset
SELECT is((SELECT follow_up_of FROM helpdesk.ticket t JOIN helpdesk.ticket_message m ON m.tenant_id = t.tenant_id
	AND m.ticket_id = t.id WHERE m.tenant_id = :ta AND m.id = :r5), :t4::bigint,
	'a customer reply to a closed ticket opens a follow-up, whatever the window');

-- ---- priority, tags, attributes, queue ----
SELECT is(helpdesk.set_ticket_priority(:ta, :t2, 'urgent', 'agent', :aa), 'high', 'set_ticket_priority returns the priority before');
SELECT is((SELECT priority FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t2), 'urgent', 'and stores the new one');
SELECT is(helpdesk.set_ticket_tags(:ta, :t2, ARRAY['VIP', 'refund', 'vip '], 'agent', :aa), ARRAY['refund', 'vip'],
	'set_ticket_tags returns the stored (normalised) tags');
SELECT is(helpdesk.set_ticket_attributes(:ta, :t2, '{"order": "A-1", "amount": 5}', 'api'),
	'{"order": "A-1", "amount": 5}'::jsonb, 'attributes stored');
SELECT is(helpdesk.set_ticket_attributes(:ta, :t2, '{"amount": null, "reason": "late"}', 'api'),
	'{"order": "A-1", "reason": "late"}'::jsonb, 'merged key by key, null removes');
SELECT lives_ok(format($q$SELECT helpdesk.set_ticket_queue(%s, %s, %s, 'agent', %s)$q$, :ta, :t2, :qa2, :aa),
	'set_ticket_queue');
SELECT is((SELECT queue_id FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :t2), :qa2::bigint, 'the ticket moved');
SELECT helpdesk.set_ticket_queue(:ta, :t2, :qa, 'agent', :aa);
SELECT set_eq(format($q$SELECT audience_id FROM helpdesk.event WHERE tenant_id = %s AND audience = 'queue'
	AND payload->>'change' = 'queue' AND (payload->>'ticket_id')::bigint = %s AND payload->>'queue_id' = '%s'$q$, :ta, :t2, :qa),
	format('VALUES (%s::bigint), (%s)', :qa, :qa2), 'a move tells the old and the new queue');

-- ---- list_tickets ----
SELECT is((SELECT array_agg(id ORDER BY id DESC) FROM helpdesk.list_tickets(:ta)),
	(SELECT array_agg(id ORDER BY id DESC) FROM helpdesk.ticket WHERE tenant_id = :ta), 'list_tickets: the tenant''s tickets newest first');
SELECT is((SELECT count(*) FROM helpdesk.list_tickets(:ta) WHERE tenant_id <> :ta), 0::bigint, 'only the tenant''s');
SELECT is((SELECT array_agg(id ORDER BY id) FROM helpdesk.list_tickets(:ta, status => ARRAY['closed'])),
	ARRAY[:t1::bigint, :t4::bigint], 'filtered by status');
SELECT is((SELECT array_agg(id) FROM helpdesk.list_tickets(:ta, tag => ' VIP')), ARRAY[:t2::bigint], 'filtered by a tag (normalised)');
SELECT is((SELECT array_agg(id) FROM helpdesk.list_tickets(:ta, priority => ARRAY['urgent'])), ARRAY[:t2::bigint], 'filtered by priority');
SELECT is((SELECT count(*) FROM helpdesk.list_tickets(:ta, customer_id => :ca2)),
	(SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = :ta AND customer_id = :ca2), 'filtered by customer');
SELECT is((SELECT count(*) FROM helpdesk.list_tickets(:ta, queue_id => :qa)),
	(SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = :ta AND queue_id = :qa), 'filtered by queue');
UPDATE helpdesk.ticket SET assignee_id = :aa WHERE tenant_id = :ta AND id = :t2;
SELECT is((SELECT array_agg(id) FROM helpdesk.list_tickets(:ta, assignee_id => :aa)), ARRAY[:t2::bigint], 'filtered by assignee');
SELECT is((SELECT count(*) FROM helpdesk.list_tickets(:ta, unassigned => true) WHERE assignee_id IS NOT NULL), 0::bigint,
	'unassigned only');
SELECT is((SELECT array_agg(id ORDER BY id DESC) FROM helpdesk.list_tickets(:ta, max_rows => 2)),
	(SELECT array_agg(id) FROM (SELECT id FROM helpdesk.ticket WHERE tenant_id = :ta ORDER BY id DESC LIMIT 2) x),
	'max_rows: a page');
SELECT is((SELECT array_agg(id ORDER BY id DESC) FROM helpdesk.list_tickets(:ta, before_id => :t2, max_rows => 10)),
	(SELECT array_agg(id ORDER BY id DESC) FROM helpdesk.ticket WHERE tenant_id = :ta AND id < :t2),
	'before_id: the next page');

-- ---- thread paging and receipts ----
SELECT is((SELECT array_agg(id ORDER BY id) FROM helpdesk.ticket_messages(:ta, :t1, 0, 2)),
	(SELECT array_agg(id) FROM (SELECT id FROM helpdesk.ticket_message WHERE tenant_id = :ta AND ticket_id = :t1
	 AND sender_kind <> 'note' ORDER BY id LIMIT 2) x), 'ticket_messages pages oldest first');
SELECT is((SELECT min(id) FROM helpdesk.ticket_messages(:ta, :t1, :m1, 10)) > :m1, true, 'after_id');
SELECT is(helpdesk.mark_ticket_delivered(:ta, :t1, 'customer', :ca, :r1), 1, 'the customer received the agent''s first reply');
SELECT is(helpdesk.mark_ticket_read(:ta, :t1, 'customer', :ca, 2147483647), 2, 'and reads both agent replies (never notes)');
SELECT is(helpdesk.mark_ticket_read(:ta, :t1, 'customer', :ca, 2147483647), 0, 'reading again marks nothing');
SELECT is(helpdesk.mark_ticket_read(:ta, :t1, 'agent', :aa2, 2147483647),
	(SELECT count(*)::int FROM helpdesk.ticket_message WHERE tenant_id = :ta AND ticket_id = :t1 AND sender_kind = 'customer'),
	'an agent reads the customer''s entries');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = :ta AND type = 'ticket.read' AND audience = 'customer'), 2::bigint,
	'ticket.read events');

-- ---- attachments as chat messages have them ----
SELECT helpdesk.reply_ticket(:ta, :t2, 'agent', :aa, NULL, 'image', 'img-1',
	'{"url": "https://cdn.example.test/a.png", "name": "a.png", "size": 10, "mime": "image/png"}') AS img \gset
SELECT is((SELECT type FROM helpdesk.ticket_message WHERE tenant_id = :ta AND id = :img),
	'image', 'an image reply with its attachment');
SELECT is(helpdesk.reply_ticket(:ta, :t2, 'agent', :aa, NULL, 'image', 'img-1',
	'{"url": "https://cdn.example.test/a.png", "name": "a.png", "size": 10, "mime": "image/png"}'),
	(SELECT id FROM helpdesk.ticket_message WHERE tenant_id = :ta AND client_msg_id = 'img-1'), 'replayed with its attachment');

-- ---- escalation of a chat session ----
INSERT INTO fx SELECT 'cs', helpdesk.upsert_customer(pg_temp.fx('ta'), 'chatter');
SELECT pg_temp.fx('cs') AS cs \gset
SELECT session_id AS s1 FROM helpdesk.start_session(:ta, :cs, first_message => E'My account is locked\nplease help') \gset
UPDATE helpdesk.session SET state = 'active', agent_id = :aa, assigned_at = now() WHERE tenant_id = :ta AND id = :s1;
UPDATE helpdesk.agent SET load = 1 WHERE tenant_id = :ta AND id = :aa;
SELECT helpdesk.post_message(:ta, :s1, 'agent', :aa, 'I will open a ticket');
SELECT helpdesk.escalate_session(:ta, :s1, actor_kind => 'agent', actor_id => :aa, note => 'needs the security team') AS te \gset
SELECT is((SELECT row(channel, session_id, customer_id, subject, status, queue_id, last_public_sender, last_customer_at IS NOT NULL)::text
	FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :te),
	row('chat', :s1::bigint, :cs::bigint, 'My account is locked', 'new', :qa::bigint, 'agent', true)::text,
	'escalate_session: a chat ticket linked to the session, subject from the first line, activity carried over');
SELECT is((SELECT row(state, close_reason, closed_by)::text FROM helpdesk.session WHERE tenant_id = :ta AND id = :s1),
	row('closed', 'escalated', 'agent')::text, 'the session closed with reason escalated');
SELECT is((SELECT agent.load FROM helpdesk.agent WHERE tenant_id = :ta AND id = :aa), 0, 'through the close path: the agent''s slot is free');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = :ta AND session_id = :s1 AND type = 'session.released'
	AND audience = 'agent' AND audience_id = :aa), 1::bigint, 'and the agent was told the session is released');
SELECT is((SELECT payload->>'reason' FROM helpdesk.event WHERE tenant_id = :ta AND session_id = :s1 AND type = 'session.state'
	AND payload->>'to' = 'closed' AND audience = 'session'), 'escalated', 'session.state closed with reason escalated');
SELECT is((SELECT count(*) FROM helpdesk.ticket_messages(:ta, :te, include_notes => true) WHERE sender_kind = 'note'), 1::bigint,
	'the agent''s note is on the ticket');
SELECT is(helpdesk.escalate_session(:ta, :s1), :te::bigint, 'escalating again returns the same ticket');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = :ta AND session_id = :s1 AND type = 'session.escalated'), 1::bigint,
	'the chat hears of its ticket once');
SELECT session_id AS s2 FROM helpdesk.start_session(:ta, :ca2) \gset
SELECT helpdesk.escalate_session(:ta, :s2, 'Given subject', 'high', queue_id => :qa2) AS te2 \gset
SELECT is((SELECT subject FROM helpdesk.ticket WHERE tenant_id = :ta AND id = :te2), 'Given subject', 'a queued session escalates by the system');
SELECT is((SELECT row(s.close_reason, s.closed_by, t.priority, t.queue_id)::text FROM helpdesk.session s
	JOIN helpdesk.ticket t ON t.tenant_id = s.tenant_id AND t.session_id = s.id WHERE s.tenant_id = :ta AND s.id = :s2),
	row('escalated', 'system', 'high', :qa2::bigint)::text, 'with the given priority and queue');

-- ---- offline tickets: contact_support ----
INSERT INTO fx SELECT 'co', helpdesk.upsert_customer(pg_temp.fx('ta'), 'offline-one');
SELECT pg_temp.fx('co') AS co \gset
SELECT is((SELECT kind FROM helpdesk.contact_support(:ta, :co, 'hello?', client_msg_id => 'off-0')), 'session',
	'offline_tickets off: contact_support starts a session');
UPDATE helpdesk.session SET state = 'closed', closed_at = now() WHERE tenant_id = :ta AND customer_id = :co;
SELECT helpdesk.set_ticket_settings(:ta, offline_tickets => true);
SELECT is((SELECT row(kind, session_id, created)::text FROM helpdesk.contact_support(:ta, :co, E'Anyone there?\nI lost items',
	client_msg_id => 'off-1')), row('ticket', NULL::bigint, true)::text, 'on, nobody online: an offline ticket');
SELECT is((SELECT row(channel, subject, queue_id, status)::text FROM helpdesk.ticket WHERE tenant_id = :ta AND customer_id = :co),
	row('offline', 'Anyone there?', :qa::bigint, 'new')::text, 'channel offline in the default queue, subject from the first line');
SELECT is((SELECT row(kind, created)::text FROM helpdesk.contact_support(:ta, :co, E'Anyone there?\nI lost items',
	client_msg_id => 'off-1')), row('ticket', false)::text, 'a retry returns the same ticket');
SELECT helpdesk.set_agent_status(:ta, :aa, 'online');
SELECT is((SELECT kind FROM helpdesk.contact_support(:ta, :co, 'again', client_msg_id => 'off-1')), 'ticket',
	'a retry stays a ticket after an agent came online');
SELECT is((SELECT kind FROM helpdesk.contact_support(:ta, :co, 'new question')), 'session',
	'an agent of the queue online: a session');
INSERT INTO fx SELECT 'co2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'offline-two');
SELECT is((SELECT kind FROM helpdesk.contact_support(:ta, pg_temp.fx('co2'), 'billing?', queue_id => :qa2)), 'ticket',
	'an online agent without the queue''s skills does not count');

-- ---- queue max-wait action ----
SELECT helpdesk.set_queue_max_wait_action(:ta, :qa2, 'ticket');
SELECT is((SELECT max_wait_action FROM helpdesk.queue WHERE tenant_id = :ta AND id = :qa2), 'ticket', 'set_queue_max_wait_action');
SELECT is((SELECT max_wait_action FROM helpdesk.queue WHERE tenant_id = :ta AND id = :qa), 'overflow', 'default: overflow (as before)');

-- ---- the status machine as documented ----
SELECT is((SELECT count(*) FROM helpdesk.ticket_transition), 9::bigint, 'nine transitions');
SELECT ok(NOT helpdesk.ticket_transition_allowed('closed', s), 'closed is final: ' || s)
FROM unnest(ARRAY['new', 'open', 'pending', 'resolved']) s;

SELECT * FROM finish();
ROLLBACK;
