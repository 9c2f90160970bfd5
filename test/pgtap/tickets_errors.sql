BEGIN;
SELECT * FROM no_plan();

-- Every error path of the tickets API with its SQLSTATE: 22004 NULL
-- argument, 22023 invalid value, 42501 not the ticket's customer / not
-- allowed, 54000 too large, 55000 disabled agent, HD404 not found (other
-- tenants' ids included), HD409 client_msg_id reused, HD410 closed ticket,
-- HD422 illegal status transition (naming both statuses). Failed calls
-- change nothing.

\ir fixtures.psql
\set QUIET 1

INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant('tap-tke-a', 'TAP ticket errors A');
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant('tap-tke-b', 'TAP ticket errors B');
INSERT INTO fx SELECT 'qa', helpdesk.upsert_queue(pg_temp.fx('ta'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'general', 'General B');
INSERT INTO fx SELECT 'aa', helpdesk.upsert_agent(pg_temp.fx('ta'), 'ana', 'Ana');
INSERT INTO fx SELECT 'aa_off', helpdesk.upsert_agent(pg_temp.fx('ta'), 'cy', 'Cy', enabled => false);
INSERT INTO fx SELECT 'ab', helpdesk.upsert_agent(pg_temp.fx('tb'), 'ana', 'Ana B');
INSERT INTO fx SELECT 'ca', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c1');
INSERT INTO fx SELECT 'ca2', helpdesk.upsert_customer(pg_temp.fx('ta'), 'c2');
INSERT INTO fx SELECT 'cb', helpdesk.upsert_customer(pg_temp.fx('tb'), 'c1');
SELECT pg_temp.fx('ta') AS ta, pg_temp.fx('tb') AS tb, pg_temp.fx('qa') AS qa, pg_temp.fx('qb') AS qb,
       pg_temp.fx('aa') AS aa, pg_temp.fx('aa_off') AS aa_off, pg_temp.fx('ab') AS ab,
       pg_temp.fx('ca') AS ca, pg_temp.fx('ca2') AS ca2, pg_temp.fx('cb') AS cb \gset
SELECT ticket_id AS t1 FROM helpdesk.create_ticket(:ta, :ca, 'Open one', 'help', client_msg_id => 'c-1') \gset
SELECT ticket_id AS tnew FROM helpdesk.create_ticket(:ta, :ca, 'New one', 'hi') \gset
SELECT ticket_id AS tclosed FROM helpdesk.create_ticket(:ta, :ca, 'Closed one', 'hi') \gset
SELECT ticket_id AS tbt FROM helpdesk.create_ticket(:tb, :cb, 'B''s', 'hi') \gset
SELECT helpdesk.reply_ticket(:ta, :t1, 'agent', :aa, 'on it', client_msg_id => 'r-1');
SELECT helpdesk.add_ticket_note(:ta, :t1, :aa, 'note', client_msg_id => 'n-1');
SELECT helpdesk.set_ticket_status(:ta, :tclosed, 'resolved', 'api');
SELECT helpdesk.set_ticket_status(:ta, :tclosed, 'closed', 'api');
SELECT session_id AS sa FROM helpdesk.start_session(:ta, :ca2) \gset
CREATE TEMP TABLE before AS SELECT
	(SELECT string_agg(concat_ws(':', id, number, status, priority, tags, attributes, queue_id, resolution_count), ',' ORDER BY id)
	 FROM helpdesk.ticket) AS tickets,
	(SELECT count(*) FROM helpdesk.ticket_message) AS messages,
	(SELECT count(*) FROM helpdesk.event) AS events,
	(SELECT string_agg(concat_ws(':', tenant_id, next_number), ',') FROM helpdesk.ticket_counter) AS counters;

-- ---- NULL arguments (22004), each named ----
SELECT throws_ok(format('SELECT helpdesk.create_ticket(NULL, %s, %L)', :ca, 's'), '22004', 'tenant_id must not be NULL', 'create_ticket: NULL tenant');
SELECT throws_ok(format('SELECT helpdesk.create_ticket(%s, NULL, %L)', :ta, 's'), '22004', 'customer_id must not be NULL', 'create_ticket: NULL customer');
SELECT throws_ok(format('SELECT helpdesk.create_ticket(%s, %s, NULL)', :ta, :ca), '22004', 'subject must not be NULL', 'create_ticket: NULL subject');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(NULL, %s, 'agent', %s, 'x')$q$, :t1, :aa), '22004', 'tenant_id must not be NULL', 'reply_ticket: NULL tenant');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, NULL, 'agent', %s, 'x')$q$, :ta, :aa), '22004', 'ticket_id must not be NULL', 'reply_ticket: NULL ticket');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, NULL, %s, 'x')$q$, :ta, :t1, :aa), '22004', 'sender_kind must not be NULL', 'reply_ticket: NULL sender_kind');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', NULL, 'x')$q$, :ta, :t1), '22004', 'sender_id must not be NULL', 'reply_ticket: NULL sender_id');
SELECT throws_ok(format($q$SELECT helpdesk.add_ticket_note(%s, %s, NULL, 'x')$q$, :ta, :t1), '22004', 'agent_id must not be NULL', 'add_ticket_note: NULL agent');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, NULL, 'api')$q$, :ta, :t1), '22004', 'status must not be NULL', 'set_ticket_status: NULL status');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'open', NULL)$q$, :ta, :t1), '22004', 'actor_kind must not be NULL', 'set_ticket_status: NULL actor_kind');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'resolved', 'agent')$q$, :ta, :t1), '22004', 'actor_id must not be NULL when actor_kind is agent', 'set_ticket_status: agent without id');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, NULL, 'api')$q$, :ta, :t1), '22004', 'priority must not be NULL', 'set_ticket_priority: NULL priority');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_tags(%s, %s, NULL, 'api')$q$, :ta, :t1), '22004', 'tags must not be NULL', 'set_ticket_tags: NULL tags');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_attributes(%s, %s, NULL, 'api')$q$, :ta, :t1), '22004', 'attributes must not be NULL', 'set_ticket_attributes: NULL');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_queue(%s, %s, NULL, 'api')$q$, :ta, :t1), '22004', 'queue_id must not be NULL', 'set_ticket_queue: NULL');
SELECT throws_ok(format('SELECT helpdesk.get_ticket(%s, NULL)', :ta), '22004', 'ticket_id must not be NULL', 'get_ticket: NULL');
SELECT throws_ok('SELECT * FROM helpdesk.list_tickets(NULL)', '22004', 'tenant_id must not be NULL', 'list_tickets: NULL tenant');
SELECT throws_ok(format('SELECT * FROM helpdesk.ticket_messages(%s, NULL)', :ta), '22004', 'ticket_id must not be NULL', 'ticket_messages: NULL');
SELECT throws_ok(format($q$SELECT helpdesk.mark_ticket_read(%s, %s, 'customer', %s, NULL)$q$, :ta, :t1, :ca), '22004', 'up_to_message_id must not be NULL', 'mark_ticket_read: NULL');
SELECT throws_ok(format($q$SELECT helpdesk.mark_ticket_delivered(%s, %s, NULL, %s, 1)$q$, :ta, :t1, :ca), '22004', 'reader_kind must not be NULL', 'mark_ticket_delivered: NULL');
SELECT throws_ok(format('SELECT helpdesk.escalate_session(%s, NULL)', :ta), '22004', 'session_id must not be NULL', 'escalate_session: NULL');
SELECT throws_ok(format($q$SELECT helpdesk.escalate_session(%s, %s, actor_kind => 'agent')$q$, :ta, :sa), '22004', 'actor_id must not be NULL when actor_kind is agent', 'escalate_session: agent without id');
SELECT throws_ok(format('SELECT helpdesk.contact_support(%s, %s, NULL)', :ta, :ca), '22004', 'body must not be NULL', 'contact_support: NULL body');
SELECT throws_ok('SELECT helpdesk.set_ticket_settings(NULL)', '22004', 'tenant_id must not be NULL', 'set_ticket_settings: NULL');
SELECT throws_ok(format('SELECT helpdesk.set_queue_max_wait_action(%s, %s, NULL)', :ta, :qa), '22004', 'max_wait_action must not be NULL', 'set_queue_max_wait_action: NULL');

