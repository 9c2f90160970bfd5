-- Routing: the SQL API's errors and what the dispatcher worker does.
--
-- The dispatcher acts only after the caller's transaction commits, so this
-- file has no wrapping transaction: every statement commits on its own (psql
-- autocommit) and the tests poll with pg_temp.wait_until(), whose queries each
-- take a fresh snapshot (READ COMMITTED, volatile function) and so see what
-- the worker committed meanwhile. Every tenant is new (slug prefix :run, unique
-- per run) and is deleted at the end. Timers run at 1 second; the file takes
-- about 10 s.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(187);

\ir fixtures.psql

SELECT 'rt' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset

\ir wait_until.psql

-- A fixture session's state / agent / queue, read now.
CREATE FUNCTION pg_temp.st(text) RETURNS text LANGUAGE sql VOLATILE AS
	$$ SELECT state FROM helpdesk.session WHERE id = pg_temp.fx($1) $$;
CREATE FUNCTION pg_temp.agent_of(text) RETURNS bigint LANGUAGE sql VOLATILE AS
	$$ SELECT agent_id FROM helpdesk.session WHERE id = pg_temp.fx($1) $$;
CREATE FUNCTION pg_temp.queue_of(text) RETURNS bigint LANGUAGE sql VOLATILE AS
	$$ SELECT queue_id FROM helpdesk.session WHERE id = pg_temp.fx($1) $$;

-- Set fixture agents online (also a heartbeat).
CREATE FUNCTION pg_temp.online(tenant text, VARIADIC agents text[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	a text;
BEGIN
	FOREACH a IN ARRAY agents LOOP
		PERFORM helpdesk.set_agent_status(pg_temp.fx(tenant), pg_temp.fx(a), 'online');
	END LOOP;
END $$;

-- Start a session for a new customer; returns the session id.
CREATE FUNCTION pg_temp.start(tenant text, customer text, queue text DEFAULT NULL,
	vip integer DEFAULT NULL, issue_type text DEFAULT NULL, first_message text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	c bigint;
	s bigint;
BEGIN
	c := helpdesk.upsert_customer(pg_temp.fx(tenant), customer, vip_level => vip);
	SELECT session_id INTO s FROM helpdesk.start_session(pg_temp.fx(tenant), c,
		queue_id => CASE WHEN queue IS NOT NULL THEN pg_temp.fx(queue) END,
		issue_type => issue_type, first_message => first_message);
	RETURN s;
END $$;

------------------------------------------------------------------------------
-- API errors
------------------------------------------------------------------------------
-- Tenant E: only ae1 (capacity 1) is online when s_off starts, so the offer
-- goes to ae1; ae2 has a limit of 1 session in the manual queue.
INSERT INTO fx SELECT 'te', helpdesk.upsert_tenant(:'run' || '-err', 'Routing errors',
	heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qe', helpdesk.upsert_queue(pg_temp.fx('te'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qe_man', helpdesk.upsert_queue(pg_temp.fx('te'), 'manual', 'Manual', strategy => 'manual');
INSERT INTO fx SELECT 'qe_skill', helpdesk.upsert_queue(pg_temp.fx('te'), 'rare', 'Rare', required_skills => '{unicorns}');
INSERT INTO fx SELECT 'ae1', helpdesk.upsert_agent(pg_temp.fx('te'), 'ae1', 'Ae1', max_sessions => 1);
INSERT INTO fx SELECT 'ae2', helpdesk.upsert_agent(pg_temp.fx('te'), 'ae2', 'Ae2', max_sessions => 5);
SELECT pg_temp.online('te', 'ae1') \g /dev/null
INSERT INTO fx SELECT 's_off', pg_temp.start('te', 'c-off');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_off') = 'offered'$$), 'fixture: s_off is offered');
SELECT is(pg_temp.agent_of('s_off'), pg_temp.fx('ae1'), 'fixture: s_off is offered to ae1, the only online agent');
SELECT pg_temp.online('te', 'ae2') \g /dev/null
SELECT helpdesk.set_agent_queue_limit(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('qe_man'), 1) \g /dev/null
INSERT INTO fx SELECT 's_man1', pg_temp.start('te', 'c-man1', 'qe_man');
INSERT INTO fx SELECT 's_man2', pg_temp.start('te', 'c-man2', 'qe_man');
INSERT INTO fx SELECT 's_skill', pg_temp.start('te', 'c-skill', 'qe_skill');
SELECT ok(pg_temp.wait_until($$(SELECT wait_reason FROM helpdesk.session WHERE id = pg_temp.fx('s_skill')) IS NOT NULL$$),
	'fixture: the dispatcher looked at s_skill');

-- Tenant X: another tenant's ids.
INSERT INTO fx SELECT 'tx', helpdesk.upsert_tenant(:'run' || '-other', 'Routing other tenant',
	heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qx', helpdesk.upsert_queue(pg_temp.fx('tx'), 'general', 'General X', is_default => true);
INSERT INTO fx SELECT 'ax', helpdesk.upsert_agent(pg_temp.fx('tx'), 'ax', 'Ax');
INSERT INTO fx SELECT 'sx', pg_temp.start('tx', 'c-x');

-- Ids that exist nowhere.
INSERT INTO fx SELECT 'no_tenant', coalesce(max(id), 0) + 1000000 FROM helpdesk.tenant;
INSERT INTO fx SELECT 'no_queue', coalesce(max(id), 0) + 1000000 FROM helpdesk.queue;
INSERT INTO fx SELECT 'no_agent', coalesce(max(id), 0) + 1000000 FROM helpdesk.agent;
INSERT INTO fx SELECT 'no_session', coalesce(max(id), 0) + 1000000 FROM helpdesk.session;

-- 22004: NULL arguments
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('te'), NULL, 'online')$$,
	'22004', 'agent_id must not be NULL', 'set_agent_status: NULL agent_id');
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('te'), pg_temp.fx('ae1'), NULL)$$,
	'22004', 'status must not be NULL', 'set_agent_status: NULL status');
SELECT throws_ok($$SELECT helpdesk.agent_heartbeat(NULL, ARRAY[pg_temp.fx('ae1')])$$,
	'22004', 'tenant_id must not be NULL', 'agent_heartbeat: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.agent_heartbeat(pg_temp.fx('te'), NULL)$$,
	'22004', 'agent_ids must not be NULL', 'agent_heartbeat: NULL agent_ids');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae1'), NULL)$$,
	'22004', 'session_id must not be NULL', 'accept_offer: NULL session_id');
SELECT throws_ok($$SELECT helpdesk.decline_offer(pg_temp.fx('te'), NULL, pg_temp.fx('s_off'))$$,
	'22004', 'agent_id must not be NULL', 'decline_offer: NULL agent_id');
SELECT throws_ok($$SELECT helpdesk.claim_session(NULL, pg_temp.fx('ae2'), pg_temp.fx('s_man1'))$$,
	'22004', 'tenant_id must not be NULL', 'claim_session: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), NULL, pg_temp.fx('ae1'), to_queue_id => pg_temp.fx('qe'))$$,
	'22004', 'session_id must not be NULL', 'transfer_session: NULL session_id');
SELECT throws_ok($$SELECT * FROM helpdesk.queue_position(pg_temp.fx('te'), NULL)$$,
	'22004', 'session_id must not be NULL', 'queue_position: NULL session_id');
SELECT throws_ok($$SELECT helpdesk.set_agent_queue_limit(pg_temp.fx('te'), pg_temp.fx('ae1'), NULL, 1)$$,
	'22004', 'queue_id must not be NULL', 'set_agent_queue_limit: NULL queue_id');
SELECT throws_ok($$SELECT helpdesk.upsert_issue_type(pg_temp.fx('te'), 'billing', NULL)$$,
	'22004', 'name must not be NULL', 'upsert_issue_type: NULL name');
SELECT throws_ok($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('te'), 'r', 'x', NULL)$$,
	'22004', 'boost_seconds must not be NULL', 'upsert_urgency_rule: NULL boost_seconds');
SELECT throws_ok($$SELECT helpdesk.set_routing(NULL, presence_grace => '1 s')$$,
	'22004', 'tenant_id must not be NULL', 'set_routing: NULL tenant_id');
