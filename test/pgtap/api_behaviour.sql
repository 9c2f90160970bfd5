BEGIN;
SELECT plan(88);

-- What the helpdesk SQL API does when calls succeed: upserts, idempotent
-- start_session and post_message, the session life cycle, receipts, history
-- paging, the event log, and that failed calls write nothing.
-- Fixtures are made here with the API; ids are kept in the temp table fx and
-- read back with pg_temp.fx(name), which fails loudly on an unknown name.

\ir fixtures.psql

CREATE TEMP TABLE snap (k text PRIMARY KEY, v text NOT NULL);

------------------------------------------------------------------------------
-- upserts
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-beh-a', 'TAP behaviour A', heartbeat_misses => 4,
	settings => '{"sla": 60}');
SELECT is(helpdesk.upsert_tenant('tap-beh-a', 'TAP behaviour A, renamed'), pg_temp.fx('ta'),
	'upsert_tenant: the same slug returns the same id');
SELECT row_eq(
	$$SELECT name, bot_enabled, heartbeat_interval, heartbeat_misses, settings
	  FROM helpdesk.tenant WHERE id = pg_temp.fx('ta')$$,
	ROW('TAP behaviour A, renamed'::text, false, '15 seconds'::interval, 4, '{"sla": 60}'::jsonb),
	'upsert_tenant: NULL arguments keep stored values, name is updated');

INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qa2', helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing', '{billing}', '{es}',
	'longest_idle', '20 seconds', '10 minutes', pg_temp.fx('qa'));
SELECT is(helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing', is_default => true), pg_temp.fx('qa2'),
	'upsert_queue: the same external id returns the same id');
SELECT results_eq(
	$$SELECT id, is_default FROM helpdesk.queue WHERE tenant_id = pg_temp.fx('ta') ORDER BY id$$,
	$$VALUES (pg_temp.fx('qa'), false), (pg_temp.fx('qa2'), true)$$,
	'upsert_queue: is_default moves to the new default queue');
SELECT is(helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true), pg_temp.fx('qa'),
	'upsert_queue: moving the default back');
SELECT row_eq(
	$$SELECT required_skills, required_languages, strategy, offer_timeout, max_wait, overflow_queue_id, is_default
	  FROM helpdesk.queue WHERE id = pg_temp.fx('qa2') AND tenant_id = pg_temp.fx('ta')$$,
	ROW('{billing}'::text[], '{es}'::text[], 'longest_idle'::text, '20 seconds'::interval,
	    '10 minutes'::interval, pg_temp.fx('qa'), false),
	'upsert_queue: a partial update keeps the other settings');
SELECT lives_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'billing', 'Billing', max_wait => '0 s', overflow_queue_id => 0)$$,
	'upsert_queue: max_wait 0 s and overflow_queue_id 0 are accepted');
SELECT row_eq(
	$$SELECT max_wait, overflow_queue_id FROM helpdesk.queue WHERE id = pg_temp.fx('qa2') AND tenant_id = pg_temp.fx('ta')$$,
	ROW(NULL::interval, NULL::bigint),
	'upsert_queue: max_wait 0 s and overflow_queue_id 0 clear those settings');

INSERT INTO fx SELECT 'aa1', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana', '{"billing": 7}', '{es,en}', 3);
INSERT INTO fx SELECT 'aa2', helpdesk.upsert_agent(pg_temp.fx('ta'), 'bo', 'Bo');
SELECT is(helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana M.', max_sessions => 4), pg_temp.fx('aa1'),
	'upsert_agent: the same external id returns the same id');
SELECT row_eq(
	$$SELECT display_name, skills, languages, max_sessions, enabled FROM helpdesk.agent
	  WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('aa1')$$,
	ROW('Ana M.'::text, '{"billing": 7}'::jsonb, '{es,en}'::text[], 4, true),
	'upsert_agent: a partial update keeps skills and languages');

INSERT INTO fx SELECT 'ca1', helpdesk.upsert_customer(pg_temp.fx('ta'), 'player-1', 'Player One', 3, 'es',
	'{"server": "eu-1", "level": 40}');
