-- Ticket assignment: assign_ticket, take_ticket, the queue and agent
-- settings, the open-ticket counter kept on every ticket change, and the
-- dispatcher's automatic assignment (round_robin, least_loaded, capacity,
-- skills, presence, wait reasons, a freed slot).
--
-- The dispatcher acts after the caller's transaction commits, so there is no
-- wrapping transaction: every statement commits on its own and the automatic
-- part polls with pg_temp.wait_until(). Tenants are new (slug prefix :run)
-- and deleted at the end.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(119);

\ir fixtures.psql

SELECT 'ta' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset

\ir wait_until.psql

-- a new ticket of a new customer in queue q (a fixture name or NULL)
CREATE FUNCTION pg_temp.ticket(tenant text, customer text, queue text DEFAULT NULL,
	priority text DEFAULT 'normal')
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	c bigint := helpdesk.upsert_customer(pg_temp.fx(tenant), customer);
BEGIN
	RETURN (helpdesk.create_ticket(pg_temp.fx(tenant), c, 'about ' || customer, 'help me',
		priority, NULL, CASE WHEN queue IS NOT NULL THEN pg_temp.fx(queue) END)).ticket_id;
END $$;

CREATE FUNCTION pg_temp.assignee(text) RETURNS bigint LANGUAGE sql VOLATILE AS
	$$ SELECT assignee_id FROM helpdesk.ticket WHERE id = pg_temp.fx($1) $$;
CREATE FUNCTION pg_temp.open_tickets(text) RETURNS integer LANGUAGE sql VOLATILE AS
	$$ SELECT open_tickets FROM helpdesk.agent WHERE id = pg_temp.fx($1) $$;
-- the agent's open tickets as counted from the tickets themselves
CREATE FUNCTION pg_temp.counted(text) RETURNS integer LANGUAGE sql VOLATILE AS
	$$ SELECT count(*)::int FROM helpdesk.ticket t, helpdesk.agent a
	   WHERE a.id = pg_temp.fx($1) AND t.tenant_id = a.tenant_id AND t.assignee_id = a.id
	     AND t.status IN ('new', 'open', 'pending') $$;

------------------------------------------------------------------------------
-- fixtures
------------------------------------------------------------------------------
INSERT INTO fx SELECT 't', helpdesk.upsert_tenant(:'run' || '-a', 'Ticket assignment');
INSERT INTO fx SELECT 'qm', helpdesk.upsert_queue(pg_temp.fx('t'), 'man', 'Manual', strategy => 'manual');
INSERT INTO fx SELECT 'qvip', helpdesk.upsert_queue(pg_temp.fx('t'), 'vip', 'VIP', required_skills => '{vip}', strategy => 'manual');
INSERT INTO fx SELECT 'qes', helpdesk.upsert_queue(pg_temp.fx('t'), 'es', 'Spanish', required_languages => '{es}', strategy => 'manual');
INSERT INTO fx SELECT 'sup', helpdesk.upsert_agent(pg_temp.fx('t'), 'sup', 'Supervisor');
INSERT INTO fx SELECT 'a1', helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1', languages => '{en}');
INSERT INTO fx SELECT 'a2', helpdesk.upsert_agent(pg_temp.fx('t'), 'a2', 'A2', languages => '{en}');
INSERT INTO fx SELECT 'avip', helpdesk.upsert_agent(pg_temp.fx('t'), 'avip', 'Avip', '{"vip": 3}', '{en}');
INSERT INTO fx SELECT 'adis', helpdesk.upsert_agent(pg_temp.fx('t'), 'adis', 'Adis');
SELECT helpdesk.upsert_agent(pg_temp.fx('t'), 'adis', 'Adis', enabled => false) \g /dev/null
INSERT INTO fx SELECT 'tx', helpdesk.upsert_tenant(:'run' || '-x', 'Ticket assignment, other tenant');
INSERT INTO fx SELECT 'ax', helpdesk.upsert_agent(pg_temp.fx('tx'), 'ax', 'Ax');
INSERT INTO fx SELECT 'kx', pg_temp.ticket('tx', 'cx');
INSERT INTO fx SELECT 'k1', pg_temp.ticket('t', 'c1', 'qm');
INSERT INTO fx SELECT 'k2', pg_temp.ticket('t', 'c2', 'qm');
INSERT INTO fx SELECT 'kvip', pg_temp.ticket('t', 'cvip', 'qvip');
INSERT INTO fx SELECT 'kes', pg_temp.ticket('t', 'ces', 'qes');
INSERT INTO fx SELECT 'knoq', pg_temp.ticket('t', 'cnoq');
INSERT INTO fx SELECT 'no_ticket', coalesce(max(id), 0) + 1000000 FROM helpdesk.ticket;
INSERT INTO fx SELECT 'no_agent', coalesce(max(id), 0) + 1000000 FROM helpdesk.agent;
INSERT INTO fx SELECT 'no_queue', coalesce(max(id), 0) + 1000000 FROM helpdesk.queue;