-- every required argument of every function, NULL in turn: 22004 naming it
CREATE TEMP TABLE null_arg (call text, arg text);
INSERT INTO null_arg VALUES
	('create_ticket(%s, 1, ''s'')', 'tenant_id'), ('create_ticket(1, %s, ''s'')', 'customer_id'),
	('create_ticket(1, 1, %s)', 'subject'),
	('reply_ticket(%s, 1, ''agent'', 1, ''x'')', 'tenant_id'), ('reply_ticket(1, %s, ''agent'', 1, ''x'')', 'ticket_id'),
	('reply_ticket(1, 1, %s, 1, ''x'')', 'sender_kind'), ('reply_ticket(1, 1, ''agent'', %s, ''x'')', 'sender_id'),
	('add_ticket_note(%s, 1, 1, ''x'')', 'tenant_id'), ('add_ticket_note(1, %s, 1, ''x'')', 'ticket_id'),
	('add_ticket_note(1, 1, %s, ''x'')', 'agent_id'),
	('set_ticket_status(%s, 1, ''open'', ''api'')', 'tenant_id'), ('set_ticket_status(1, %s, ''open'', ''api'')', 'ticket_id'),
	('set_ticket_status(1, 1, %s, ''api'')', 'status'), ('set_ticket_status(1, 1, ''open'', %s)', 'actor_kind'),
	('set_ticket_priority(%s, 1, ''low'', ''api'')', 'tenant_id'), ('set_ticket_priority(1, %s, ''low'', ''api'')', 'ticket_id'),
	('set_ticket_priority(1, 1, %s, ''api'')', 'priority'), ('set_ticket_priority(1, 1, ''low'', %s)', 'actor_kind'),
	('set_ticket_tags(%s, 1, ''{}'', ''api'')', 'tenant_id'), ('set_ticket_tags(1, %s, ''{}'', ''api'')', 'ticket_id'),
	('set_ticket_tags(1, 1, %s, ''api'')', 'tags'), ('set_ticket_tags(1, 1, ''{}'', %s)', 'actor_kind'),
	('set_ticket_attributes(%s, 1, ''{}'', ''api'')', 'tenant_id'), ('set_ticket_attributes(1, %s, ''{}'', ''api'')', 'ticket_id'),
	('set_ticket_attributes(1, 1, %s, ''api'')', 'attributes'), ('set_ticket_attributes(1, 1, ''{}'', %s)', 'actor_kind'),
	('set_ticket_queue(%s, 1, 1, ''api'')', 'tenant_id'), ('set_ticket_queue(1, %s, 1, ''api'')', 'ticket_id'),
	('set_ticket_queue(1, 1, %s, ''api'')', 'queue_id'), ('set_ticket_queue(1, 1, 1, %s)', 'actor_kind'),
	('get_ticket(%s, 1)', 'tenant_id'), ('get_ticket(1, %s)', 'ticket_id'),
	('list_tickets(%s)', 'tenant_id'),
	('ticket_messages(%s, 1)', 'tenant_id'), ('ticket_messages(1, %s)', 'ticket_id'),
	('ticket_messages(1, 1, %s)', 'after_id'), ('ticket_messages(1, 1, 0, %s)', 'max_rows'),
	('mark_ticket_delivered(%s, 1, ''agent'', 1, 1)', 'tenant_id'), ('mark_ticket_delivered(1, %s, ''agent'', 1, 1)', 'ticket_id'),
	('mark_ticket_delivered(1, 1, %s, 1, 1)', 'reader_kind'), ('mark_ticket_delivered(1, 1, ''agent'', %s, 1)', 'reader_id'),
	('mark_ticket_delivered(1, 1, ''agent'', 1, %s)', 'up_to_message_id'),
	('mark_ticket_read(%s, 1, ''agent'', 1, 1)', 'tenant_id'), ('mark_ticket_read(1, %s, ''agent'', 1, 1)', 'ticket_id'),
	('mark_ticket_read(1, 1, %s, 1, 1)', 'reader_kind'), ('mark_ticket_read(1, 1, ''agent'', %s, 1)', 'reader_id'),
	('mark_ticket_read(1, 1, ''agent'', 1, %s)', 'up_to_message_id'),
	('escalate_session(%s, 1)', 'tenant_id'), ('escalate_session(1, %s)', 'session_id'),
	('contact_support(%s, 1, ''x'')', 'tenant_id'), ('contact_support(1, %s, ''x'')', 'customer_id'),
	('contact_support(1, 1, %s)', 'body'),
	('set_ticket_settings(%s)', 'tenant_id'),
	('set_queue_max_wait_action(%s, 1, ''ticket'')', 'tenant_id'), ('set_queue_max_wait_action(1, %s, ''ticket'')', 'queue_id'),
	('set_queue_max_wait_action(1, 1, %s)', 'max_wait_action');