SELECT is(helpdesk.upsert_customer(pg_temp.fx('ta'), 'player-1', attributes => '{"level": 41, "server": null, "guild": "x"}'),
	pg_temp.fx('ca1'), 'upsert_customer: the same external id returns the same id');
SELECT row_eq(
	$$SELECT display_name, vip_level::int, language, attributes FROM helpdesk.customer
	  WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('ca1')$$,
	ROW('Player One'::text, 3, 'es'::text, '{"level": 41, "guild": "x"}'::jsonb),
	'upsert_customer: attributes merge key by key and null removes a key');
INSERT INTO fx SELECT 'ca2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'player-2');
INSERT INTO fx SELECT 'ca3', helpdesk.upsert_customer(pg_temp.fx('ta'), 'player-3');
INSERT INTO fx SELECT 'ca4', helpdesk.upsert_customer(pg_temp.fx('ta'), 'player-4');

-- Tenant B: a bot answers first; no default queue yet.
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-beh-b', 'TAP behaviour B', bot_enabled => true);
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'player-1');
SELECT isnt(pg_temp.fx('cb'), pg_temp.fx('ca1'), 'the same customer external id in another tenant is another row');

-- several API calls in one statement see each other's rows
SELECT lives_ok($$
	WITH t AS (SELECT helpdesk.upsert_tenant('tap-beh-cte', 'TAP behaviour CTE') AS id)
	SELECT helpdesk.upsert_queue(t.id, 'main', 'Main', is_default => true),
	       helpdesk.upsert_customer(t.id, 'cte-customer')
	FROM t$$,
	'a tenant created in a CTE can be used by upsert_queue and upsert_customer in the same statement');
SELECT results_eq(
	$$SELECT (SELECT count(*) FROM helpdesk.queue q WHERE q.tenant_id = t.id AND q.is_default),
	         (SELECT count(*) FROM helpdesk.customer c WHERE c.tenant_id = t.id)
	  FROM helpdesk.tenant t WHERE t.slug = 'tap-beh-cte'$$,
	$$VALUES (1::bigint, 1::bigint)$$,
	'the queue and customer of that statement belong to the new tenant');

------------------------------------------------------------------------------
-- start_session
------------------------------------------------------------------------------
CREATE TEMP TABLE started AS
SELECT 1 AS call, * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca1'), 'ios', issue_type => 'payment');
INSERT INTO started SELECT 2, * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca1'), 'web');
INSERT INTO fx SELECT 's1', session_id FROM started WHERE call = 1;
SELECT results_eq(
	$$SELECT call, session_id, created, state, message_id FROM started ORDER BY call$$,
	$$VALUES (1, pg_temp.fx('s1'), true, 'queued'::text, NULL::bigint),
	         (2, pg_temp.fx('s1'), false, 'queued'::text, NULL::bigint)$$,
	'start_session: the second call returns the same session with created = false');
SELECT is((SELECT count(*) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND customer_id = pg_temp.fx('ca1')),
	1::bigint, 'start_session: the customer has exactly one session');
SELECT row_eq(
	$$SELECT state, channel, issue_type, queue_id, queued_at IS NOT NULL, agent_id
	  FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s1')$$,
	ROW('queued'::text, 'ios'::text, 'payment'::text, pg_temp.fx('qa'), true, NULL::bigint),
	'start_session: the session is queued in the default queue, the second call changed nothing');
SELECT results_eq(
	$$SELECT type, audience, audience_id, payload->>'to' FROM helpdesk.event
	  WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s1') ORDER BY id$$,
	$$VALUES ('session.state'::text, 'session'::text, pg_temp.fx('s1'), 'queued'::text),
	         ('session.queued', 'queue', pg_temp.fx('qa'), 'queued')$$,
	'start_session: one session.state and one session.queued event, none for the repeated call');

-- a first message with a client_msg_id: retried start_session posts it once
CREATE TEMP TABLE started2 AS
SELECT 1 AS call, * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca2'),
	first_message => 'my purchase failed', client_msg_id => 'first-1');
INSERT INTO started2 SELECT 2, * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca2'),
	first_message => 'my purchase failed', client_msg_id => 'first-1');