SELECT is((SELECT ticket_strategy FROM helpdesk.queue WHERE id = pg_temp.fx('qm')), 'manual',
	'a queue''s tickets are assigned by hand unless it says otherwise');
SELECT is((SELECT max_open_tickets FROM helpdesk.agent WHERE id = pg_temp.fx('a1')), 20,
	'an agent may hold 20 open tickets by default');

------------------------------------------------------------------------------
-- argument errors
------------------------------------------------------------------------------
SELECT throws_ok($$SELECT helpdesk.assign_ticket(NULL, pg_temp.fx('k1'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('sup'))$$,
	'22004', 'tenant_id must not be NULL', 'assign_ticket: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), NULL, pg_temp.fx('a1'), 'supervisor', pg_temp.fx('sup'))$$,
	'22004', 'ticket_id must not be NULL', 'assign_ticket: NULL ticket_id');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), NULL, pg_temp.fx('sup'))$$,
	'22004', 'actor_kind must not be NULL', 'assign_ticket: NULL actor_kind');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'customer', 1)$$,
	'22023', NULL, 'assign_ticket: a customer cannot assign (unknown actor_kind)');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'supervisor')$$,
	'22004', 'actor_id must not be NULL when actor_kind is supervisor', 'assign_ticket: a supervisor names itself');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'api', pg_temp.fx('sup'))$$,
	'22023', 'actor_id must be NULL when actor_kind is api', 'assign_ticket: system and api name nobody');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), 0, 'api')$$,
	'22023', 'agent_id must be a positive id or NULL (unassign), not 0', 'assign_ticket: agent_id 0');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'api', reason => repeat('x', 501))$$,
	'22023', 'reason must be 1 to 500 characters long, got 501', 'assign_ticket: reason too long');
SELECT throws_ok($$SELECT helpdesk.take_ticket(NULL, pg_temp.fx('a1'), pg_temp.fx('k1'))$$,
	'22004', 'tenant_id must not be NULL', 'take_ticket: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), NULL, pg_temp.fx('k1'))$$,
	'22004', 'agent_id must not be NULL', 'take_ticket: NULL agent_id');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), NULL)$$,
	'22004', 'ticket_id must not be NULL', 'take_ticket: NULL ticket_id');
SELECT throws_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('t'), pg_temp.fx('qm'), NULL)$$,
	'22004', 'ticket_strategy must not be NULL', 'set_queue_ticket_strategy: NULL strategy');
SELECT throws_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('t'), pg_temp.fx('qm'), 'sticky')$$,
	'22023', 'invalid ticket_strategy "sticky"', 'set_queue_ticket_strategy: a chat-only strategy');
SELECT throws_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('t'), pg_temp.fx('no_queue'), 'round_robin')$$,
	'HD404', NULL, 'set_queue_ticket_strategy: unknown queue');