SELECT throws_ok(format('SELECT * FROM helpdesk.' || call, 'NULL'), '22004', arg || ' must not be NULL',
	split_part(call, '(', 1) || ': NULL ' || arg)
FROM null_arg ORDER BY call;

-- ---- other tenants' ids and unknown ids (HD404) ----
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's')$q$, :ta, :cb), 'HD404', format('customer %s does not exist in tenant %s', :cb, :ta), 'create_ticket: another tenant''s customer');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', queue_id => %s)$q$, :ta, :ca, :qb), 'HD404', format('queue %s does not exist in tenant %s', :qb, :ta), 'create_ticket: another tenant''s queue');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(-1, %s, 's')$q$, :ca), 'HD404', 'tenant -1 does not exist', 'create_ticket: unknown tenant');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'customer', %s, 'x')$q$, :ta, :tbt, :ca), 'HD404', format('ticket %s does not exist in tenant %s', :tbt, :ta), 'reply_ticket: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x')$q$, :ta, :t1, :ab), 'HD404', format('agent %s does not exist in tenant %s', :ab, :ta), 'reply_ticket: another tenant''s agent');
SELECT throws_ok(format($q$SELECT helpdesk.add_ticket_note(%s, %s, %s, 'x')$q$, :ta, :t1, :ab), 'HD404', NULL, 'add_ticket_note: another tenant''s agent');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'resolved', 'api')$q$, :ta, :tbt), 'HD404', NULL, 'set_ticket_status: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, 'low', 'api')$q$, :ta, :tbt), 'HD404', NULL, 'set_ticket_priority: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_tags(%s, %s, '{}', 'api')$q$, :ta, :tbt), 'HD404', NULL, 'set_ticket_tags: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_attributes(%s, %s, '{}', 'api')$q$, :ta, :tbt), 'HD404', NULL, 'set_ticket_attributes: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_queue(%s, %s, %s, 'api')$q$, :ta, :t1, :qb), 'HD404', format('queue %s does not exist in tenant %s', :qb, :ta), 'set_ticket_queue: another tenant''s queue');
SELECT throws_ok(format('SELECT helpdesk.get_ticket(%s, %s)', :ta, :tbt), 'HD404', NULL, 'get_ticket: another tenant''s ticket');
SELECT throws_ok(format('SELECT helpdesk.get_ticket(-1, %s)', :tbt), 'HD404', 'tenant -1 does not exist', 'get_ticket: unknown tenant');
SELECT throws_ok('SELECT * FROM helpdesk.list_tickets(-1)', 'HD404', 'tenant -1 does not exist', 'list_tickets: unknown tenant');
SELECT throws_ok(format('SELECT * FROM helpdesk.ticket_messages(%s, %s)', :ta, :tbt), 'HD404', NULL, 'ticket_messages: another tenant''s ticket');
SELECT throws_ok(format($q$SELECT helpdesk.mark_ticket_read(%s, %s, 'agent', %s, 1)$q$, :ta, :tbt, :aa), 'HD404', NULL, 'mark_ticket_read: another tenant''s ticket');
SELECT throws_ok(format('SELECT helpdesk.escalate_session(%s, %s)', :tb, :sa), 'HD404', format('session %s does not exist in tenant %s', :sa, :tb), 'escalate_session: another tenant''s session');
SELECT throws_ok(format($q$SELECT helpdesk.set_queue_max_wait_action(%s, %s, 'ticket')$q$, :ta, :qb), 'HD404', format('queue %s does not exist in tenant %s', :qb, :ta), 'set_queue_max_wait_action: another tenant''s queue');
SELECT throws_ok('SELECT helpdesk.set_ticket_settings(-1)', 'HD404', 'tenant -1 does not exist', 'set_ticket_settings: unknown tenant');
SELECT throws_ok(format($q$SELECT helpdesk.contact_support(-1, %s, 'x')$q$, :ca), 'HD404', 'tenant -1 does not exist', 'contact_support: unknown tenant');