SELECT throws_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('te'), NULL, 'direct')$$,
	'22004', 'queue_id must not be NULL', 'set_queue_routing: NULL queue_id');

-- HD404: unknown ids
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('no_tenant'), pg_temp.fx('ae1'), 'online')$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'set_agent_status: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('te'), pg_temp.fx('no_agent'), 'online')$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('no_agent'), pg_temp.fx('te')),
	'set_agent_status: unknown agent');
SELECT throws_ok($$SELECT helpdesk.agent_heartbeat(pg_temp.fx('no_tenant'), ARRAY[pg_temp.fx('ae1')])$$,
	'HD404', NULL, 'agent_heartbeat: unknown tenant');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('no_session'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('no_session'), pg_temp.fx('te')),
	'accept_offer: unknown session');
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('no_agent'), pg_temp.fx('s_man1'))$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('no_agent'), pg_temp.fx('te')),
	'claim_session: unknown agent');
SELECT throws_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('te'), pg_temp.fx('no_queue'), 'direct')$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('no_queue'), pg_temp.fx('te')),
	'set_queue_routing: unknown queue');
SELECT throws_ok($$SELECT helpdesk.set_routing(pg_temp.fx('no_tenant'), max_missed_offers => 2)$$,
	'HD404', format('tenant %s does not exist', pg_temp.fx('no_tenant')), 'set_routing: unknown tenant');
SELECT throws_ok($$SELECT * FROM helpdesk.queue_position(pg_temp.fx('te'), pg_temp.fx('no_session'))$$,
	'HD404', NULL, 'queue_position: unknown session');
SELECT throws_ok($$SELECT helpdesk.upsert_issue_type(pg_temp.fx('te'), 'billing', 'Billing', pg_temp.fx('no_queue'))$$,
	'HD404', NULL, 'upsert_issue_type: unknown queue');
SELECT throws_ok($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('no_tenant'), 'r', 'x', 10)$$,
	'HD404', NULL, 'upsert_urgency_rule: unknown tenant');

-- HD404: another tenant's ids are reported like missing ones
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('te'), pg_temp.fx('ax'), 'online')$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('ax'), pg_temp.fx('te')),
	'set_agent_status: another tenant''s agent');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('sx'))$$,
	'HD404', format('session %s does not exist in tenant %s', pg_temp.fx('sx'), pg_temp.fx('te')),
	'accept_offer: another tenant''s session');
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ax'), pg_temp.fx('s_man1'))$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('ax'), pg_temp.fx('te')),
	'claim_session: another tenant''s agent');
SELECT throws_ok($$SELECT * FROM helpdesk.queue_position(pg_temp.fx('te'), pg_temp.fx('sx'))$$,
	'HD404', NULL, 'queue_position: another tenant''s session');
SELECT throws_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('te'), pg_temp.fx('qx'), 'direct')$$,
	'HD404', NULL, 'set_queue_routing: another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.set_agent_queue_limit(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('qx'), 1)$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qx'), pg_temp.fx('te')),
	'set_agent_queue_limit: another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.upsert_issue_type(pg_temp.fx('te'), 'billing', 'Billing', pg_temp.fx('qx'))$$,
	'HD404', NULL, 'upsert_issue_type: another tenant''s queue');
SELECT is(helpdesk.agent_heartbeat(pg_temp.fx('te'), ARRAY[pg_temp.fx('ax'), pg_temp.fx('no_agent')]), 0,
	'agent_heartbeat: another tenant''s and unknown agents are not updated');

-- 22023: invalid values
SELECT throws_ok($$SELECT helpdesk.set_agent_status(pg_temp.fx('te'), pg_temp.fx('ae1'), 'sleeping')$$,
	'22023', 'invalid status "sleeping"', 'set_agent_status: unknown status');
SELECT throws_ok($$SELECT helpdesk.set_queue_routing(pg_temp.fx('te'), pg_temp.fx('qe'), 'push')$$,
	'22023', 'invalid offer_mode "push"', 'set_queue_routing: unknown offer_mode');
SELECT throws_ok($$SELECT helpdesk.set_routing(pg_temp.fx('te'), vip_boost_seconds => '{0,30,60}')$$,
	'22023', 'vip_boost_seconds needs 11 entries (vip levels 0..10), got 3', 'set_routing: vip_boost_seconds with 3 entries');
SELECT throws_ok($$SELECT helpdesk.set_routing(pg_temp.fx('te'), vip_boost_seconds => '{0,1,2,3,4,5,6,7,8,9,10,11}')$$,
	'22023', 'vip_boost_seconds needs 11 entries (vip levels 0..10), got 12', 'set_routing: vip_boost_seconds with 12 entries');
SELECT throws_ok($$SELECT helpdesk.set_routing(pg_temp.fx('te'), max_missed_offers => 0)$$,
	'22023', 'max_missed_offers must be between 1 and 100, got 0', 'set_routing: max_missed_offers 0');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_man1'), pg_temp.fx('ae2'))$$,
	'22023', 'transfer_session needs to_agent_id or to_queue_id', 'transfer_session: neither to_agent_id nor to_queue_id');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_man1'), pg_temp.fx('ae2'), pg_temp.fx('ae2'))$$,
	'22023', format('agent %s cannot transfer a session to itself', pg_temp.fx('ae2')), 'transfer_session: to itself');

-- 2201B: an urgency rule's pattern is compiled when it is saved
SELECT throws_ok($$SELECT helpdesk.upsert_urgency_rule(pg_temp.fx('te'), 'broken', 'refund(', 60)$$,
	'2201B', NULL, 'upsert_urgency_rule: invalid regular expression');
SELECT is((SELECT count(*) FROM helpdesk.urgency_rule WHERE tenant_id = pg_temp.fx('te')), 0::bigint,
	'upsert_urgency_rule: the invalid rule was not stored');

-- 55000: offers, claims
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('s_off'))$$,
	'55000', format('session %s is not offered to agent %s (it is offered)', pg_temp.fx('s_off'), pg_temp.fx('ae2')),
	'accept_offer: the session is offered to another agent');
SELECT throws_ok($$SELECT helpdesk.decline_offer(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('s_off'))$$,
	'55000', NULL, 'decline_offer: the session is offered to another agent');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('s_man1'))$$,
	'55000', format('session %s is not offered to agent %s (it is queued)', pg_temp.fx('s_man1'), pg_temp.fx('ae1')),
	'accept_offer: a queued session');
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('s_skill'))$$,
	'55000', format('queue %s is routed by the dispatcher (strategy least_loaded); only manual queues can be claimed', pg_temp.fx('qe_skill')),
	'claim_session: a queue the dispatcher routes');
-- An offer whose time ran out but that the dispatcher has not taken back yet:
-- moved into the past and back inside one transaction, so the dispatcher never
-- sees it expired.
BEGIN;
UPDATE helpdesk.session SET offer_expires_at = offer_expires_at - interval '1 hour' WHERE id = pg_temp.fx('s_off');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('s_off'))$$,
	'55000', format('the offer of session %s to agent %s has expired', pg_temp.fx('s_off'), pg_temp.fx('ae1')),
	'accept_offer: after the offer expired');
UPDATE helpdesk.session SET offer_expires_at = offer_expires_at + interval '1 hour' WHERE id = pg_temp.fx('s_off');
COMMIT;

-- HD429: capacity and per-queue limits
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('s_man1'))$$,
	'HD429', format('agent %s is at capacity (1 of 1 sessions)', pg_temp.fx('ae1')),
	'claim_session: the agent is at capacity (its offer counts)');
SELECT lives_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('s_man1'))$$,
	'claim_session: ae2 claims one session of the manual queue');
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ae2'), pg_temp.fx('s_man2'))$$,
	'HD429', format('agent %s is at its limit for queue %s (1 of 1 sessions)', pg_temp.fx('ae2'), pg_temp.fx('qe_man')),
	'claim_session: the agent is at its limit for the queue');
SELECT throws_ok($$SELECT helpdesk.claim_session(pg_temp.fx('te'), pg_temp.fx('ae1'), pg_temp.fx('s_man1'))$$,
	'55000', format('session %s is not waiting in a queue (it is active)', pg_temp.fx('s_man1')),
	'claim_session: a session that is already active');