SELECT throws_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('tx'), pg_temp.fx('qm'), 'round_robin')$$,
	'HD404', NULL, 'set_queue_ticket_strategy: another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), NULL, 3)$$,
	'22004', 'agent_id must not be NULL', 'set_agent_ticket_capacity: NULL agent_id');
SELECT throws_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), pg_temp.fx('a1'), -1)$$,
	'22023', 'max_open_tickets must be between 0 and 10000, got -1', 'set_agent_ticket_capacity: negative');
SELECT throws_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), pg_temp.fx('a1'), 10001)$$,
	'22023', 'max_open_tickets must be between 0 and 10000, got 10001', 'set_agent_ticket_capacity: too large');
SELECT throws_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), pg_temp.fx('ax'), 3)$$,
	'HD404', NULL, 'set_agent_ticket_capacity: another tenant''s agent');

------------------------------------------------------------------------------
-- other tenants' and unknown ids, disabled agents
------------------------------------------------------------------------------
SELECT pg_temp.snapshot() AS before \gset
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('kx'), pg_temp.fx('a1'), 'api')$$,
	'HD404', NULL, 'assign_ticket: another tenant''s ticket is unknown');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('no_ticket'), pg_temp.fx('a1'), 'api')$$,
	'HD404', NULL, 'assign_ticket: unknown ticket');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('ax'), 'api')$$,
	'HD404', NULL, 'assign_ticket: another tenant''s agent is unknown');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('no_agent'), 'api')$$,
	'HD404', NULL, 'assign_ticket: unknown agent');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('ax'))$$,
	'HD404', NULL, 'assign_ticket: a supervisor of another tenant is unknown');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('adis'), 'api')$$,
	'55000', NULL, 'assign_ticket: a disabled agent gets nothing');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('adis'))$$,
	'55000', NULL, 'assign_ticket: a disabled supervisor gives nothing');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('kx'))$$,
	'HD404', NULL, 'take_ticket: another tenant''s ticket is unknown');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('ax'), pg_temp.fx('k1'))$$,
	'HD404', NULL, 'take_ticket: another tenant''s agent is unknown');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('adis'), pg_temp.fx('k1'))$$,
	'55000', NULL, 'take_ticket: a disabled agent cannot take');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('kvip'))$$,
	'42501', NULL, 'take_ticket: an agent without the queue''s skill cannot take its ticket');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('kes'))$$,
	'42501', NULL, 'take_ticket: nor one speaking none of its languages');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a2'), 'agent', pg_temp.fx('a1'))$$,
	'42501', NULL, 'assign_ticket: an agent cannot give away an unassigned ticket');
SELECT is(pg_temp.snapshot(), :'before', 'the refused calls changed nothing');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket_assignment_audit WHERE tenant_id = pg_temp.fx('t')), 0,
	'and wrote no audit row');

------------------------------------------------------------------------------
-- take_ticket
------------------------------------------------------------------------------
SELECT is(helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('k1')), true, 'a1 takes k1');
SELECT is(pg_temp.assignee('k1'), pg_temp.fx('a1'), 'k1 is a1''s');
SELECT is(pg_temp.open_tickets('a1'), 1, 'a1 has one open ticket');
SELECT is(helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('k1')), false, 'taking it again changes nothing');
SELECT is(pg_temp.open_tickets('a1'), 1, 'and counts it once');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a2'), pg_temp.fx('k1'))$$,
	'HD409', NULL, 'take_ticket: a2 cannot take a1''s ticket');
SELECT is(helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('avip'), pg_temp.fx('kvip')), true,
	'the agent with the queue''s skill takes the VIP ticket');
SELECT is(helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a2'), pg_temp.fx('knoq')), true,
	'a ticket in no queue can be taken by any enabled agent');