-- ---- illegal transitions (HD422, both statuses named) ----
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'closed', 'api')$q$, :ta, :tnew), 'HD422',
	format('ticket %s cannot go from new to closed', :tnew), 'new -> closed is refused');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'new', 'api')$q$, :ta, :t1), 'HD422',
	format('ticket %s cannot go from open to new', :t1), 'open -> new is refused');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'closed', 'api')$q$, :ta, :t1), 'HD422',
	format('ticket %s cannot go from open to closed', :t1), 'open -> closed is refused (resolve first)');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'open', 'api')$q$, :ta, :tclosed), 'HD422',
	format('ticket %s cannot go from closed to open', :tclosed), 'closed is final');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x', new_status => 'new')$q$, :ta, :t1, :aa), 'HD422',
	format('ticket %s cannot go from open to new', :t1), 'a reply''s new_status is checked too (and the reply rolls back)');

-- ---- bad values (22023) ----
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', priority => 'critical')$q$, :ta, :ca), '22023', 'invalid priority "critical"', 'create_ticket: bad priority');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, 'URGENT', 'api')$q$, :ta, :t1), '22023', 'invalid priority "URGENT"', 'set_ticket_priority: bad priority');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'solved', 'api')$q$, :ta, :t1), '22023', 'invalid status "solved"', 'set_ticket_status: bad status');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'resolved', 'robot')$q$, :ta, :t1), '22023', 'invalid actor_kind "robot"', 'bad actor_kind');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'resolved', 'api', %s)$q$, :ta, :t1, :aa), '22023', 'actor_id must be NULL when actor_kind is api', 'api with an actor id');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, '')$q$, :ta, :ca), '22023', NULL, 'create_ticket: empty subject');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, repeat('s', 301))$q$, :ta, :ca), '22023', NULL, 'create_ticket: subject too long');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', channel => 'fax')$q$, :ta, :ca), '22023', 'invalid channel "fax"', 'create_ticket: bad channel');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', channel => 'chat')$q$, :ta, :ca), '22023', NULL, 'create_ticket: chat tickets come from escalation');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', client_msg_id => 'x')$q$, :ta, :ca), '22023', NULL, 'create_ticket: client_msg_id without a first message');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', 'x', attributes => '[1]')$q$, :ta, :ca), '22023', NULL, 'create_ticket: attributes not an object');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 's', 'x', tags => ARRAY['a', NULL])$q$, :ta, :ca), '22023', 'tags must not contain NULL', 'create_ticket: a NULL tag');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_tags(%s, %s, ARRAY[' '], 'api')$q$, :ta, :t1), '22023', NULL, 'set_ticket_tags: an empty tag');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_tags(%s, %s, (SELECT array_agg('t' || g) FROM generate_series(1, 51) g), 'api')$q$, :ta, :t1),
	'22023', 'a ticket has at most 50 tags, got 51', 'set_ticket_tags: too many');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'note', %s, 'x')$q$, :ta, :t1, :aa), '22023', NULL, 'reply_ticket: notes go through add_ticket_note');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, '')$q$, :ta, :t1, :aa), '22023', 'text messages need a non-empty body', 'reply_ticket: empty body');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x', 'menu')$q$, :ta, :t1, :aa), '22023', 'invalid message type "menu"', 'reply_ticket: menus are chat only');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, NULL, 'image')$q$, :ta, :t1, :aa), '22023', NULL, 'reply_ticket: image without attachment');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, NULL, 'file', attachment => '{"url": "ftp://x/y", "name": "y", "size": 1, "mime": "a/b"}')$q$, :ta, :t1, :aa),
	'22023', NULL, 'reply_ticket: attachment url checked as for chat');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x', attachment => '{"url": "https://h/y", "name": "y", "size": 1, "mime": "a/b"}')$q$, :ta, :t1, :aa),
	'22023', NULL, 'reply_ticket: a text reply takes no attachment');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x', 'system')$q$, :ta, :t1, :aa), '22023', NULL, 'reply_ticket: system entries are the system''s');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'customer', %s, 'x', new_status => 'resolved')$q$, :ta, :t1, :ca), '22023', NULL, 'reply_ticket: a customer reply cannot set a status');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x', client_msg_id => '')$q$, :ta, :t1, :aa), '22023', NULL, 'reply_ticket: empty client_msg_id');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, repeat('x', 70000))$q$, :ta, :t1, :aa), '54000', NULL, 'reply_ticket: too large');