-- 42501: only the agent holding the session transfers it
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_man1'), pg_temp.fx('ae1'), to_queue_id => pg_temp.fx('qe'))$$,
	'42501', format('agent %s does not hold session %s (it is active)', pg_temp.fx('ae1'), pg_temp.fx('s_man1')),
	'transfer_session: by an agent who does not hold the session');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_off'), pg_temp.fx('ae1'), to_queue_id => pg_temp.fx('qe'))$$,
	'42501', NULL, 'transfer_session: an offered (not yet accepted) session');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_man1'), pg_temp.fx('ae2'), to_queue_id => pg_temp.fx('qx'))$$,
	'HD404', format('queue %s does not exist in tenant %s', pg_temp.fx('qx'), pg_temp.fx('te')),
	'transfer_session: to another tenant''s queue');
SELECT throws_ok($$SELECT helpdesk.transfer_session(pg_temp.fx('te'), pg_temp.fx('s_man1'), pg_temp.fx('ae2'), pg_temp.fx('ax'))$$,
	'HD404', format('agent %s does not exist in tenant %s', pg_temp.fx('ax'), pg_temp.fx('te')),
	'transfer_session: to another tenant''s agent');

-- nothing of the failed calls stuck
SELECT results_eq(
	$$SELECT id, state, agent_id FROM helpdesk.session WHERE tenant_id = pg_temp.fx('te') ORDER BY id$$,
	$$VALUES (pg_temp.fx('s_off'), 'offered', pg_temp.fx('ae1')), (pg_temp.fx('s_man1'), 'active', pg_temp.fx('ae2')),
	         (pg_temp.fx('s_man2'), 'queued', NULL::bigint), (pg_temp.fx('s_skill'), 'queued', NULL)$$,
	'errors: the sessions are where the successful calls put them');
SELECT results_eq(
	$$SELECT id, load, status FROM helpdesk.agent WHERE tenant_id = pg_temp.fx('te') ORDER BY id$$,
	$$VALUES (pg_temp.fx('ae1'), 1, 'online'), (pg_temp.fx('ae2'), 1, 'online')$$,
	'errors: failed claims took no capacity and failed calls changed no status');

------------------------------------------------------------------------------
-- least_loaded and capacity
------------------------------------------------------------------------------
-- Two agents of capacity 2 and five sessions started in one transaction: two
-- each, alternating, and the fifth waits.
INSERT INTO fx SELECT 'tb', helpdesk.upsert_tenant(:'run' || '-load', 'Routing load', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qb', helpdesk.upsert_queue(pg_temp.fx('tb'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'b1', helpdesk.upsert_agent(pg_temp.fx('tb'), 'b1', 'B1', max_sessions => 2);
INSERT INTO fx SELECT 'b2', helpdesk.upsert_agent(pg_temp.fx('tb'), 'b2', 'B2', max_sessions => 2);
SELECT pg_temp.online('tb', 'b1', 'b2') \g /dev/null
INSERT INTO fx SELECT 'sb' || i, pg_temp.start('tb', 'c-load-' || i) FROM generate_series(1, 5) i;
SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('tb') AND state = 'offered') = 4
	AND (SELECT wait_reason FROM helpdesk.session WHERE id = pg_temp.fx('sb5')) IS NOT NULL$$),
	'least_loaded: four of five sessions are offered');
SELECT results_eq(
	$$SELECT agent_id, count(*) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('tb') AND state = 'offered'
	  GROUP BY agent_id ORDER BY agent_id$$,
	$$VALUES (pg_temp.fx('b1'), 2::bigint), (pg_temp.fx('b2'), 2::bigint)$$,
	'least_loaded: the sessions are spread evenly');
SELECT is(ARRAY[pg_temp.agent_of('sb1'), pg_temp.agent_of('sb2')], ARRAY[pg_temp.fx('b1'), pg_temp.fx('b2')],
	'least_loaded: consecutive sessions go to the less loaded agent');
SELECT is(pg_temp.st('sb5'), 'queued', 'capacity: the fifth session waits');
SELECT is((SELECT reason FROM helpdesk.waiting_why WHERE session_id = pg_temp.fx('sb5')),
	'all capable agents at capacity', 'waiting_why: all capable agents at capacity');
SELECT is((SELECT candidates FROM helpdesk.dispatch_audit WHERE session_id = pg_temp.fx('sb5') AND action = 'wait'
	ORDER BY id DESC LIMIT 1), 2, 'waiting_why: the wait audit row counts the 2 capable agents');
SELECT results_eq(
	$$SELECT id, load, max_sessions FROM helpdesk.agent WHERE tenant_id = pg_temp.fx('tb') ORDER BY id$$,
	$$VALUES (pg_temp.fx('b1'), 2, 2), (pg_temp.fx('b2'), 2, 2)$$,
	'capacity: agent.load counts the offers and stays at max_sessions');
SELECT results_eq(
	$$SELECT strategy, candidates, reason, agent_load <= agent_capacity FROM helpdesk.assignment_why
	  WHERE tenant_id = pg_temp.fx('tb') ORDER BY session_id$$,
	$$VALUES ('least_loaded', 2, 'least loaded among capable agents with a free slot', true),
	         ('least_loaded', 2, 'least loaded among capable agents with a free slot', true),
	         ('least_loaded', 2, 'least loaded among capable agents with a free slot', true),
	         ('least_loaded', 1, 'least loaded among capable agents with a free slot', true)$$,
	'assignment_why: strategy, candidates (agents with a free slot at the decision), reason, load within capacity');
-- a freed slot is used at once
SELECT lives_ok($$SELECT helpdesk.close_session(pg_temp.fx('tb'), pg_temp.fx('sb1'))$$, 'capacity: closing an offered session');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sb5') = 'offered'$$), 'capacity: the waiting session takes the freed slot');
SELECT is(pg_temp.agent_of('sb5'), pg_temp.fx('b1'), 'capacity: ... of the agent whose slot was freed');

------------------------------------------------------------------------------
-- skills and languages
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'tk', helpdesk.upsert_tenant(:'run' || '-skills', 'Routing skills', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qk', helpdesk.upsert_queue(pg_temp.fx('tk'), 'refunds-de', 'Refunds DE', '{refunds}', '{de}', is_default => true);
INSERT INTO fx SELECT 'k_en', helpdesk.upsert_agent(pg_temp.fx('tk'), 'k-en', 'Refunds EN', '{"refunds": 5}', '{en}');
INSERT INTO fx SELECT 'k_de', helpdesk.upsert_agent(pg_temp.fx('tk'), 'k-de', 'Billing DE', '{"billing": 5}', '{de}');
INSERT INTO fx SELECT 'k_both', helpdesk.upsert_agent(pg_temp.fx('tk'), 'k-both', 'Refunds DE', '{"refunds": 2}', '{en,de}');
SELECT pg_temp.online('tk', 'k_en', 'k_de') \g /dev/null
INSERT INTO fx SELECT 'sk', pg_temp.start('tk', 'c-skill');
SELECT ok(pg_temp.wait_until($$(SELECT wait_reason FROM helpdesk.session WHERE id = pg_temp.fx('sk')) IS NOT NULL$$),
	'skills: the dispatcher looked at the session');
SELECT is(pg_temp.st('sk'), 'queued', 'skills: no agent with both the skill and the language: the session waits');
SELECT alike((SELECT reason FROM helpdesk.waiting_why WHERE session_id = pg_temp.fx('sk')),
	'no online agent with %refunds%de%', 'waiting_why: names the missing skills and languages');
SELECT pg_temp.online('tk', 'k_both') \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('sk') = 'offered'$$), 'skills: offered once a capable agent is online');
SELECT is(pg_temp.agent_of('sk'), pg_temp.fx('k_both'), 'skills: ... to the agent with the skill and the language');
SELECT is((SELECT candidates FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('sk')), 1,
	'assignment_why: only the capable agent was a candidate');

