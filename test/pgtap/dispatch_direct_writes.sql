-- The dispatcher writes what it placed (assignment history, audit row, two
-- session.state events) without the executor for small batches
-- (extension/routing/dispatch_record.c, core/direct_insert.c) as long as that
-- is exactly what its INSERT statement would do. These tests check the rows
-- against what the statement writes, that a DBA's CHECK constraint and
-- trigger are honoured (enforced directly, or the write goes through SQL),
-- and with amcheck that every index, the partial ones too, has exactly the
-- rows of its table.
--
-- No wrapping transaction: the dispatcher acts after each COMMIT (see
-- routing.sql). Every DDL below is undone before the next test that could
-- fail, so a failure leaves no changed table to the files that follow.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(22);

\ir fixtures.psql
\ir wait_until.psql

SELECT 'ddw' || to_char(clock_timestamp(), 'YYYYMMDDHH24MISSUS') AS run \gset
CREATE EXTENSION IF NOT EXISTS amcheck;

CREATE FUNCTION pg_temp.st(text) RETURNS text LANGUAGE sql VOLATILE AS
	$$ SELECT state FROM helpdesk.session WHERE id = pg_temp.fx($1) $$;
CREATE FUNCTION pg_temp.start(customer text, queue text) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s bigint;
BEGIN
	SELECT session_id INTO s FROM helpdesk.start_session(pg_temp.fx('t'),
		helpdesk.upsert_customer(pg_temp.fx('t'), customer), queue_id => pg_temp.fx(queue));
	RETURN s;
END $$;

INSERT INTO fx SELECT 't', helpdesk.upsert_tenant(:'run', 'TAP dispatcher direct writes',
	heartbeat_interval => '1 minute');
INSERT INTO fx SELECT 'q_offer', helpdesk.upsert_queue(pg_temp.fx('t'), 'offers', 'Offers', is_default => true);
INSERT INTO fx SELECT 'q_direct', helpdesk.upsert_queue(pg_temp.fx('t'), 'direct', 'Direct');
SELECT helpdesk.set_queue_routing(pg_temp.fx('t'), pg_temp.fx('q_direct'), 'direct') \g /dev/null
INSERT INTO fx SELECT 'a', helpdesk.upsert_agent(pg_temp.fx('t'), 'a1', 'A1', max_sessions => 20);
SELECT helpdesk.set_agent_status(pg_temp.fx('t'), pg_temp.fx('a'), 'online') \g /dev/null

------------------------------------------------------------------------------
-- the rows of one offer and one direct assignment
------------------------------------------------------------------------------
-- one after the other, so that each audit row has its own agent load
INSERT INTO fx SELECT 's_offer', pg_temp.start('c-offer', 'q_offer');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_offer') = 'offered'$$), 'the dispatcher offered the first session');
INSERT INTO fx SELECT 's_direct', pg_temp.start('c-direct', 'q_direct');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_direct') = 'active'$$), 'and assigned the second one');

SELECT results_eq($$SELECT session_id, customer_id, queue_id, agent_id, kind,
		accepted_at IS NOT NULL, ended_at, end_reason, started_at <= clock_timestamp()
	FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('t') ORDER BY session_id$$,
	format($$VALUES (%s::bigint, (SELECT customer_id FROM helpdesk.session WHERE id = %1$s), %s::bigint, %s::bigint,
		'offer'::text, false, NULL::timestamptz, NULL::text, true),
		(%s::bigint, (SELECT customer_id FROM helpdesk.session WHERE id = %4$s), %s::bigint, %3$s::bigint,
		'direct'::text, true, NULL::timestamptz, NULL::text, true)$$,
		pg_temp.fx('s_offer'), pg_temp.fx('q_offer'), pg_temp.fx('a'), pg_temp.fx('s_direct'),
		pg_temp.fx('q_direct')),
	'session_assignment: one row per placement, with every column the INSERT gives it');
SELECT ok((SELECT accepted_at - started_at BETWEEN interval '-1 second' AND interval '1 second'
	FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('s_direct')),
	'session_assignment: a direct assignment is accepted when it starts');
