-- Bench data for bench/reports.sh (NOT made through the API: bulk set
-- operations straight into the tables, COPY speed). :tenants tenants, the
-- first one (the measured one) with :sessions sessions over the 30 days
-- before :t1, :msgs messages each, one accepted offer each (a tenth also a
-- declined one), a CSAT survey for a third, and :sessions / 10 tickets with
-- two SLA clocks; the other tenants a tenth of that each.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SELECT setseed(0.42);
INSERT INTO helpdesk.tenant (id, slug, name, time_zone)
SELECT g, 'bench' || g, 'Bench ' || g, (ARRAY['Asia/Shanghai', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin'])[1 + (g - 1) % 4]
FROM generate_series(1, :tenants) g;
INSERT INTO helpdesk.queue (tenant_id, id, external_id, name, is_default)
SELECT t, (t - 1) * 10 + q, 'q' || q, 'Queue ' || q, q = 1 FROM generate_series(1, :tenants) t, generate_series(1, 5) q;
INSERT INTO helpdesk.agent (tenant_id, id, external_id, display_name, max_sessions)
SELECT t, (t - 1) * 100 + a, 'a' || a, 'Agent ' || a, 10 FROM generate_series(1, :tenants) t, generate_series(1, 50) a;
INSERT INTO helpdesk.calendar (tenant_id, id, external_id, name, time_zone, hours)
SELECT t, t, 'office', 'Office', 'Asia/Shanghai',
       '{"mon": [["09:00","18:00"]], "tue": [["09:00","18:00"]], "wed": [["09:00","18:00"]], "thu": [["09:00","18:00"]], "fri": [["09:00","18:00"]]}'
FROM generate_series(1, :tenants) t;
INSERT INTO helpdesk.sla_policy (tenant_id, id, name, position, first_response, resolution, calendar_id)
SELECT t, t, 'default', 1, '1 hour', '1 day', t FROM generate_series(1, :tenants) t;

-- sessions: tenant 1 gets :sessions, the others a tenth each
CREATE TEMP TABLE bs AS
SELECT CASE WHEN n <= :sessions THEN 1 ELSE 2 + (n - :sessions - 1) % (:tenants - 1) END AS tenant_id,
       n AS id,
       :'t1'::timestamptz - random() * interval '30 days' AS created_at,
       random() AS r1, random() AS r2, random() AS r3
FROM generate_series(1, (:sessions + (:tenants - 1) * :sessions / 10)::bigint) n;
INSERT INTO helpdesk.customer (tenant_id, id, external_id)
SELECT tenant_id, id, 'c' || id FROM bs;
INSERT INTO helpdesk.session (tenant_id, id, customer_id, state, queue_id, agent_id, channel, issue_type,
	created_at, first_queued_at, queued_at, assigned_at, closed_at, closed_by, close_reason)
SELECT tenant_id, id, id, 'closed', (tenant_id - 1) * 10 + 1 + floor(r1 * 5)::int,
       CASE WHEN r2 < 0.9 THEN (tenant_id - 1) * 100 + 1 + floor(r3 * 50)::int END,
       (ARRAY['web', 'ios', 'android'])[1 + floor(r3 * 3)::int],
       (ARRAY[NULL, 'billing', 'bug', 'account'])[1 + floor(r1 * 4)::int],
       created_at, created_at, created_at,
       CASE WHEN r2 < 0.9 THEN created_at + r1 * interval '120 s' END,
       created_at + interval '2 min' + r2 * interval '20 min',
       CASE WHEN r2 < 0.9 THEN 'agent' ELSE 'customer' END,
       CASE WHEN r2 < 0.9 THEN 'closed' ELSE 'abandoned' END
FROM bs;
INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, agent_id, kind,
	started_at, accepted_at, ended_at, end_reason)
SELECT s.tenant_id, s.id, s.customer_id, s.queue_id, s.agent_id, 'offer', s.assigned_at - interval '1 s',
       s.assigned_at, s.closed_at, 'closed'
FROM helpdesk.session s WHERE s.agent_id IS NOT NULL;
INSERT INTO helpdesk.session_assignment (tenant_id, session_id, customer_id, queue_id, agent_id, kind,
	started_at, ended_at, end_reason)
SELECT s.tenant_id, s.id, s.customer_id, s.queue_id, (s.tenant_id - 1) * 100 + 1 + (s.id % 50), 'offer',
       s.created_at + interval '100 ms', s.created_at + interval '900 ms', 'declined'
FROM helpdesk.session s WHERE s.agent_id IS NOT NULL AND s.id % 10 = 0;
-- :msgs messages per session, customer and agent in turn, a few seconds apart
INSERT INTO helpdesk.message (tenant_id, session_id, customer_id, sender_kind, sender_id, type, body, created_at)
SELECT s.tenant_id, s.id, s.customer_id,
       CASE WHEN k % 2 = 1 OR s.agent_id IS NULL THEN 'customer' ELSE 'agent' END,
       CASE WHEN k % 2 = 1 OR s.agent_id IS NULL THEN s.customer_id ELSE s.agent_id END,
       'text', 'message ' || k,
       CASE WHEN s.agent_id IS NULL THEN s.created_at + k * interval '1 s'
            ELSE s.assigned_at + k * interval '7 s' END
FROM helpdesk.session s, generate_series(1, :msgs) k;
INSERT INTO helpdesk.csat (tenant_id, target, session_id, customer_id, agent_id, queue_id, requested_at,
	expires_at, score, submitted_at)
SELECT s.tenant_id, 'session', s.id, s.customer_id, s.agent_id, s.queue_id, s.closed_at, s.closed_at + interval '7 days',
       CASE WHEN s.id % 2 = 0 THEN 1 + s.id % 5 END, CASE WHEN s.id % 2 = 0 THEN s.closed_at + interval '1 min' END
FROM helpdesk.session s WHERE s.agent_id IS NOT NULL AND s.id % 3 = 0;
-- tickets: a tenth of the sessions' count, four fifths resolved
INSERT INTO helpdesk.ticket (tenant_id, id, number, customer_id, subject, status, issue_type, queue_id, assignee_id,
	channel, created_at, first_response_at, resolved_at, resolution_count, resolved_by, sla_policy_id, sla_state)
SELECT b.tenant_id, b.id, 1000 + b.id, b.id, 'ticket ' || b.id,
       CASE WHEN b.r1 < 0.8 THEN 'resolved' ELSE 'open' END,
       (ARRAY[NULL, 'billing', 'bug'])[1 + floor(b.r2 * 3)::int], (b.tenant_id - 1) * 10 + 1 + floor(b.r3 * 5)::int,
       (b.tenant_id - 1) * 100 + 1 + floor(b.r2 * 50)::int, 'api', b.created_at,
       b.created_at + b.r2 * interval '3 hours',
       CASE WHEN b.r1 < 0.8 THEN b.created_at + interval '3 hours' + b.r3 * interval '3 days' END,
       CASE WHEN b.r1 < 0.8 THEN 1 ELSE 0 END, CASE WHEN b.r1 < 0.8 THEN 'agent' END, b.tenant_id,
       CASE WHEN b.r1 < 0.8 THEN 'hit' ELSE 'active' END
FROM bs b WHERE b.id % 10 = 0;
INSERT INTO helpdesk.ticket_sla (tenant_id, ticket_id, target, round, policy_id, goal, started_at, stopped_at, outcome)
SELECT t.tenant_id, t.id, 'first_response', 1, t.sla_policy_id, '1 hour', t.created_at, t.first_response_at,
       CASE WHEN t.first_response_at - t.created_at <= interval '1 hour' THEN 'hit' ELSE 'missed' END
FROM helpdesk.ticket t;
INSERT INTO helpdesk.ticket_sla (tenant_id, ticket_id, target, round, policy_id, goal, started_at, stopped_at, outcome)
SELECT t.tenant_id, t.id, 'resolution', 1, t.sla_policy_id, '1 day', t.created_at, t.resolved_at,
       CASE WHEN t.resolved_at - t.created_at <= interval '1 day' THEN 'hit' ELSE 'missed' END
FROM helpdesk.ticket t WHERE t.resolved_at IS NOT NULL;
SELECT setval(pg_get_serial_sequence('helpdesk.' || c, 'id'), (SELECT max(id) FROM helpdesk.session) * 20)
FROM unnest(ARRAY['tenant', 'queue', 'agent', 'customer', 'session', 'ticket', 'calendar', 'sla_policy']) c;
INSERT INTO helpdesk.ticket_counter SELECT id, 10000000 FROM helpdesk.tenant;
-- agent status history for occupancy: each agent each day of the 30 online
-- for 8 hours from a random start, then busy 1 hour, away 1 hour, offline
INSERT INTO helpdesk.agent_status_interval (tenant_id, agent_id, event_id, status, started_at, ended_at)
SELECT a.tenant_id, a.id, d * 10 + k, (ARRAY['online', 'busy', 'away', 'offline'])[k],
       x.s0 + (ARRAY[0, 8, 9, 10])[k] * interval '1 hour',
       x.s0 + (ARRAY[8, 9, 10, 24])[k] * interval '1 hour'
FROM helpdesk.agent a, generate_series(1, 31) d, generate_series(1, 4) k,
     LATERAL (SELECT :'t1'::timestamptz - d * interval '1 day' + ((a.id * 7 + d) % 8) * interval '1 hour' AS s0) x;