------------------------------------------------------------------------------
-- offer -> accept -> active; decline
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'to', helpdesk.upsert_tenant(:'run' || '-offer', 'Routing offers', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qo', helpdesk.upsert_queue(pg_temp.fx('to'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'o1', helpdesk.upsert_agent(pg_temp.fx('to'), 'o1', 'O1');
INSERT INTO fx SELECT 'o2', helpdesk.upsert_agent(pg_temp.fx('to'), 'o2', 'O2');
SELECT pg_temp.online('to', 'o1') \g /dev/null
INSERT INTO fx SELECT 'so1', pg_temp.start('to', 'c-o1');
SELECT ok(pg_temp.wait_until($$pg_temp.st('so1') = 'offered'$$), 'offer: the session is offered');
SELECT row_eq($$SELECT agent_id, offer_expires_at > now() + interval '25 seconds' FROM helpdesk.session WHERE id = pg_temp.fx('so1')$$,
	ROW(pg_temp.fx('o1'), true), 'offer: to the online agent, expiring after the queue''s offer_timeout');
SELECT row_eq($$SELECT kind, accepted_at IS NULL, ended_at IS NULL FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('so1')$$,
	ROW('offer'::text, true, true), 'offer: an open assignment row of kind offer');
SELECT lives_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('to'), pg_temp.fx('o1'), pg_temp.fx('so1'))$$, 'accept_offer lives');
SELECT row_eq($$SELECT state, agent_id, assigned_at IS NOT NULL, offer_expires_at IS NULL, idle_check_at IS NOT NULL
	FROM helpdesk.session WHERE id = pg_temp.fx('so1')$$,
	ROW('active'::text, pg_temp.fx('o1'), true, true, true), 'accept_offer: the session is active with the agent');
SELECT ok((SELECT accepted_at IS NOT NULL FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('so1')),
	'accept_offer: the assignment is accepted');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('o1')), 1, 'accept_offer: the agent''s load is unchanged (1)');

INSERT INTO fx SELECT 'so2', pg_temp.start('to', 'c-o2');
SELECT ok(pg_temp.wait_until($$pg_temp.st('so2') = 'offered'$$), 'decline: the second session is offered');
SELECT lives_ok($$SELECT helpdesk.decline_offer(pg_temp.fx('to'), pg_temp.fx('o1'), pg_temp.fx('so2'), 'on a call')$$, 'decline_offer lives');
SELECT row_eq($$SELECT state, agent_id, excluded_agents FROM helpdesk.session WHERE id = pg_temp.fx('so2')$$,
	ROW('queued'::text, NULL::bigint, ARRAY[pg_temp.fx('o1')]), 'decline_offer: back to the queue with the agent excluded');
SELECT is((SELECT end_reason FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('so2')), 'declined',
	'decline_offer: the assignment ended as declined');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('o1')), 1, 'decline_offer: the slot is given back');
SELECT ok(pg_temp.wait_until($$(SELECT wait_reason FROM helpdesk.session WHERE id = pg_temp.fx('so2')) IS NOT NULL$$),
	'decline: the dispatcher looked at the declined session again');
SELECT row_eq($$SELECT state, reason FROM helpdesk.session s JOIN helpdesk.waiting_why w ON w.session_id = s.id
	WHERE s.id = pg_temp.fx('so2')$$,
	ROW('queued'::text, 'every capable agent with a free slot declined or missed it; offered to them again once it has waited offer_timeout since'::text),
	'decline: not offered again to the agent who declined, though it has free slots');
SELECT is((SELECT candidates FROM helpdesk.dispatch_audit WHERE session_id = pg_temp.fx('so2') AND action = 'wait'
	ORDER BY id DESC LIMIT 1), 1, 'decline: the wait audit row counts the 1 agent with a free slot');
SELECT is((SELECT reason FROM helpdesk.dispatch_audit WHERE session_id = pg_temp.fx('so2') AND action = 'decline'),
	'declined: on a call', 'dispatch_audit: the decline with its reason');
SELECT pg_temp.online('to', 'o2') \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('so2') = 'offered'$$), 'decline: offered again when another agent is online');
SELECT is(pg_temp.agent_of('so2'), pg_temp.fx('o2'), 'decline: ... to the other agent');
-- an agent going offline on purpose gives its offers back at once
SELECT is(helpdesk.set_agent_status(pg_temp.fx('to'), pg_temp.fx('o2'), 'offline'), 'online',
	'set_agent_status: returns the previous status');
SELECT ok(pg_temp.wait_until($$pg_temp.st('so2') = 'queued'$$), 'set_agent_status offline: the agent''s offer returns to the queue');
SELECT row_eq($$SELECT end_reason FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('so2') AND agent_id = pg_temp.fx('o2')$$,
	ROW('agent_lost'::text), 'set_agent_status offline: the assignment ended as agent_lost');
SELECT ok((SELECT bool_and(at - due_at < interval '1 second') FROM helpdesk.dispatch_audit
	WHERE session_id = pg_temp.fx('so2') AND action = 'requeue'),
	'set_agent_status offline: the requeue is audited with the time it was due');

------------------------------------------------------------------------------
-- round_robin, longest_idle, sticky (direct queues: no accepting needed)
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'tr', helpdesk.upsert_tenant(:'run' || '-rr', 'Routing round robin', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qr', helpdesk.upsert_queue(pg_temp.fx('tr'), 'general', 'General', strategy => 'round_robin', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('tr'), pg_temp.fx('qr'), 'direct') \g /dev/null
INSERT INTO fx SELECT 'r' || i, helpdesk.upsert_agent(pg_temp.fx('tr'), 'r' || i, 'R' || i) FROM generate_series(1, 3) i;
SELECT pg_temp.online('tr', 'r1', 'r2', 'r3') \g /dev/null
INSERT INTO fx SELECT 'sr' || i, pg_temp.start('tr', 'c-rr-' || i) FROM generate_series(1, 4) i;
SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('tr') AND state = 'active') = 4$$),
	'direct: all four sessions are active without an offer');
SELECT is(ARRAY[pg_temp.agent_of('sr1'), pg_temp.agent_of('sr2'), pg_temp.agent_of('sr3'), pg_temp.agent_of('sr4')],
	ARRAY[pg_temp.fx('r1'), pg_temp.fx('r2'), pg_temp.fx('r3'), pg_temp.fx('r1')],
	'round_robin: the agents take turns');
SELECT is((SELECT rr_cursor FROM helpdesk.queue WHERE id = pg_temp.fx('qr')), pg_temp.fx('r1'),
	'round_robin: the queue remembers the agent picked last');
INSERT INTO fx SELECT 'sr5', pg_temp.start('tr', 'c-rr-5');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sr5') = 'active'$$), 'round_robin: a later session is placed');
SELECT is(pg_temp.agent_of('sr5'), pg_temp.fx('r2'), 'round_robin: ... with the next agent after the cursor, in a later pass');
SELECT results_eq(
	$$SELECT kind, accepted_at IS NOT NULL FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('tr') ORDER BY id$$,
	$$VALUES ('direct', true), ('direct', true), ('direct', true), ('direct', true), ('direct', true)$$,
	'direct: assignments of kind direct, accepted at once');
SELECT results_eq(
	$$SELECT DISTINCT action, strategy FROM helpdesk.assignment_why WHERE tenant_id = pg_temp.fx('tr')$$,
	$$VALUES ('assign', 'round_robin')$$,
	'assignment_why: direct assignments are audited as assign');