INSERT INTO fx SELECT 's2', session_id FROM started2 WHERE call = 1;
INSERT INTO fx SELECT 'm2_first', message_id FROM started2 WHERE call = 1;
SELECT results_eq(
	$$SELECT call, session_id, created, message_id FROM started2 ORDER BY call$$,
	$$VALUES (1, pg_temp.fx('s2'), true, pg_temp.fx('m2_first')),
	         (2, pg_temp.fx('s2'), false, pg_temp.fx('m2_first'))$$,
	'start_session: a retried first message returns the same message id');
SELECT results_eq(
	$$SELECT id, sender_kind, sender_id, customer_id, body, client_msg_id FROM helpdesk.message
	  WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s2')$$,
	$$VALUES (pg_temp.fx('m2_first'), 'customer'::text, pg_temp.fx('ca2'), pg_temp.fx('ca2'),
	          'my purchase failed'::text, 'first-1'::text)$$,
	'start_session: the first message is stored once, as the customer');
INSERT INTO snap VALUES ('start_conflict', pg_temp.snapshot());
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca2'),
	first_message => 'something else', client_msg_id => 'first-1')$$,
	'HD409', format('client_msg_id "first-1" was already used for a different message in session %s', pg_temp.fx('s2')),
	'start_session: the same client_msg_id with another first message is refused');
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'start_conflict'),
	'start_session: the refused call wrote nothing');

-- a start_session whose first message is refused opens no session
INSERT INTO snap VALUES ('start_bad_message', pg_temp.snapshot());
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca4'), first_message => '')$$,
	'22023', 'text messages need a non-empty body', 'start_session: an empty first message is refused');
SET LOCAL helpdesk.max_message_bytes = 64;
SELECT throws_ok($$SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca4'), first_message => repeat('x', 65))$$,
	'54000', 'message is 65 bytes, more than the limit of 64', 'start_session: an oversize first message is refused');
SET LOCAL helpdesk.max_message_bytes TO DEFAULT;
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'start_bad_message'),
	'start_session: no session, message or event is left by a refused first message');
SELECT is((SELECT count(*) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND customer_id = pg_temp.fx('ca4')),
	0::bigint, 'start_session: the customer of the refused calls has no session');

------------------------------------------------------------------------------
-- post_message: idempotency, kinds, size
------------------------------------------------------------------------------
-- s1 becomes active with ana (routing does not exist yet)
UPDATE helpdesk.session SET state = 'active', agent_id = pg_temp.fx('aa1'), assigned_at = now()
 WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s1');
INSERT INTO fx SELECT 'm_retry', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	'where is my sword?', client_msg_id => 'c-1');
SELECT is(helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	'where is my sword?', client_msg_id => 'c-1'), pg_temp.fx('m_retry'),
	'post_message: a retry with the same client_msg_id returns the stored id');
SELECT is(helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	'where is my sword?', client_msg_id => 'c-1'), pg_temp.fx('m_retry'),
	'post_message: and so does a third try');
SELECT is((SELECT count(*) FROM helpdesk.message WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s1')
           AND client_msg_id = 'c-1'),
	1::bigint, 'post_message: retries store one row');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND type = 'message.created'
           AND message_id = pg_temp.fx('m_retry')),
	1::bigint, 'post_message: retries log one message.created event');
INSERT INTO fx SELECT 'm_agent_c1', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('aa1'),
	'Let me check.', client_msg_id => 'c-1');
SELECT isnt(pg_temp.fx('m_agent_c1'), pg_temp.fx('m_retry'),
	'post_message: the same client_msg_id from another sender kind is another message');
SELECT isnt(helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'), 'ok'),
	helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'), 'ok'),
	'post_message: without client_msg_id the same text twice is two messages');
INSERT INTO fx SELECT 'm_note', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'note', pg_temp.fx('aa2'), 'VIP, be nice');
SELECT results_eq(
	$$SELECT m.sender_kind, m.customer_id, e.audience, e.audience_id FROM helpdesk.message m
	  JOIN helpdesk.event e ON e.tenant_id = m.tenant_id AND e.message_id = m.id AND e.type = 'message.created'
	  WHERE m.tenant_id = pg_temp.fx('ta') AND m.id IN (pg_temp.fx('m_retry'), pg_temp.fx('m_note')) ORDER BY m.id$$,
	$$VALUES ('customer'::text, pg_temp.fx('ca1'), 'session'::text, pg_temp.fx('s1')),
	         ('note', pg_temp.fx('ca1'), 'session_staff', pg_temp.fx('s1'))$$,
	'post_message: messages carry the customer id; notes are logged for staff only');