SELECT throws_ok(format($q$SELECT * FROM helpdesk.list_tickets(%s, max_rows => 0)$q$, :ta), '22023', NULL, 'list_tickets: max_rows 0');
SELECT throws_ok(format($q$SELECT * FROM helpdesk.list_tickets(%s, status => ARRAY['solved'])$q$, :ta), '22023', 'invalid status "solved"', 'list_tickets: bad status filter');
SELECT throws_ok(format($q$SELECT * FROM helpdesk.list_tickets(%s, priority => ARRAY['p1'])$q$, :ta), '22023', 'invalid priority "p1"', 'list_tickets: bad priority filter');
SELECT throws_ok(format($q$SELECT * FROM helpdesk.ticket_messages(%s, %s, 0, 1001)$q$, :ta, :t1), '22023', NULL, 'ticket_messages: max_rows 1001');
SELECT throws_ok(format($q$SELECT helpdesk.mark_ticket_read(%s, %s, 'bot', 1, 1)$q$, :ta, :t1), '22023', 'invalid reader_kind "bot"', 'mark_ticket_read: bad reader');
SELECT throws_ok(format($q$SELECT helpdesk.escalate_session(%s, %s, priority => 'p1')$q$, :ta, :sa), '22023', 'invalid priority "p1"', 'escalate_session: bad priority');
SELECT throws_ok(format($q$SELECT helpdesk.escalate_session(%s, %s, note => 'x')$q$, :ta, :sa), '22023', NULL, 'escalate_session: a note needs an agent');
SELECT throws_ok(format($q$SELECT helpdesk.escalate_session(%s, %s, actor_kind => 'customer', actor_id => %s)$q$, :ta, :sa, :ca2), '22023', 'invalid actor_kind "customer"', 'escalate_session: bad actor_kind');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_settings(%s, reopen_window => '-1 day')$q$, :ta), '22023', NULL, 'set_ticket_settings: negative window');
SELECT throws_ok(format($q$SELECT helpdesk.set_queue_max_wait_action(%s, %s, 'bounce')$q$, :ta, :qa), '22023', 'invalid max_wait_action "bounce"', 'set_queue_max_wait_action: bad action');