SELECT is((SELECT action || ' ' || actor_kind || ' ' || actor_id || ' ' || agent_id || ' ' || agent_open_tickets || '/' || agent_capacity
	FROM helpdesk.ticket_assignment_audit WHERE ticket_id = pg_temp.fx('k1')),
	'take agent ' || pg_temp.fx('a1') || ' ' || pg_temp.fx('a1') || ' 1/20', 'the take is audited with the agent''s load');
SELECT is((SELECT array_agg(audience || ':' || coalesce(audience_id::text, '') ORDER BY id) FROM helpdesk.event
	WHERE tenant_id = pg_temp.fx('t') AND type = 'ticket.updated' AND payload->>'ticket_id' = pg_temp.fx('k1')::text
	  AND payload->>'change' = 'assignee'),
	ARRAY['agent:' || pg_temp.fx('a1'), 'queue:' || pg_temp.fx('qm'), 'tenant:' || pg_temp.fx('t')],
	'ticket.updated goes to the new assignee, the queue and supervisors, not to the customer');

-- capacity
SELECT lives_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), pg_temp.fx('a1'), 1)$$, 'a1 may hold one open ticket');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a1'), pg_temp.fx('k2'))$$,
	'HD429', 'agent ' || pg_temp.fx('a1') || ' is at its ticket capacity (1 of 1 open tickets)', 'take_ticket: at capacity');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('sup'))$$,
	'HD429', NULL, 'assign_ticket: at capacity too');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('sup'), force => true),
	true, 'a supervisor can override the capacity');
SELECT is(pg_temp.open_tickets('a1'), 2, 'a1 now has two open tickets');
SELECT ok((SELECT reason LIKE '%capacity overridden%' FROM helpdesk.ticket_assignment_audit
	WHERE ticket_id = pg_temp.fx('k2') ORDER BY id DESC LIMIT 1), 'the audit row says the capacity was overridden');
SELECT lives_ok($$SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('t'), pg_temp.fx('a1'), 20)$$, 'a1 back to 20');

------------------------------------------------------------------------------
-- assign_ticket: hand on, unassign, as an agent and as a supervisor
------------------------------------------------------------------------------
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a2'), 'agent', pg_temp.fx('a1')),
	true, 'a1 hands its ticket k2 on to a2');
SELECT is(pg_temp.assignee('k2'), pg_temp.fx('a2'), 'k2 is a2''s');
SELECT is(ARRAY[pg_temp.open_tickets('a1'), pg_temp.open_tickets('a2')], ARRAY[1, 2], 'one open ticket moved from a1 to a2');
SELECT is((SELECT count(*)::int FROM helpdesk.event WHERE tenant_id = pg_temp.fx('t') AND type = 'ticket.updated'
	AND audience = 'agent' AND audience_id = pg_temp.fx('a1') AND payload->>'ticket_id' = pg_temp.fx('k2')::text
	AND payload->>'change' = 'assignee' AND payload->>'assignee_id' = pg_temp.fx('a2')::text
	AND payload->>'previous' = pg_temp.fx('a1')::text), 1,
	'the agent that lost the ticket is told');
SELECT is((SELECT previous_agent_id FROM helpdesk.ticket_assignment_audit WHERE ticket_id = pg_temp.fx('k2') ORDER BY id DESC LIMIT 1),
	pg_temp.fx('a1'), 'the audit row names the previous assignee');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a1'), 'agent', pg_temp.fx('a1'))$$,
	'42501', NULL, 'a1 cannot take k2 back from a2');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a2'), 'supervisor', pg_temp.fx('sup')),
	false, 'giving a ticket to its assignee changes nothing');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), NULL, 'agent', pg_temp.fx('a2')),
	true, 'a2 gives k2 back to nobody');