SET LOCAL helpdesk.max_message_bytes = 64;
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	repeat('x', 64), client_msg_id => 'at-limit')$$,
	'post_message: a message of exactly helpdesk.max_message_bytes is accepted');
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	repeat('é', 32), client_msg_id => 'at-limit-utf8')$$,
	'post_message: 32 two-byte characters (64 bytes) are accepted');
SET LOCAL helpdesk.max_message_bytes TO DEFAULT;
SELECT is((SELECT count(*) FROM helpdesk.message WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s1')
           AND client_msg_id IN ('at-limit', 'at-limit-utf8')),
	2::bigint, 'post_message: both messages at the limit were stored');

-- a failed post writes nothing
INSERT INTO snap VALUES ('post_conflict', pg_temp.snapshot());
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'),
	'something else', client_msg_id => 'c-1')$$,
	'HD409', format('client_msg_id "c-1" was already used for a different message in session %s', pg_temp.fx('s1')),
	'post_message: the same client_msg_id with another body is refused');
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'post_conflict'),
	'post_message: the refused call wrote nothing');

------------------------------------------------------------------------------
-- receipts
------------------------------------------------------------------------------
-- s3: customer ca3 with agent bo; messages in this order
INSERT INTO fx SELECT 's3', session_id FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca3'));
UPDATE helpdesk.session SET state = 'active', agent_id = pg_temp.fx('aa2'), assigned_at = now()
 WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s3');
INSERT INTO fx SELECT 'r_c1', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), 'hello');
INSERT INTO fx SELECT 'r_a1', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), 'hi, Bo here');
INSERT INTO fx SELECT 'r_n1', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'note', pg_temp.fx('aa1'), 'known issue');
INSERT INTO fx SELECT 'r_a2', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), 'what happened?');
INSERT INTO fx SELECT 'r_s1', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'system', NULL, 'Ana is watching', 'system');
INSERT INTO fx SELECT 'r_c2', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), 'my sword is gone');
INSERT INTO fx SELECT 'r_a3', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), 'restored it');

SELECT is(helpdesk.mark_delivered(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), pg_temp.fx('r_a2')),
	2, 'mark_delivered: the customer gets the agent messages up to the id, not notes or own messages');
SELECT is(helpdesk.mark_delivered(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), pg_temp.fx('r_a2')),
	0, 'mark_delivered: repeating the receipt marks nothing');
SELECT is(helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), pg_temp.fx('r_a3')),
	4, 'mark_read: the customer reads agent and system messages up to the id');
SELECT is(helpdesk.mark_delivered(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), pg_temp.fx('r_a3')),
	0, 'mark_delivered: read messages are already delivered');
SELECT is(helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), pg_temp.fx('r_c1')),
	1, 'mark_read: the agent reads the customer messages up to the id');
SELECT is(helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), pg_temp.fx('r_a3')),
	1, 'mark_read: then the rest of them');
SELECT results_eq(
	$$SELECT id, delivered_at IS NOT NULL, read_at IS NOT NULL FROM helpdesk.message
	  WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s3') ORDER BY id$$,
	$$VALUES (pg_temp.fx('r_c1'), true, true), (pg_temp.fx('r_a1'), true, true),
	         (pg_temp.fx('r_n1'), false, false), (pg_temp.fx('r_a2'), true, true),
	         (pg_temp.fx('r_s1'), true, true), (pg_temp.fx('r_c2'), true, true),
	         (pg_temp.fx('r_a3'), true, true)$$,
	'receipts: every message but the note is delivered and read');