-- longest_idle: an agent that never worked counts as idle the longest; then
-- whoever was released earliest.
INSERT INTO fx SELECT 'tl', helpdesk.upsert_tenant(:'run' || '-idle', 'Routing longest idle', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'ql', helpdesk.upsert_queue(pg_temp.fx('tl'), 'general', 'General', strategy => 'longest_idle', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('tl'), pg_temp.fx('ql'), 'direct') \g /dev/null
INSERT INTO fx SELECT 'l1', helpdesk.upsert_agent(pg_temp.fx('tl'), 'l1', 'L1');
INSERT INTO fx SELECT 'l2', helpdesk.upsert_agent(pg_temp.fx('tl'), 'l2', 'L2');
SELECT pg_temp.online('tl', 'l1') \g /dev/null
INSERT INTO fx SELECT 'sl1', pg_temp.start('tl', 'c-li-1');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sl1') = 'active'$$), 'longest_idle: first session active');
SELECT pg_temp.online('tl', 'l2') \g /dev/null
SELECT helpdesk.close_session(pg_temp.fx('tl'), pg_temp.fx('sl1')) \g /dev/null
INSERT INTO fx SELECT 'sl2', pg_temp.start('tl', 'c-li-2');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sl2') = 'active'$$), 'longest_idle: second session active');
SELECT is(pg_temp.agent_of('sl2'), pg_temp.fx('l2'), 'longest_idle: the agent that never had a session goes first');
SELECT helpdesk.close_session(pg_temp.fx('tl'), pg_temp.fx('sl2')) \g /dev/null
INSERT INTO fx SELECT 'sl3', pg_temp.start('tl', 'c-li-3');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sl3') = 'active'$$), 'longest_idle: third session active');
SELECT is(pg_temp.agent_of('sl3'), pg_temp.fx('l1'), 'longest_idle: then the agent released longest ago');
SELECT helpdesk.close_session(pg_temp.fx('tl'), pg_temp.fx('sl3')) \g /dev/null
INSERT INTO fx SELECT 'sl4', pg_temp.start('tl', 'c-li-4');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sl4') = 'active'$$), 'longest_idle: fourth session active');
SELECT is(pg_temp.agent_of('sl4'), pg_temp.fx('l2'), 'longest_idle: and back to the other agent');
SELECT is((SELECT reason FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('sl4')),
	'longest idle among capable agents with a free slot', 'assignment_why: longest_idle reason');

-- sticky: k2 served customer c-st before, so its next session goes to k2 even
-- though k1 (lower id, idle longer) would win otherwise.
INSERT INTO fx SELECT 'ts', helpdesk.upsert_tenant(:'run' || '-sticky', 'Routing sticky', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qs', helpdesk.upsert_queue(pg_temp.fx('ts'), 'general', 'General', strategy => 'sticky', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('ts'), pg_temp.fx('qs'), 'direct', '1 day') \g /dev/null
INSERT INTO fx SELECT 'k1', helpdesk.upsert_agent(pg_temp.fx('ts'), 'k1', 'K1');
INSERT INTO fx SELECT 'k2', helpdesk.upsert_agent(pg_temp.fx('ts'), 'k2', 'K2');
SELECT pg_temp.online('ts', 'k2') \g /dev/null
INSERT INTO fx SELECT 'ss1', pg_temp.start('ts', 'c-st');
SELECT ok(pg_temp.wait_until($$pg_temp.st('ss1') = 'active'$$), 'sticky: first session active');
SELECT is(pg_temp.agent_of('ss1'), pg_temp.fx('k2'), 'sticky: first session with k2, the only agent online');
SELECT helpdesk.close_session(pg_temp.fx('ts'), pg_temp.fx('ss1')) \g /dev/null
SELECT pg_temp.online('ts', 'k1') \g /dev/null
INSERT INTO fx SELECT 'ss2', pg_temp.start('ts', 'c-st');
INSERT INTO fx SELECT 'ss3', pg_temp.start('ts', 'c-st-other');
SELECT ok(pg_temp.wait_until($$pg_temp.st('ss2') = 'active' AND pg_temp.st('ss3') = 'active'$$), 'sticky: both new sessions active');
SELECT is(pg_temp.agent_of('ss2'), pg_temp.fx('k2'), 'sticky: the returning customer gets the agent who served it');
SELECT is((SELECT reason FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('ss2')),
	'sticky: this agent served the customer before', 'assignment_why: sticky reason');
SELECT is(pg_temp.agent_of('ss3'), pg_temp.fx('k1'), 'sticky: a new customer goes to the least loaded agent');
SELECT is((SELECT reason FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('ss3')),
	'sticky fallback: previous agent unavailable, least loaded', 'assignment_why: sticky fallback reason');

------------------------------------------------------------------------------
-- manual queue, issue types
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'tm', helpdesk.upsert_tenant(:'run' || '-manual', 'Routing manual', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qm_man', helpdesk.upsert_queue(pg_temp.fx('tm'), 'manual', 'Manual', strategy => 'manual');
INSERT INTO fx SELECT 'qm_dir', helpdesk.upsert_queue(pg_temp.fx('tm'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'qm_bill', helpdesk.upsert_queue(pg_temp.fx('tm'), 'billing', 'Billing');
SELECT helpdesk.set_queue_routing(pg_temp.fx('tm'), pg_temp.fx('qm_dir'), 'direct') \g /dev/null
SELECT helpdesk.upsert_issue_type(pg_temp.fx('tm'), 'billing', 'Billing', pg_temp.fx('qm_bill')) \g /dev/null
INSERT INTO fx SELECT 'm1', helpdesk.upsert_agent(pg_temp.fx('tm'), 'm1', 'M1');
SELECT pg_temp.online('tm', 'm1') \g /dev/null
INSERT INTO fx SELECT 'sm_man', pg_temp.start('tm', 'c-man', 'qm_man');
INSERT INTO fx SELECT 'sm_dir', pg_temp.start('tm', 'c-dir');
INSERT INTO fx SELECT 'sm_bill', pg_temp.start('tm', 'c-bill', issue_type => 'billing');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sm_dir') = 'active' AND pg_temp.st('sm_bill') = 'offered'$$),
	'manual: the dispatcher placed the sessions started after the manual one');
SELECT row_eq($$SELECT state, agent_id FROM helpdesk.session WHERE id = pg_temp.fx('sm_man')$$,
	ROW('queued'::text, NULL::bigint), 'manual: the dispatcher leaves sessions of a manual queue alone');
SELECT is(pg_temp.queue_of('sm_bill'), pg_temp.fx('qm_bill'), 'issue_type: a session naming no queue goes to its issue type''s queue');
SELECT is(pg_temp.queue_of('sm_dir'), pg_temp.fx('qm_dir'), 'issue_type: without one it goes to the default queue');
SELECT lives_ok($$SELECT helpdesk.claim_session(pg_temp.fx('tm'), pg_temp.fx('m1'), pg_temp.fx('sm_man'))$$, 'claim_session lives');
SELECT row_eq($$SELECT state, agent_id FROM helpdesk.session WHERE id = pg_temp.fx('sm_man')$$,
	ROW('active'::text, pg_temp.fx('m1')), 'claim_session: the session is active with the agent');
SELECT row_eq($$SELECT kind, accepted_at IS NOT NULL FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('sm_man')$$,
	ROW('claim'::text, true), 'claim_session: an accepted assignment of kind claim');
SELECT row_eq($$SELECT action, strategy, candidates, reason, agent_load FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('sm_man')$$,
	ROW('claim'::text, 'manual'::text, 1, 'claimed by the agent'::text, 3), 'assignment_why: the claim');

------------------------------------------------------------------------------
-- transfer to an agent
------------------------------------------------------------------------------
INSERT INTO fx SELECT 'tt', helpdesk.upsert_tenant(:'run' || '-transfer', 'Routing transfer', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qt', helpdesk.upsert_queue(pg_temp.fx('tt'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'x' || i, helpdesk.upsert_agent(pg_temp.fx('tt'), 'x' || i, 'X' || i) FROM generate_series(1, 3) i;
SELECT pg_temp.online('tt', 'x1') \g /dev/null
INSERT INTO fx SELECT 'st', pg_temp.start('tt', 'c-tr');
SELECT ok(pg_temp.wait_until($$pg_temp.st('st') = 'offered'$$), 'transfer: fixture offered to x1');
SELECT helpdesk.accept_offer(pg_temp.fx('tt'), pg_temp.fx('x1'), pg_temp.fx('st')) \g /dev/null
SELECT pg_temp.online('tt', 'x2', 'x3') \g /dev/null
SELECT is(helpdesk.transfer_session(pg_temp.fx('tt'), pg_temp.fx('st'), pg_temp.fx('x1'), pg_temp.fx('x3'), note => 'VIP, handle with care'),
	pg_temp.fx('qt'), 'transfer_session: returns the queue the session waits in');
-- the dispatcher may already have offered it by the time we look
SELECT ok((SELECT (state = 'queued' AND target_agent_id = pg_temp.fx('x3'))
	           OR (state = 'offered' AND agent_id = pg_temp.fx('x3'))
	       FROM helpdesk.session WHERE id = pg_temp.fx('st')),
	'transfer_session: queued for the target agent (or already offered to it)');
SELECT ok(pg_temp.wait_until($$pg_temp.st('st') = 'offered'$$), 'transfer: offered again');
SELECT is(pg_temp.agent_of('st'), pg_temp.fx('x3'), 'transfer: only to the target agent (least_loaded would pick x2)');
SELECT row_eq($$SELECT strategy, candidates, reason FROM helpdesk.assignment_why WHERE session_id = pg_temp.fx('st') ORDER BY at DESC LIMIT 1$$,
	ROW('transfer'::text, 1, format('transfer to agent %s', pg_temp.fx('x3'))), 'assignment_why: the transfer offer');
SELECT row_eq($$SELECT sender_kind, sender_id, body FROM helpdesk.message WHERE session_id = pg_temp.fx('st')$$,
	ROW('note'::text, pg_temp.fx('x1'), 'VIP, handle with care'::text), 'transfer: the note is an internal note of the transferring agent');
SELECT results_eq($$SELECT id, load FROM helpdesk.agent WHERE tenant_id = pg_temp.fx('tt') ORDER BY id$$,
	$$VALUES (pg_temp.fx('x1'), 0), (pg_temp.fx('x2'), 0), (pg_temp.fx('x3'), 1)$$,
	'transfer: the slot moved from x1 to x3');

------------------------------------------------------------------------------
-- priority and queue positions
------------------------------------------------------------------------------
-- Queues are served in order of rank_at = queued_at - boost, where the boost
-- is the VIP level's vip_boost_seconds + the issue type's boost + the largest
-- matching urgency rule + the explicit priority. So a boost of b seconds puts
-- a session ahead of everything that queued less than b seconds before it, and
-- a session that has waited longer than that (aging) still goes first.
-- Here VIP level 1 and the urgency rule are worth 1 second each; "old" queues
-- 1.5 s before the others and stays first; "vip" and "urgent" overtake "mid",
-- which queued just before them.
INSERT INTO fx SELECT 'tp', helpdesk.upsert_tenant(:'run' || '-prio', 'Routing priority', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qp', helpdesk.upsert_queue(pg_temp.fx('tp'), 'general', 'General', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('tp'), pg_temp.fx('qp'), 'direct') \g /dev/null
SELECT helpdesk.set_routing(pg_temp.fx('tp'), vip_boost_seconds => '{0,1,1,1,1,1,1,1,1,1,1}') \g /dev/null
INSERT INTO fx SELECT 'rule', helpdesk.upsert_urgency_rule(pg_temp.fx('tp'), 'money', 'refund|chargeback', 1);
INSERT INTO fx SELECT 'p1', helpdesk.upsert_agent(pg_temp.fx('tp'), 'p1', 'P1', max_sessions => 1);
INSERT INTO fx SELECT 'sp_old', pg_temp.start('tp', 'c-old', first_message => 'hello');
SELECT pg_sleep(1.5) \g /dev/null
INSERT INTO fx SELECT 'sp_mid', pg_temp.start('tp', 'c-mid', first_message => 'my sword is gone');
INSERT INTO fx SELECT 'sp_vip', pg_temp.start('tp', 'c-vip', vip => 1, first_message => 'hi');
INSERT INTO fx SELECT 'sp_urg', pg_temp.start('tp', 'c-urg', first_message => 'I want a REFUND now');
SELECT results_eq(
	$$SELECT id, boost_seconds, rank_at = queued_at - make_interval(secs => boost_seconds) FROM helpdesk.session
	  WHERE tenant_id = pg_temp.fx('tp') ORDER BY id$$,
	$$VALUES (pg_temp.fx('sp_old'), 0, true), (pg_temp.fx('sp_mid'), 0, true),
	         (pg_temp.fx('sp_vip'), 1, true), (pg_temp.fx('sp_urg'), 1, true)$$,
	'priority: VIP level and a matching urgency rule (case-insensitive) boost; rank_at = queued_at - boost');
SELECT results_eq(
	$$SELECT s.id, p.queue_id, p.queue_position, p.estimated_wait FROM helpdesk.session s,
	         helpdesk.queue_position(s.tenant_id, s.id) p WHERE s.tenant_id = pg_temp.fx('tp') ORDER BY s.id$$,
	$$VALUES (pg_temp.fx('sp_old'), pg_temp.fx('qp'), 1, NULL::interval), (pg_temp.fx('sp_mid'), pg_temp.fx('qp'), 4, NULL),
	         (pg_temp.fx('sp_vip'), pg_temp.fx('qp'), 2, NULL), (pg_temp.fx('sp_urg'), pg_temp.fx('qp'), 3, NULL)$$,
	'queue_position: 1-based positions in rank order; no estimate before the queue served anyone');
SELECT ok(pg_temp.wait_until($$(SELECT array_agg(queue_position ORDER BY id) FROM helpdesk.session WHERE tenant_id = pg_temp.fx('tp'))
	= '{1,4,2,3}'$$), 'positions: the dispatcher stores the same positions');
SELECT results_eq(
	$$SELECT session_id, queue_position, reason LIKE 'no online agent with%' FROM helpdesk.waiting_why
	  WHERE tenant_id = pg_temp.fx('tp') ORDER BY rank_at$$,
	$$VALUES (pg_temp.fx('sp_old'), 1, true), (pg_temp.fx('sp_vip'), 2, true),
	         (pg_temp.fx('sp_urg'), 3, true), (pg_temp.fx('sp_mid'), 4, true)$$,
	'waiting_why: position and reason of each waiting session');
-- one agent of capacity 1: it serves them one at a time in rank order
SELECT pg_temp.online('tp', 'p1') \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('sp_old') = 'active'$$), 'priority: the session that waited longest is served first (aging)');
SELECT helpdesk.close_session(pg_temp.fx('tp'), pg_temp.fx('sp_old'), closed_by => 'agent', actor_id => pg_temp.fx('p1')) \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('sp_vip') = 'active'$$), 'priority: then the VIP, ahead of an earlier session');
SELECT helpdesk.close_session(pg_temp.fx('tp'), pg_temp.fx('sp_vip'), closed_by => 'agent', actor_id => pg_temp.fx('p1')) \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('sp_urg') = 'active'$$), 'priority: then the urgent one, ahead of an earlier session');
SELECT helpdesk.close_session(pg_temp.fx('tp'), pg_temp.fx('sp_urg'), closed_by => 'agent', actor_id => pg_temp.fx('p1')) \g /dev/null
SELECT ok(pg_temp.wait_until($$pg_temp.st('sp_mid') = 'active'$$), 'priority: the unboosted session last');
SELECT is(ARRAY(SELECT session_id FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('tp') ORDER BY id),
	ARRAY[pg_temp.fx('sp_old'), pg_temp.fx('sp_vip'), pg_temp.fx('sp_urg'), pg_temp.fx('sp_mid')],
	'priority: the assignment order');