SELECT results_eq($$SELECT session_id, queue_id, agent_id, action, strategy, candidates, reason, due_at,
		agent_load, agent_capacity, at <= clock_timestamp()
	FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('t') AND action <> 'wait' ORDER BY session_id$$,
	format($$VALUES (%s::bigint, %s::bigint, %s::bigint, 'offer'::text, 'least_loaded'::text, 1,
		'least loaded among capable agents with a free slot'::text, NULL::timestamptz, 1, 20, true),
		(%s::bigint, %s::bigint, %3$s::bigint, 'assign'::text, 'least_loaded'::text, 1,
		'least loaded among capable agents with a free slot'::text, NULL::timestamptz, 2, 20, true)$$,
		pg_temp.fx('s_offer'), pg_temp.fx('q_offer'), pg_temp.fx('a'), pg_temp.fx('s_direct'),
		pg_temp.fx('q_direct')),
	'dispatch_audit: the offer and the assignment, with strategy, candidates, reason, load and capacity');
SELECT results_eq($$SELECT audience, audience_id, session_id, message_id, payload, created_at <= now()
	FROM helpdesk.event WHERE tenant_id = pg_temp.fx('t') AND type = 'session.state'
	  AND payload->>'from' = 'queued' ORDER BY session_id, audience DESC$$,
	format($$VALUES ('session'::text, %1$s::bigint, %1$s::bigint, NULL::bigint,
		jsonb_build_object('from', 'queued', 'to', 'offered', 'queue_id', %2$s, 'agent_id', %3$s), true),
		('agent'::text, %3$s::bigint, %1$s::bigint, NULL::bigint,
		jsonb_build_object('from', 'queued', 'to', 'offered', 'queue_id', %2$s, 'agent_id', %3$s), true),
		('session'::text, %4$s::bigint, %4$s::bigint, NULL::bigint,
		jsonb_build_object('from', 'queued', 'to', 'active', 'queue_id', %5$s, 'agent_id', %3$s), true),
		('agent'::text, %3$s::bigint, %4$s::bigint, NULL::bigint,
		jsonb_build_object('from', 'queued', 'to', 'active', 'queue_id', %5$s, 'agent_id', %3$s), true)$$,
		pg_temp.fx('s_offer'), pg_temp.fx('q_offer'), pg_temp.fx('a'), pg_temp.fx('s_direct'),
		pg_temp.fx('q_direct')),
	'event: two session.state events per placement, to the session and to the agent');
SELECT ok(pg_temp.wait_until($$(SELECT bool_and(EXISTS (SELECT 1 FROM helpdesk.event_batch b, unnest(b.ids) r
		WHERE r @> e.id)) FROM helpdesk.event e
	WHERE e.tenant_id = pg_temp.fx('t') AND e.type = 'session.state')$$),
	'event: the publisher numbered the dispatcher''s events');

------------------------------------------------------------------------------
-- a CHECK constraint added by a DBA is enforced on the dispatcher's rows
------------------------------------------------------------------------------
SELECT format('ALTER TABLE helpdesk.session_assignment ADD CONSTRAINT tap_not_this_customer CHECK (customer_id <> %s) NOT VALID',
	helpdesk.upsert_customer(pg_temp.fx('t'), 'c-refused')) \gexec
INSERT INTO fx SELECT 's_refused', pg_temp.start('c-refused', 'q_direct');
INSERT INTO fx SELECT 's_fine', pg_temp.start('c-fine', 'q_direct');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_fine') = 'active'
		AND (SELECT dispatch_error IS NOT NULL FROM helpdesk.session WHERE id = pg_temp.fx('s_refused'))$$),
	'CHECK: the other session of the pass is assigned, the refused one is marked');
ALTER TABLE helpdesk.session_assignment DROP CONSTRAINT tap_not_this_customer;
SELECT is(pg_temp.st('s_refused'), 'queued', 'CHECK: the refused session stays queued');
SELECT alike((SELECT dispatch_error FROM helpdesk.session WHERE id = pg_temp.fx('s_refused')),
	'%tap_not_this_customer%', 'CHECK: its mark names the constraint');