SELECT results_eq(
	$$SELECT type, payload FROM helpdesk.event
	  WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s3')
	    AND type IN ('message.delivered', 'message.read') ORDER BY id$$,
	format($$VALUES ('message.delivered'::text, '{"reader_kind": "customer", "up_to": %s, "count": 2}'::jsonb),
	                ('message.read', '{"reader_kind": "customer", "up_to": %s, "count": 4}'),
	                ('message.read', '{"reader_kind": "agent", "up_to": %s, "count": 1}'),
	                ('message.read', '{"reader_kind": "agent", "up_to": %s, "count": 1}')$$,
	       pg_temp.fx('r_a2'), pg_temp.fx('r_a3'), pg_temp.fx('r_c1'), pg_temp.fx('r_a3')),
	'receipts: one event per receipt that marked something, with its count');
SELECT is(helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s1'), 'customer', pg_temp.fx('ca1'), pg_temp.fx('r_a3')),
	1, 'mark_read: only the named session''s messages are marked, even with a later message id');

------------------------------------------------------------------------------
-- history paging
------------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT id, sender_kind, body FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('s3'), 0, 3)$$,
	$$VALUES (pg_temp.fx('r_c1'), 'customer'::text, 'hello'::text), (pg_temp.fx('r_a1'), 'agent', 'hi, Bo here'),
	         (pg_temp.fx('r_a2'), 'agent', 'what happened?')$$,
	'session_messages: first page, oldest first, without notes');
SELECT results_eq(
	$$SELECT id FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('s3'), pg_temp.fx('r_a2'), 3)$$,
	$$VALUES (pg_temp.fx('r_s1')), (pg_temp.fx('r_c2')), (pg_temp.fx('r_a3'))$$,
	'session_messages: the next page starts after the last id');
SELECT is_empty(
	$$SELECT * FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('s3'), pg_temp.fx('r_a3'))$$,
	'session_messages: nothing after the last message');
SELECT results_eq(
	$$SELECT id FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('s3'), pg_temp.fx('r_a1'), 2, true)$$,
	$$VALUES (pg_temp.fx('r_n1')), (pg_temp.fx('r_a2'))$$,
	'session_messages: include_notes shows notes to staff');
SELECT row_eq(
	$$SELECT session_id, sender_kind, sender_id, type, client_msg_id, delivered_at IS NOT NULL, read_at IS NOT NULL
	  FROM helpdesk.session_messages(pg_temp.fx('ta'), pg_temp.fx('s1'), pg_temp.fx('m_retry') - 1, 1)$$,
	ROW(pg_temp.fx('s1'), 'customer'::text, pg_temp.fx('ca1'), 'text'::text, 'c-1'::text, false, false),
	'session_messages: rows carry sender, type, client_msg_id and receipts');

-- a customer's history across sessions, newest first
INSERT INTO fx SELECT 'r_a4', helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s3'), 'agent', pg_temp.fx('aa2'), 'bye!');
SELECT is(helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('s3'), closed_by => 'agent', actor_id => pg_temp.fx('aa2')),
	'active', 'close_session: an agent closes its active session and gets the previous state');
CREATE TEMP TABLE started3 AS
SELECT * FROM helpdesk.start_session(pg_temp.fx('ta'), pg_temp.fx('ca3'), first_message => 'it is gone again');
INSERT INTO fx SELECT 's3b', session_id FROM started3;
INSERT INTO fx SELECT 'r_c3', message_id FROM started3;
SELECT results_eq(
	$$SELECT created, state FROM started3$$,
	$$VALUES (true, 'queued'::text)$$,
	'start_session: after a close the customer gets a new session');
SELECT isnt(pg_temp.fx('s3b'), pg_temp.fx('s3'), 'start_session: the new session has a new id');
SELECT results_eq(
	$$SELECT id, session_id FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca3'), max_rows => 3)$$,
	$$VALUES (pg_temp.fx('r_c3'), pg_temp.fx('s3b')), (pg_temp.fx('r_a4'), pg_temp.fx('s3')),
	         (pg_temp.fx('r_a3'), pg_temp.fx('s3'))$$,
	'customer_messages: newest first across sessions');
SELECT results_eq(
	$$SELECT id FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca3'), pg_temp.fx('r_c2'), 10)$$,
	$$VALUES (pg_temp.fx('r_s1')), (pg_temp.fx('r_a2')), (pg_temp.fx('r_a1')), (pg_temp.fx('r_c1'))$$,
	'customer_messages: the next page is before the last id, without notes');