SELECT row_eq($$SELECT queue_id, queue_position, estimated_wait FROM helpdesk.queue_position(pg_temp.fx('tp'), pg_temp.fx('sp_mid'))$$,
	ROW(NULL::bigint, NULL::integer, NULL::interval), 'queue_position: NULLs for a session that is not queued');

------------------------------------------------------------------------------
-- timers: offer timeout, max wait, idle
------------------------------------------------------------------------------
-- max wait: one queue overflows into another, one has no overflow
INSERT INTO fx SELECT 'tw', helpdesk.upsert_tenant(:'run' || '-wait', 'Routing max wait', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qw_over', helpdesk.upsert_queue(pg_temp.fx('tw'), 'overflow', 'Overflow');
INSERT INTO fx SELECT 'qw1', helpdesk.upsert_queue(pg_temp.fx('tw'), 'first', 'First', max_wait => '1 second',
	overflow_queue_id => pg_temp.fx('qw_over'));
INSERT INTO fx SELECT 'qw2', helpdesk.upsert_queue(pg_temp.fx('tw'), 'lonely', 'Lonely', max_wait => '1 second');
INSERT INTO fx SELECT 'sw1', pg_temp.start('tw', 'c-w1', 'qw1');
INSERT INTO fx SELECT 'sw2', pg_temp.start('tw', 'c-w2', 'qw2');

-- idle: the queue's 1-second idle settings override the tenant's
INSERT INTO fx SELECT 'ti', helpdesk.upsert_tenant(:'run' || '-idlechat', 'Routing idle chats', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qi', helpdesk.upsert_queue(pg_temp.fx('ti'), 'general', 'General', is_default => true);
SELECT helpdesk.set_queue_routing(pg_temp.fx('ti'), pg_temp.fx('qi'), 'direct', NULL, '1 second', '1 second') \g /dev/null
INSERT INTO fx SELECT 'i1', helpdesk.upsert_agent(pg_temp.fx('ti'), 'i1', 'I1');
SELECT pg_temp.online('ti', 'i1') \g /dev/null
INSERT INTO fx SELECT 'si', pg_temp.start('ti', 'c-idle', first_message => 'help');
SELECT ok(pg_temp.wait_until($$pg_temp.st('si') = 'active'$$), 'idle: fixture session active');
INSERT INTO fx SELECT 'mi', helpdesk.post_message(pg_temp.fx('ti'), pg_temp.fx('si'), 'agent', pg_temp.fx('i1'), 'How can I help?');

-- offer timeout: 1 second, and one missed offer sets the agent away
INSERT INTO fx SELECT 'tto', helpdesk.upsert_tenant(:'run' || '-timeout', 'Routing offer timeout', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qto', helpdesk.upsert_queue(pg_temp.fx('tto'), 'general', 'General', offer_timeout => '1 second', is_default => true);
SELECT helpdesk.set_routing(pg_temp.fx('tto'), max_missed_offers => 1) \g /dev/null
INSERT INTO fx SELECT 'to1', helpdesk.upsert_agent(pg_temp.fx('tto'), 'to1', 'To1');
SELECT pg_temp.online('tto', 'to1') \g /dev/null
INSERT INTO fx SELECT 'sto', pg_temp.start('tto', 'c-to');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sto') = 'offered'$$), 'offer timeout: offered');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sto') = 'queued'$$), 'offer timeout: back in the queue after the offer_timeout');
SELECT row_eq($$SELECT agent_id, excluded_agents FROM helpdesk.session WHERE id = pg_temp.fx('sto')$$,
	ROW(NULL::bigint, ARRAY[pg_temp.fx('to1')]), 'offer timeout: the agent who missed it is excluded');