SELECT is((SELECT count(*) FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('s_refused')), 0::bigint,
	'CHECK: no assignment row for the refused session');
SELECT is((SELECT count(*) FROM helpdesk.dispatch_audit WHERE session_id = pg_temp.fx('s_refused')
	AND action IN ('assign', 'offer')), 0::bigint, 'CHECK: no audit row of an assignment for it');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE session_id = pg_temp.fx('s_refused')
	AND type = 'session.state' AND payload->>'from' = 'queued'), 0::bigint, 'CHECK: and no event');
SELECT is((SELECT load FROM helpdesk.agent WHERE id = pg_temp.fx('a')), 3,
	'CHECK: the refused session''s slot was given back');

------------------------------------------------------------------------------
-- an INSERT trigger on the audit table: the rows go through SQL, it fires
------------------------------------------------------------------------------
CREATE TABLE public.tap_ddw_seen (session_id bigint, action text);
CREATE FUNCTION public.tap_ddw_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.tap_ddw_seen VALUES (NEW.session_id, NEW.action); RETURN NULL; END $$;
CREATE TRIGGER tap_ddw_seen AFTER INSERT ON helpdesk.dispatch_audit
	FOR EACH ROW EXECUTE FUNCTION public.tap_ddw_seen();
INSERT INTO fx SELECT 's_trig', pg_temp.start('c-trig', 'q_direct');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_trig') = 'active'$$), 'trigger: the session is assigned');
DROP TRIGGER tap_ddw_seen ON helpdesk.dispatch_audit;
SELECT results_eq($$SELECT action FROM public.tap_ddw_seen WHERE session_id = $$ || pg_temp.fx('s_trig'),
	$$VALUES ('assign'::text)$$, 'trigger: an AFTER INSERT trigger on dispatch_audit fires for the assignment');
SELECT is((SELECT count(*) FROM helpdesk.session_assignment WHERE session_id = pg_temp.fx('s_trig')), 1::bigint,
	'trigger: and its assignment row is there once');
SELECT is((SELECT count(*) FROM helpdesk.event WHERE session_id = pg_temp.fx('s_trig') AND type = 'session.state'
	AND payload->>'from' = 'queued'), 2::bigint, 'trigger: with its two events');
INSERT INTO fx SELECT 's_after', pg_temp.start('c-after', 'q_direct');
SELECT ok(pg_temp.wait_until($$pg_temp.st('s_after') = 'active'$$), 'trigger dropped: the next session is assigned');
SELECT is((SELECT count(*) FROM public.tap_ddw_seen), 1::bigint, 'trigger dropped: it no longer fires');
DROP TABLE public.tap_ddw_seen;
DROP FUNCTION public.tap_ddw_seen();

------------------------------------------------------------------------------
-- every index has exactly the rows of its table (partial indexes included)
------------------------------------------------------------------------------
SELECT lives_ok($$SELECT bt_index_check(i.indexrelid, true) FROM pg_index i
	WHERE i.indrelid IN ('helpdesk.session_assignment'::regclass, 'helpdesk.dispatch_audit'::regclass,
	                     'helpdesk.event'::regclass, 'helpdesk.message'::regclass, 'helpdesk.bot_job'::regclass)$$,
	'amcheck: the indexes of the directly written tables hold every row once');
SELECT is((SELECT count(*) FROM pg_index i
	WHERE i.indrelid IN ('helpdesk.session_assignment'::regclass, 'helpdesk.bot_job'::regclass)
	  AND i.indpred IS NOT NULL)::int, 5, 'amcheck: the checked indexes include five partial ones');

-- clean up as routing.sql does: sessions closed, history first, then the tenant
SELECT count(helpdesk.close_session(tenant_id, id)) FROM helpdesk.session
	WHERE tenant_id = pg_temp.fx('t') AND state <> 'closed' \g /dev/null
DELETE FROM helpdesk.dispatch_audit WHERE tenant_id = pg_temp.fx('t');
DELETE FROM helpdesk.session_assignment WHERE tenant_id = pg_temp.fx('t');
DELETE FROM helpdesk.tenant WHERE id = pg_temp.fx('t');
SELECT * FROM finish();