SELECT results_eq(
	$$SELECT id FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca3'), pg_temp.fx('r_a2'), 10, true)$$,
	$$VALUES (pg_temp.fx('r_n1')), (pg_temp.fx('r_a1')), (pg_temp.fx('r_c1'))$$,
	'customer_messages: include_notes shows notes');
SELECT is_empty(
	$$SELECT * FROM helpdesk.customer_messages(pg_temp.fx('ta'), pg_temp.fx('ca4'))$$,
	'customer_messages: a customer without messages has an empty history');
SELECT is(helpdesk.mark_read(pg_temp.fx('ta'), pg_temp.fx('s3'), 'customer', pg_temp.fx('ca3'), pg_temp.fx('r_a4')),
	1, 'mark_read: accepted on a closed session (a client coming back online late)');

------------------------------------------------------------------------------
-- session life cycle
------------------------------------------------------------------------------
-- a customer leaves before an agent took the session: abandoned
SELECT is(helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('s3b'), closed_by => 'customer', actor_id => pg_temp.fx('ca3')),
	'queued', 'close_session: the customer closes a queued session');
SELECT row_eq(
	$$SELECT state, close_reason, closed_by, closed_at IS NOT NULL FROM helpdesk.session
	  WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s3b')$$,
	ROW('closed'::text, 'abandoned'::text, 'customer'::text, true),
	'close_session: a customer leaving a queued session abandons it');
SELECT row_eq(
	$$SELECT close_reason, closed_by FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s3')$$,
	ROW('closed'::text, 'agent'::text),
	'close_session: an agent closing an active session records reason closed');
SELECT results_eq(
	$$SELECT payload FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND session_id = pg_temp.fx('s3b')
	  AND type = 'session.state' ORDER BY id$$,
	$$VALUES (jsonb_build_object('from', NULL, 'to', 'queued', 'queue_id', pg_temp.fx('qa'))),
	         ('{"from": "queued", "to": "closed", "reason": "abandoned", "closed_by": "customer"}'::jsonb)$$,
	'close_session: the session.state events name both states');

-- moving between queues, transfer back to the queue
SELECT is(helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('s2'), pg_temp.fx('qa2')), pg_temp.fx('qa2'),
	'request_agent: a queued session moves to another queue');
SELECT row_eq(
	$$SELECT state, queue_id FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s2')$$,
	ROW('queued'::text, pg_temp.fx('qa2')),
	'request_agent: the session is queued in the new queue');
SELECT is(helpdesk.request_agent(pg_temp.fx('ta'), pg_temp.fx('s1')), pg_temp.fx('qa'),
	'request_agent: an active session goes back to its own queue');
SELECT row_eq(
	$$SELECT state, queue_id, agent_id FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s1')$$,
	ROW('queued'::text, pg_temp.fx('qa'), NULL::bigint),
	'request_agent: the transferred session has no agent');
SELECT throws_ok($$SELECT helpdesk.post_message(pg_temp.fx('ta'), pg_temp.fx('s1'), 'agent', pg_temp.fx('aa1'), 'still here?')$$,
	'42501', format('agent %s is not assigned to session %s', pg_temp.fx('aa1'), pg_temp.fx('s1')),
	'post_message: the agent of a transferred session may no longer post');
SELECT is(helpdesk.close_session(pg_temp.fx('ta'), pg_temp.fx('s1'), 'duplicate ticket'),
	'queued', 'close_session: the system closes a queued session');
SELECT row_eq(
	$$SELECT close_reason, closed_by FROM helpdesk.session WHERE tenant_id = pg_temp.fx('ta') AND id = pg_temp.fx('s1')$$,
	ROW('duplicate ticket'::text, 'system'::text),
	'close_session: an explicit reason and the default closer are stored');

-- the bot tenant
CREATE TEMP TABLE started_bot AS SELECT * FROM helpdesk.start_session(pg_temp.fx('tb'), pg_temp.fx('cb'));
INSERT INTO fx SELECT 'sb', session_id FROM started_bot;
SELECT results_eq($$SELECT created, state, message_id FROM started_bot$$,
	$$VALUES (true, 'bot'::text, NULL::bigint)$$,
	'start_session: a bot tenant starts sessions in state bot without a default queue');
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('sb'), 'bot', NULL, 'Hi! What can I do for you?')$$,
	'post_message: the bot speaks in a bot session');