SELECT is((SELECT end_reason FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('sto')), 'timeout',
	'offer timeout: the assignment ended as timeout');
SELECT row_eq($$SELECT status, missed_offers, load FROM helpdesk.agent WHERE id = pg_temp.fx('to1')$$,
	ROW('away'::text, 1, 0), 'offer timeout: missed_offers counted; max_missed_offers = 1 sets the agent away');
SELECT results_eq($$SELECT action, agent_id FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('tto')
	AND action IN ('timeout', 'agent_away') ORDER BY id$$,
	$$VALUES ('timeout', pg_temp.fx('to1')), ('agent_away', pg_temp.fx('to1'))$$,
	'dispatch_audit: the timeout and the agent set away');
SELECT throws_ok($$SELECT helpdesk.accept_offer(pg_temp.fx('tto'), pg_temp.fx('to1'), pg_temp.fx('sto'))$$,
	'55000', NULL, 'accept_offer: after the offer timed out');

SELECT ok(pg_temp.wait_until($$pg_temp.queue_of('sw1') = pg_temp.fx('qw_over') AND pg_temp.st('sw2') = 'closed'$$),
	'max_wait: both sessions moved on');
SELECT row_eq($$SELECT state, queue_id, wait_due_at FROM helpdesk.session WHERE id = pg_temp.fx('sw1')$$,
	ROW('queued'::text, pg_temp.fx('qw_over'), NULL::timestamptz), 'max_wait: overflow to the overflow queue (which has no max_wait)');
SELECT row_eq($$SELECT state, close_reason, closed_by FROM helpdesk.session WHERE id = pg_temp.fx('sw2')$$,
	ROW('closed'::text, 'abandoned'::text, 'system'::text), 'max_wait: without an overflow queue the session is abandoned');
SELECT results_eq($$SELECT session_id, action, queue_id FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('tw')
	AND action IN ('overflow', 'abandon') ORDER BY session_id$$,
	$$VALUES (pg_temp.fx('sw1'), 'overflow', pg_temp.fx('qw_over')), (pg_temp.fx('sw2'), 'abandon', pg_temp.fx('qw2'))$$,
	'dispatch_audit: overflow and abandon');

SELECT ok(pg_temp.wait_until($$pg_temp.st('si') = 'closed'$$), 'idle: the silent session closes');
SELECT row_eq($$SELECT close_reason, closed_by FROM helpdesk.session WHERE id = pg_temp.fx('si')$$,
	ROW('idle'::text, 'system'::text), 'idle: closed by the system with reason idle');
SELECT results_eq($$SELECT sender_kind, type, body LIKE '您还在吗？%' FROM helpdesk.message
	WHERE session_id = pg_temp.fx('si') AND id > pg_temp.fx('mi') ORDER BY id$$,
	$$VALUES ('system', 'system', true)$$, 'idle: one system warning after the agent''s reply (the customer has no language: the tenant default zh-CN)');
SELECT results_eq($$SELECT action FROM helpdesk.dispatch_audit WHERE session_id = pg_temp.fx('si')
	AND action LIKE 'idle%' ORDER BY id$$,
	$$VALUES ('idle_warn'), ('idle_close')$$, 'dispatch_audit: idle warning, then idle close');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('i1')), 0, 'idle: the agent''s slot is freed');