-- ---- who may act (42501, 55000) ----
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'customer', %s, 'x')$q$, :ta, :t1, :ca2), '42501',
	format('customer %s is not the customer of ticket %s', :ca2, :t1), 'reply_ticket: another customer');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'pending', 'customer', %s)$q$, :ta, :t1, :ca), '42501', NULL, 'a customer may only resolve');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'resolved', 'customer', %s)$q$, :ta, :t1, :ca2), '42501', NULL, 'another customer may not resolve');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, 'high', 'customer', %s)$q$, :ta, :t1, :ca), '42501', NULL, 'a customer may not set the priority');
SELECT throws_ok(format($q$SELECT helpdesk.mark_ticket_read(%s, %s, 'customer', %s, 100)$q$, :ta, :t1, :ca2), '42501', NULL, 'mark_ticket_read: another customer');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x')$q$, :ta, :t1, :aa_off), '55000', format('agent %s is disabled', :aa_off), 'reply_ticket: a disabled agent');
SELECT throws_ok(format($q$SELECT helpdesk.add_ticket_note(%s, %s, %s, 'x')$q$, :ta, :t1, :aa_off), '55000', NULL, 'add_ticket_note: a disabled agent');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_status(%s, %s, 'pending', 'agent', %s)$q$, :ta, :t1, :aa_off), '55000', NULL, 'set_ticket_status: a disabled agent');
SELECT throws_ok(format($q$SELECT helpdesk.escalate_session(%s, %s, actor_kind => 'agent', actor_id => %s)$q$, :ta, :sa, :aa), '42501',
	format('agent %s is not assigned to session %s', :aa, :sa), 'escalate_session: an agent not holding the session');