INSERT INTO snap VALUES ('no_default', pg_temp.snapshot());
SELECT throws_ok($$SELECT helpdesk.request_agent(pg_temp.fx('tb'), pg_temp.fx('sb'))$$,
	'55000', format('tenant %s has no default queue', pg_temp.fx('tb')),
	'request_agent: a bot session needs a queue');
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'no_default'),
	'request_agent: the refused hand-over left the session in state bot and wrote nothing');
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'main', 'Main', is_default => true);
SELECT is(helpdesk.request_agent(pg_temp.fx('tb'), pg_temp.fx('sb')), pg_temp.fx('qb'),
	'request_agent: a bot session goes to the default queue');
SELECT row_eq(
	$$SELECT state, queue_id, queued_at IS NOT NULL FROM helpdesk.session WHERE tenant_id = pg_temp.fx('tb') AND id = pg_temp.fx('sb')$$,
	ROW('queued'::text, pg_temp.fx('qb'), true),
	'request_agent: the session is queued');
SELECT lives_ok($$SELECT helpdesk.post_message(pg_temp.fx('tb'), pg_temp.fx('sb'), 'bot', NULL, 'An agent will be with you shortly.')$$,
	'post_message: the bot may still speak while the session is queued');

-- a failed close changes nothing
INSERT INTO snap VALUES ('close_refused', pg_temp.snapshot());
SELECT throws_ok($$SELECT helpdesk.close_session(pg_temp.fx('tb'), pg_temp.fx('sb'), closed_by => 'customer', actor_id => pg_temp.fx('ca1'))$$,
	'42501', format('customer %s is not part of session %s', pg_temp.fx('ca1'), pg_temp.fx('sb')),
	'close_session: a customer of another tenant may not close the session');
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'close_refused'),
	'close_session: the refused close wrote nothing');

-- a failed upsert changes nothing
INSERT INTO snap VALUES ('queue_refused', pg_temp.snapshot());
SELECT throws_ok($$SELECT helpdesk.upsert_queue(pg_temp.fx('ta'), 'overflowing', 'Overflowing', is_default => true,
	overflow_queue_id => pg_temp.fx('qb'))$$,
	'HD404', format('overflow queue %s does not exist in tenant %s', pg_temp.fx('qb'), pg_temp.fx('ta')),
	'upsert_queue: an overflow queue of another tenant is refused');
SELECT is(pg_temp.snapshot(), (SELECT v FROM snap WHERE k = 'queue_refused'),
	'upsert_queue: the refused call wrote nothing');
SELECT is((SELECT id FROM helpdesk.queue WHERE tenant_id = pg_temp.fx('ta') AND is_default), pg_temp.fx('qa'),
	'upsert_queue: the refused call did not move the default flag');

------------------------------------------------------------------------------
-- the state machine and the event log
------------------------------------------------------------------------------
SELECT is_empty(
	$$WITH s(state) AS (VALUES ('bot'), ('queued'), ('offered'), ('active'), ('closed'))
	  SELECT a.state, b.state FROM s a CROSS JOIN s b
	  LEFT JOIN helpdesk.session_transition t ON t.from_state = a.state AND t.to_state = b.state
	  WHERE helpdesk.transition_allowed(a.state, b.state) <> (t.from_state IS NOT NULL)$$,
	'transition_allowed agrees with helpdesk.session_transition');
SELECT results_eq(
	$$SELECT helpdesk.transition_allowed(f, t) FROM (VALUES ('bot', 'active'), ('closed', 'queued'),
	  ('closed', 'closed'), ('active', 'offered'), ('queued', 'queued'), ('offered', 'queued')) v(f, t)$$,
	$$VALUES (false), (false), (false), (false), (true), (true)$$,
	'transition_allowed: sample of forbidden and allowed transitions');
SELECT cmp_ok((SELECT count(*) FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta')), '>', 0::bigint,
	'the event log holds this transaction''s events');
SELECT is_empty(
	$$SELECT * FROM helpdesk.events_since(0, 100000, pg_temp.fx('ta'))$$,
	'events_since: uncommitted events are not published');

SELECT * FROM finish();
ROLLBACK;