------------------------------------------------------------------------------
-- presence
------------------------------------------------------------------------------
-- Tenant A (grace 1 s): h1 holds an active and an offered session when its
-- heartbeats stop. Tenant B (grace 2 s): h2 holds an active session and
-- reconnects within the grace. Sessions are set up with a long heartbeat
-- interval, then both tenants switch to heartbeat_interval 1 s, 1 miss.
INSERT INTO fx SELECT 'tha', helpdesk.upsert_tenant(:'run' || '-presence-a', 'Routing presence A', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qha', helpdesk.upsert_queue(pg_temp.fx('tha'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'h1', helpdesk.upsert_agent(pg_temp.fx('tha'), 'h1', 'H1');
INSERT INTO fx SELECT 'thb', helpdesk.upsert_tenant(:'run' || '-presence-b', 'Routing presence B', heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'qhb', helpdesk.upsert_queue(pg_temp.fx('thb'), 'general', 'General', is_default => true);
INSERT INTO fx SELECT 'h2', helpdesk.upsert_agent(pg_temp.fx('thb'), 'h2', 'H2');
SELECT pg_temp.online('tha', 'h1') \g /dev/null
SELECT pg_temp.online('thb', 'h2') \g /dev/null
INSERT INTO fx SELECT 'sha_act', pg_temp.start('tha', 'c-ha-act');
INSERT INTO fx SELECT 'shb_act', pg_temp.start('thb', 'c-hb-act');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sha_act') = 'offered' AND pg_temp.st('shb_act') = 'offered'$$), 'presence: fixtures offered');
SELECT helpdesk.accept_offer(pg_temp.fx('tha'), pg_temp.fx('h1'), pg_temp.fx('sha_act')) \g /dev/null
SELECT helpdesk.accept_offer(pg_temp.fx('thb'), pg_temp.fx('h2'), pg_temp.fx('shb_act')) \g /dev/null
INSERT INTO fx SELECT 'sha_off', pg_temp.start('tha', 'c-ha-off');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sha_off') = 'offered'$$), 'presence: fixture offered');
SELECT helpdesk.upsert_tenant(:'run' || '-presence-a', 'Routing presence A', heartbeat_interval => '1 second', heartbeat_misses => 1) \g /dev/null
SELECT helpdesk.upsert_tenant(:'run' || '-presence-b', 'Routing presence B', heartbeat_interval => '1 second', heartbeat_misses => 1) \g /dev/null
SELECT helpdesk.set_routing(pg_temp.fx('tha'), presence_grace => '1 second') \g /dev/null
SELECT helpdesk.set_routing(pg_temp.fx('thb'), presence_grace => '2 seconds') \g /dev/null

SELECT ok(pg_temp.wait_until($$(SELECT count(*) FROM helpdesk.agent WHERE id IN (pg_temp.fx('h1'), pg_temp.fx('h2'))
	AND status = 'offline') = 2$$), 'presence: agents whose heartbeats stopped go offline by themselves');
INSERT INTO fx SELECT 'hb_at', extract(epoch FROM clock_timestamp()) * 1000;
SELECT is(helpdesk.agent_heartbeat(pg_temp.fx('thb'), ARRAY[pg_temp.fx('h2')]), 1, 'agent_heartbeat: h2 reconnects within the grace');
SELECT helpdesk.upsert_tenant(:'run' || '-presence-b', 'Routing presence B', heartbeat_interval => '1 minute', heartbeat_misses => 3) \g /dev/null
SELECT row_eq($$SELECT status, status_before_loss, presence_lost_at IS NULL FROM helpdesk.agent WHERE id = pg_temp.fx('h2')$$,
	ROW('online'::text, NULL::text, true), 'agent_heartbeat: the status from before the loss is back');

SELECT row_eq($$SELECT status, status_before_loss, presence_lost_at IS NOT NULL FROM helpdesk.agent WHERE id = pg_temp.fx('h1')$$,
	ROW('offline'::text, 'online'::text, true), 'presence: the lost agent remembers its status');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sha_off') = 'queued'$$), 'presence: the lost agent''s offer returns to the queue at once');
SELECT row_eq($$SELECT state, agent_id FROM helpdesk.session WHERE id = pg_temp.fx('sha_act')$$,
	ROW('active'::text, pg_temp.fx('h1')), 'presence: its active session stays during the grace');
SELECT ok(pg_temp.wait_until($$pg_temp.st('sha_act') = 'queued'$$), 'presence: the active session returns to the queue after the grace');
SELECT results_eq($$SELECT session_id, end_reason FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('tha') ORDER BY session_id$$,
	$$VALUES (pg_temp.fx('sha_act'), 'agent_lost'), (pg_temp.fx('sha_off'), 'agent_lost')$$,
	'presence: both assignments ended as agent_lost');
SELECT ok(pg_temp.wait_until($$(SELECT presence_lost_at IS NULL AND load = 0 FROM helpdesk.agent WHERE id = pg_temp.fx('h1'))$$),
	'presence: the grace ends once the agent holds nothing');
SELECT results_eq($$SELECT action, session_id FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('tha')
	AND action IN ('presence_offline', 'requeue') ORDER BY id$$,
	$$VALUES ('presence_offline', NULL::bigint), ('requeue', pg_temp.fx('sha_off')), ('requeue', pg_temp.fx('sha_act'))$$,
	'dispatch_audit: offline, then the offer withdrawn, then the active session requeued');

-- h2 reconnected: wait until its first grace would have ended (2 s after loss)
SELECT pg_sleep(greatest(0, 2.3 - (extract(epoch FROM clock_timestamp()) * 1000 - pg_temp.fx('hb_at')) / 1000.0)) \g /dev/null
SELECT row_eq($$SELECT s.state, s.agent_id, a.status FROM helpdesk.session s JOIN helpdesk.agent a ON a.id = s.agent_id
	WHERE s.id = pg_temp.fx('shb_act')$$,
	ROW('active'::text, pg_temp.fx('h2'), 'online'::text), 'presence: a heartbeat within the grace keeps the sessions');

------------------------------------------------------------------------------
-- audit and invariants over every tenant of this file
------------------------------------------------------------------------------
CREATE TEMP TABLE my_tenants AS SELECT id FROM helpdesk.tenant WHERE slug LIKE :'run' || '-%';
SELECT ok((SELECT count(*) FROM helpdesk.assignment_why WHERE tenant_id IN (SELECT id FROM my_tenants)) > 20,
	'assignment_why: offers, assignments and claims were recorded');
SELECT is((SELECT count(*) FROM helpdesk.assignment_why WHERE tenant_id IN (SELECT id FROM my_tenants)
	AND (strategy IS NULL OR candidates IS NULL OR candidates < 1 OR reason IS NULL OR agent_id IS NULL
	     OR agent_load IS NULL OR agent_load > agent_capacity)), 0::bigint,
	'assignment_why: every decision has its strategy, candidates, reason and a load within capacity');
SELECT ok((SELECT count(*) FROM helpdesk.dispatch_audit WHERE tenant_id IN (SELECT id FROM my_tenants)
	AND action = 'wait' AND reason IS NOT NULL AND candidates IS NOT NULL) > 0,
	'dispatch_audit: waits are recorded with reason and candidates');
SELECT is(ARRAY(SELECT DISTINCT action FROM helpdesk.dispatch_audit WHERE tenant_id IN (SELECT id FROM my_tenants)
	AND due_at IS NOT NULL ORDER BY 1),
	'{abandon,agent_away,idle_close,idle_warn,overflow,presence_offline,requeue,timeout}'::text[],
	'dispatch_audit: every timer action carries its due time');
SELECT is(ARRAY(SELECT format('%s %s: %s late', action, coalesce(session_id, agent_id), at - due_at)
	FROM helpdesk.dispatch_audit WHERE tenant_id IN (SELECT id FROM my_tenants) AND due_at IS NOT NULL
	  AND NOT (at >= due_at AND at - due_at < interval '1 second') ORDER BY id),
	'{}'::text[], 'dispatch_audit: timer actions ran within 1 s after they were due');
SELECT is(ARRAY(SELECT format('agent %s: load %s, holds %s, max %s', a.id, a.load, count(s.id), a.max_sessions)
	FROM helpdesk.agent a LEFT JOIN helpdesk.session s ON s.tenant_id = a.tenant_id AND s.agent_id = a.id
	  AND s.state IN ('offered', 'active')
	WHERE a.tenant_id IN (SELECT id FROM my_tenants)
	GROUP BY a.tenant_id, a.id HAVING a.load <> count(s.id) OR a.load > a.max_sessions ORDER BY a.id),
	'{}'::text[], 'capacity: every agent''s load equals its offered + active sessions and is within max_sessions');
SELECT is(ARRAY(SELECT format('session %s (%s)', s.id, s.state) FROM helpdesk.session s
	LEFT JOIN helpdesk.session_assignment sa ON sa.tenant_id = s.tenant_id AND sa.session_id = s.id AND sa.ended_at IS NULL
	WHERE s.tenant_id IN (SELECT id FROM my_tenants)
	  AND (CASE WHEN s.state IN ('offered', 'active') THEN sa.agent_id IS DISTINCT FROM s.agent_id ELSE sa.id IS NOT NULL END)
	ORDER BY s.id),
	'{}'::text[], 'session_assignment: exactly the offered and active sessions have an open row, with their agent');

------------------------------------------------------------------------------
-- clean up: close what is open, then remove this file's tenants
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT count(helpdesk.close_session(tenant_id, id)) FROM helpdesk.session
	WHERE tenant_id IN (SELECT id FROM my_tenants) AND state <> 'closed'$$, 'clean up: close open sessions');
SELECT lives_ok($$DELETE FROM helpdesk.dispatch_audit WHERE tenant_id IN (SELECT id FROM my_tenants)$$,
	'clean up: delete the audit rows');
-- session_assignment rows go first: their foreign key to agent does not
-- cascade, and the cascade from tenant may reach agent before them
SELECT lives_ok($$DELETE FROM helpdesk.session_assignment WHERE tenant_id IN (SELECT id FROM my_tenants)$$,
	'clean up: delete the assignment history');
SELECT lives_ok($$DELETE FROM helpdesk.tenant WHERE id IN (SELECT id FROM my_tenants)$$, 'clean up: delete the tenants');

SELECT * FROM finish();