SELECT is(pg_temp.assignee('k2'), NULL, 'k2 is unassigned');
SELECT is(pg_temp.open_tickets('a2'), 1, 'and no longer counts for a2');
SELECT is((SELECT action FROM helpdesk.ticket_assignment_audit WHERE ticket_id = pg_temp.fx('k2') ORDER BY id DESC LIMIT 1),
	'unassign', 'audited as unassign');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a2'), 'agent', pg_temp.fx('a2')),
	true, 'an agent may assign an unassigned ticket to itself (a take)');
SELECT is((SELECT action FROM helpdesk.ticket_assignment_audit WHERE ticket_id = pg_temp.fx('k2') ORDER BY id DESC LIMIT 1),
	'take', 'audited as take');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k2'), pg_temp.fx('a1'), 'supervisor', pg_temp.fx('sup'), reason => 'a1 knows the game'),
	true, 'the supervisor gives k2 to a1');
SELECT is((SELECT actor_kind || ' ' || actor_id || ': ' || reason FROM helpdesk.ticket_assignment_audit
	WHERE ticket_id = pg_temp.fx('k2') ORDER BY id DESC LIMIT 1),
	'supervisor ' || pg_temp.fx('sup') || ': a1 knows the game', 'with its reason and name in the audit row');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('kes'), pg_temp.fx('a1'), 'api'), true,
	'a supervisor or an API caller may give a ticket to an agent outside its queue');

------------------------------------------------------------------------------
-- the counter follows the ticket's status
------------------------------------------------------------------------------
SELECT is(ARRAY[pg_temp.open_tickets('a1'), pg_temp.counted('a1')], ARRAY[3, 3], 'a1: 3 open tickets, counted and stored alike');
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k1'), 'pending', 'agent', pg_temp.fx('a1'))$$, 'k1 pending');
SELECT is(pg_temp.open_tickets('a1'), 3, 'a pending ticket still counts');
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k1'), 'resolved', 'agent', pg_temp.fx('a1'))$$, 'k1 resolved');
SELECT is(pg_temp.open_tickets('a1'), 2, 'a resolved ticket frees its slot');
SELECT is(pg_temp.assignee('k1'), pg_temp.fx('a1'), 'and keeps its assignee');
SELECT lives_ok($$SELECT helpdesk.reply_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), 'customer',
	(SELECT customer_id FROM helpdesk.ticket WHERE id = pg_temp.fx('k1')), 'it is broken again')$$, 'the customer replies to the resolved ticket');
SELECT is((SELECT status FROM helpdesk.ticket WHERE id = pg_temp.fx('k1')), 'open', 'which reopens it');
SELECT is(pg_temp.open_tickets('a1'), 3, 'and it counts again');
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k1'), 'resolved', 'agent', pg_temp.fx('a1'))$$, 'k1 resolved again');
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('k1'), 'closed', 'system')$$, 'k1 closed');
SELECT is(ARRAY[pg_temp.open_tickets('a1'), pg_temp.counted('a1')], ARRAY[2, 2], 'a closed ticket does not count');
SELECT throws_ok($$SELECT helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('k1'), pg_temp.fx('a2'), 'supervisor', pg_temp.fx('sup'))$$,
	'HD410', NULL, 'assign_ticket: a closed ticket keeps its assignee');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a2'), pg_temp.fx('k1'))$$,
	'HD410', NULL, 'take_ticket: nor can it be taken');
INSERT INTO fx SELECT 'kres', pg_temp.ticket('t', 'cres', 'qm');
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('t'), pg_temp.fx('kres'), 'resolved', 'api')$$, 'an unassigned ticket resolved');
SELECT throws_ok($$SELECT helpdesk.take_ticket(pg_temp.fx('t'), pg_temp.fx('a2'), pg_temp.fx('kres'))$$,
	'55000', NULL, 'take_ticket: a resolved ticket is not taken');
SELECT is(helpdesk.assign_ticket(pg_temp.fx('t'), pg_temp.fx('kres'), pg_temp.fx('a2'), 'supervisor', pg_temp.fx('sup')), true,
	'but a supervisor may give it (to follow up a reopen)');