-- ---- closed tickets (HD410) ----
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'x')$q$, :ta, :tclosed, :aa), 'HD410', format('ticket %s is closed', :tclosed), 'an agent cannot reply to a closed ticket');
SELECT throws_ok(format($q$SELECT helpdesk.add_ticket_note(%s, %s, %s, 'x')$q$, :ta, :tclosed, :aa), 'HD410', NULL, 'nor note on it');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_priority(%s, %s, 'high', 'api')$q$, :ta, :tclosed), 'HD410', NULL, 'nor change its priority');
SELECT throws_ok(format($q$SELECT helpdesk.set_ticket_tags(%s, %s, '{a}', 'api')$q$, :ta, :tclosed), 'HD410', NULL, 'nor its tags');

-- ---- client_msg_id reused for other content (HD409) ----
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 'Open one', 'other text', client_msg_id => 'c-1')$q$, :ta, :ca), 'HD409', NULL, 'create_ticket: same client id, other body');
SELECT throws_ok(format($q$SELECT helpdesk.create_ticket(%s, %s, 'Other subject', 'help', client_msg_id => 'c-1')$q$, :ta, :ca), 'HD409', NULL, 'create_ticket: same client id, other subject');
SELECT throws_ok(format($q$SELECT helpdesk.reply_ticket(%s, %s, 'agent', %s, 'not on it', client_msg_id => 'r-1')$q$, :ta, :t1, :aa), 'HD409',
	format('client_msg_id "r-1" was already used for a different message in ticket %s', :t1), 'reply_ticket: same client id, other body');
SELECT throws_ok(format($q$SELECT helpdesk.add_ticket_note(%s, %s, %s, 'other note', 'n-1')$q$, :ta, :t1, :aa), 'HD409', NULL, 'add_ticket_note: same client id, other body');

-- ---- failed calls changed nothing ----
SELECT is((SELECT row(tickets, messages, events, counters)::text FROM before),
	(SELECT row((SELECT string_agg(concat_ws(':', id, number, status, priority, tags, attributes, queue_id, resolution_count), ',' ORDER BY id)
	 FROM helpdesk.ticket), (SELECT count(*) FROM helpdesk.ticket_message), (SELECT count(*) FROM helpdesk.event),
	 (SELECT string_agg(concat_ws(':', tenant_id, next_number), ',') FROM helpdesk.ticket_counter))::text),
	'no failed call wrote a ticket, a message, an event or a number');

SELECT * FROM finish();
ROLLBACK;