SELECT is(ARRAY[pg_temp.open_tickets('a2'), pg_temp.counted('a2')], ARRAY[1, 1], 'without counting it while it is resolved');

------------------------------------------------------------------------------
-- automatic: round robin, least loaded, capacity, skills, presence
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'ta', helpdesk.upsert_tenant(:'run' || '-auto', 'Ticket auto assignment');
INSERT INTO fx SELECT 'qrr', helpdesk.upsert_queue(pg_temp.fx('ta'), 'rr', 'Round robin', strategy => 'manual');
INSERT INTO fx SELECT 'qll', helpdesk.upsert_queue(pg_temp.fx('ta'), 'll', 'Least loaded', strategy => 'manual');
INSERT INTO fx SELECT 'qsk', helpdesk.upsert_queue(pg_temp.fx('ta'), 'sk', 'Skilled', required_skills => '{refunds}', strategy => 'manual');
INSERT INTO fx SELECT 'r1', helpdesk.upsert_agent(pg_temp.fx('ta'), 'r1', 'R1');
INSERT INTO fx SELECT 'r2', helpdesk.upsert_agent(pg_temp.fx('ta'), 'r2', 'R2');
INSERT INTO fx SELECT 'r3', helpdesk.upsert_agent(pg_temp.fx('ta'), 'r3', 'R3', '{"refunds": 2}');
INSERT INTO fx SELECT 'roff', helpdesk.upsert_agent(pg_temp.fx('ta'), 'roff', 'Roff', '{"refunds": 9}');
SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('ta'), pg_temp.fx(a), 2)
	FROM unnest(ARRAY['r1', 'r2', 'r3', 'roff']) a \g /dev/null
SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx(a), 'online')
	FROM unnest(ARRAY['r1', 'r2', 'r3']) a \g /dev/null

-- tickets wait in a manual queue; switching it to round_robin assigns them
INSERT INTO fx SELECT 'rr' || g, pg_temp.ticket('ta', 'crr' || g, 'qrr') FROM generate_series(1, 7) g;
SELECT pg_sleep(0.3);
SELECT is((SELECT count(*)::int FROM helpdesk.ticket WHERE tenant_id = pg_temp.fx('ta') AND assignee_id IS NOT NULL), 0,
	'nothing is assigned in a manual queue');
SELECT lives_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('ta'), pg_temp.fx('qrr'), 'round_robin')$$, 'qrr: round_robin');
SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.ticket WHERE tenant_id = pg_temp.fx('ta') AND assignee_id IS NOT NULL) = 6$$),
	'the dispatcher assigns six of the seven (three agents, two slots each)');
SELECT is((SELECT array_agg(assignee_id ORDER BY id) FROM helpdesk.ticket WHERE tenant_id = pg_temp.fx('ta') AND queue_id = pg_temp.fx('qrr')),
	ARRAY[pg_temp.fx('r1'), pg_temp.fx('r2'), pg_temp.fx('r3'), pg_temp.fx('r1'), pg_temp.fx('r2'), pg_temp.fx('r3'), NULL],
	'round robin: in turn, oldest ticket first');
SELECT is(ARRAY[pg_temp.open_tickets('r1'), pg_temp.open_tickets('r2'), pg_temp.open_tickets('r3'), pg_temp.open_tickets('roff')],
	ARRAY[2, 2, 2, 0], 'nobody beyond its capacity, nothing for the offline agent');
SELECT ok(pg_temp.wait_until($$(SELECT assign_wait_reason FROM helpdesk.ticket WHERE id = pg_temp.fx('rr7')) LIKE 'all 3 online agents serving queue % are at their ticket capacity'$$),
	'the seventh waits, and says why');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket_assignment_audit WHERE ticket_id = pg_temp.fx('rr7') AND action = 'wait'), 1,
	'one wait audit row for it');
SELECT is((SELECT array_agg(DISTINCT action || ' ' || actor_kind || ' ' || strategy || ' ' || candidates) FROM helpdesk.ticket_assignment_audit
	WHERE tenant_id = pg_temp.fx('ta') AND action = 'auto'), ARRAY['auto dispatcher round_robin 3'],
	'each automatic assignment is audited with strategy and candidates');
SELECT is((SELECT count(*)::int FROM helpdesk.event WHERE tenant_id = pg_temp.fx('ta') AND type = 'ticket.updated'
	AND audience = 'agent' AND payload->>'actor_kind' = 'dispatcher'), 6, 'each new assignee is told');
-- a freed slot goes to the waiting ticket at once
SELECT lives_ok($$SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx('rr2'), 'resolved', 'agent', pg_temp.fx('r2'))$$,
	'r2 resolves one of its tickets');
SELECT ok(pg_temp.wait_until($$pg_temp.assignee('rr7') = pg_temp.fx('r2')$$), 'the waiting ticket goes to r2, whose slot freed up');
SELECT is((SELECT assign_wait_reason FROM helpdesk.ticket WHERE id = pg_temp.fx('rr7')), NULL, 'its wait reason is cleared');
SELECT is(pg_temp.open_tickets('r2'), 2, 'r2 is back at 2');

-- least loaded, and the skill filter; the offline agent gets nothing
SELECT helpdesk.set_agent_ticket_capacity(pg_temp.fx('ta'), pg_temp.fx(a), 10)
	FROM unnest(ARRAY['r1', 'r2', 'r3', 'roff']) a \g /dev/null
SELECT helpdesk.set_ticket_status(pg_temp.fx('ta'), pg_temp.fx(k), 'resolved', 'api')
	FROM unnest(ARRAY['rr1', 'rr4']) k \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.open_tickets('r1') = 0$$), 'r1 has no open ticket now');
SELECT lives_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('ta'), pg_temp.fx('qll'), 'least_loaded')$$, 'qll: least_loaded');
INSERT INTO fx SELECT 'll1', pg_temp.ticket('ta', 'cll1', 'qll');
SELECT ok(pg_temp.wait_until($$pg_temp.assignee('ll1') IS NOT NULL$$), 'a new ticket in a least_loaded queue is assigned on its own');
SELECT is(pg_temp.assignee('ll1'), pg_temp.fx('r1'), 'to the least loaded agent');
INSERT INTO fx SELECT 'll' || g, pg_temp.ticket('ta', 'cll' || g, 'qll') FROM generate_series(2, 5) g;
SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.ticket WHERE queue_id = pg_temp.fx('qll') AND assignee_id IS NULL) = 0$$),
	'all five are assigned');
SELECT is(ARRAY[pg_temp.open_tickets('r1'), pg_temp.open_tickets('r2'), pg_temp.open_tickets('r3')], ARRAY[3, 3, 3],
	'least loaded evens the load out: r1 (0 of 10) gets two, r2 and r3 (2 of 10) one each');
SELECT lives_ok($$SELECT helpdesk.set_queue_ticket_strategy(pg_temp.fx('ta'), pg_temp.fx('qsk'), 'least_loaded')$$, 'qsk: least_loaded');
INSERT INTO fx SELECT 'sk1', pg_temp.ticket('ta', 'csk1', 'qsk');
SELECT ok(pg_temp.wait_until($$pg_temp.assignee('sk1') IS NOT NULL$$), 'a ticket of the skilled queue is assigned');
SELECT is(pg_temp.assignee('sk1'), pg_temp.fx('r3'), 'to the only online agent with the skill');
SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('r3'), 'away') \g /dev/null
INSERT INTO fx SELECT 'sk2', pg_temp.ticket('ta', 'csk2', 'qsk');
SELECT ok(pg_temp.wait_until($$(SELECT assign_wait_reason FROM helpdesk.ticket WHERE id = pg_temp.fx('sk2')) = 'no online agent serves queue ' || pg_temp.fx('qsk')$$),
	'with that agent away, the next one waits: no online agent serves the queue');
SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('roff'), 'online') \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.assignee('sk2') = pg_temp.fx('roff')$$), 'an agent with the skill coming online gets it');

-- a disabled agent's open tickets go back to nobody, and in an automatic queue on to another agent
SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx(a), 'away') FROM unnest(ARRAY['r1', 'roff']) a \g /dev/null
SELECT helpdesk.set_agent_status(pg_temp.fx('ta'), pg_temp.fx('r3'), 'online') \g /dev/null
SELECT helpdesk.upsert_agent(pg_temp.fx('ta'), 'r2', 'R2', enabled => false) \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.open_tickets('r2') = 0$$), 'a disabled agent is left with no open ticket');
SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.ticket t WHERE t.assignee_id IS DISTINCT FROM pg_temp.fx('r3')
	AND t.id IN (SELECT ticket_id FROM helpdesk.ticket_assignment_audit WHERE action = 'unassign' AND previous_agent_id = pg_temp.fx('r2'))) = 0$$),
	'its tickets (round_robin and least_loaded queues) went on to r3, the only other online agent');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket_assignment_audit WHERE tenant_id = pg_temp.fx('ta') AND action = 'unassign'
	AND actor_kind = 'dispatcher' AND previous_agent_id = pg_temp.fx('r2') AND reason = 'agent ' || pg_temp.fx('r2') || ' was disabled'), 3,
	'each of its three open tickets was unassigned by the dispatcher, audited with the reason');
SELECT is((SELECT assignee_id FROM helpdesk.ticket WHERE id = pg_temp.fx('rr2')), pg_temp.fx('r2'),
	'its resolved ticket keeps it as assignee (history)');

-- the counters match the tickets, for every agent of both tenants
SELECT is((SELECT array_agg(a.external_id ORDER BY a.id) FROM helpdesk.agent a
	WHERE a.tenant_id IN (pg_temp.fx('t'), pg_temp.fx('ta'))
	  AND a.open_tickets <> (SELECT count(*) FROM helpdesk.ticket t WHERE t.tenant_id = a.tenant_id
	                         AND t.assignee_id = a.id AND t.status IN ('new', 'open', 'pending'))),
	NULL, 'every agent''s open_tickets equals its open assigned tickets');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('ta'))
	AND counted_agent_id IS DISTINCT FROM CASE WHEN status IN ('new', 'open', 'pending') THEN assignee_id END), 0,
	'every ticket counts against its assignee exactly while it is open');

------------------------------------------------------------------------------
-- clean up
------------------------------------------------------------------------------
SELECT lives_ok($$DELETE FROM helpdesk.ticket WHERE tenant_id IN (pg_temp.fx('t'), pg_temp.fx('tx'), pg_temp.fx('ta'))$$,
	'clean up: delete the tickets (their audit rows go with them)');
-- the rollup worker may be writing these tenants' rollups meanwhile: a
-- deadlock with it (40P01) or its serialization failure is retried
CREATE FUNCTION pg_temp.delete_tenants(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..20 LOOP
		BEGIN
			DELETE FROM helpdesk.tenant WHERE id = ANY (ids);
			RETURN;
		EXCEPTION WHEN deadlock_detected OR serialization_failure THEN
			PERFORM pg_sleep(0.05);
		END;
	END LOOP;
	DELETE FROM helpdesk.tenant WHERE id = ANY (ids);
END $$;
SELECT lives_ok($$SELECT pg_temp.delete_tenants(ARRAY[pg_temp.fx('t'), pg_temp.fx('tx'), pg_temp.fx('ta')])$$,
	'clean up: delete the tenants');

SELECT * FROM finish();
