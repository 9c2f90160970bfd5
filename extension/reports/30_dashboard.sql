-- Live dashboard views: plain views over the live tables, security_invoker
-- so the reader's own privileges and row level security apply.

CREATE VIEW helpdesk.dashboard_agents WITH (security_invoker = true) AS
	SELECT a.tenant_id, a.status, count(*) AS agents, sum(a.load) AS load,
	       sum(a.max_sessions) FILTER (WHERE a.status = 'online') AS online_capacity,
	       count(*) FILTER (WHERE a.load >= a.max_sessions) AS at_capacity
	FROM helpdesk.agent a
	WHERE a.enabled
	GROUP BY a.tenant_id, a.status;
COMMENT ON VIEW helpdesk.dashboard_agents IS
	'Enabled agents by status now: how many, their load (offered + active sessions), online capacity, how many are full.';

CREATE VIEW helpdesk.dashboard_queues WITH (security_invoker = true) AS
	SELECT q.tenant_id, q.id AS queue_id, q.name,
	       count(s.id) FILTER (WHERE s.state = 'queued') AS queued,
	       count(s.id) FILTER (WHERE s.state = 'offered') AS offered,
	       count(s.id) FILTER (WHERE s.state = 'active') AS active,
	       max(now() - s.queued_at) FILTER (WHERE s.state = 'queued') AS longest_wait,
	       count(s.id) FILTER (WHERE s.state = 'queued'
	                           AND now() - s.queued_at > q.service_level_threshold) AS over_service_level
	FROM helpdesk.queue q
	LEFT JOIN helpdesk.session s ON s.tenant_id = q.tenant_id AND s.queue_id = q.id AND s.state <> 'closed'
	GROUP BY q.tenant_id, q.id, q.name;
COMMENT ON VIEW helpdesk.dashboard_queues IS
	'Open sessions by state per queue now, the longest current wait, and how many waiting sessions are past the queue''s service level threshold.';

CREATE VIEW helpdesk.dashboard_sla_at_risk WITH (security_invoker = true) AS
	SELECT t.tenant_id, t.id AS ticket_id, t.number, t.priority, t.queue_id, t.assignee_id,
	       ts.target, ts.due_at, ts.due_at - now() AS time_left, ts.warned
	FROM helpdesk.ticket_sla ts
	JOIN helpdesk.ticket t ON t.tenant_id = ts.tenant_id AND t.id = ts.ticket_id
	WHERE ts.running_since IS NOT NULL AND ts.stopped_at IS NULL AND NOT ts.breached
	  AND (ts.warned OR ts.due_at <= now() + interval '1 hour');
COMMENT ON VIEW helpdesk.dashboard_sla_at_risk IS
	'Running SLA targets not yet breached that are warned or due within the hour, soonest first when ordered by due_at.';

CREATE VIEW helpdesk.dashboard_today WITH (security_invoker = true) AS
	SELECT tn.id AS tenant_id, d.day_start,
	       (SELECT count(*) FROM helpdesk.session s
	        WHERE s.tenant_id = tn.id AND s.created_at >= d.day_start) AS sessions_started,
	       (SELECT count(*) FROM helpdesk.session s
	        WHERE s.tenant_id = tn.id AND s.created_at >= d.day_start AND s.state = 'closed') AS sessions_closed,
	       (SELECT round(avg(EXTRACT(epoch FROM fr.at - s.first_queued_at)), 3)
	        FROM helpdesk.session s,
	             LATERAL (SELECT min(m.created_at) AS at FROM helpdesk.message m
	                      WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id AND m.sender_kind = 'agent') fr
	        WHERE s.tenant_id = tn.id AND s.created_at >= d.day_start AND fr.at IS NOT NULL
	          AND s.first_queued_at IS NOT NULL) AS first_response_avg_s,
	       (SELECT count(*) FROM helpdesk.ticket t
	        WHERE t.tenant_id = tn.id AND t.created_at >= d.day_start) AS tickets_created,
	       (SELECT count(*) FROM helpdesk.ticket t
	        WHERE t.tenant_id = tn.id AND t.resolved_at >= d.day_start) AS tickets_resolved,
	       (SELECT count(*) FROM helpdesk.ticket t
	        WHERE t.tenant_id = tn.id AND t.status IN ('new', 'open', 'pending')) AS tickets_open,
	       o.online_s, o.handling_s, round(o.handling_s / nullif(o.online_s, 0), 6) AS occupancy
	FROM helpdesk.tenant tn,
	     LATERAL (SELECT date_trunc('day', now() AT TIME ZONE tn.time_zone) AT TIME ZONE tn.time_zone
	              AS day_start) d,
	     LATERAL (SELECT
	       (SELECT coalesce(round(sum(EXTRACT(epoch FROM least(coalesce(i.ended_at, now()), now())
	                                                  - greatest(i.started_at, d.day_start))), 3), 0)
	        FROM helpdesk.agent_status_interval i
	        WHERE i.tenant_id = tn.id AND i.status IN ('online', 'busy') AND i.started_at < now()
	          AND (i.ended_at > d.day_start OR i.ended_at IS NULL)) AS online_s,
	       (SELECT coalesce(round(sum(EXTRACT(epoch FROM least(coalesce(a.ended_at, now()), now())
	                                                  - greatest(a.accepted_at, d.day_start))), 3), 0)
	        FROM helpdesk.session_assignment a
	        WHERE a.tenant_id = tn.id AND a.accepted_at IS NOT NULL AND a.accepted_at < now()
	          AND (a.ended_at > d.day_start OR a.ended_at IS NULL)) AS handling_s) o;
COMMENT ON VIEW helpdesk.dashboard_today IS
	'Today so far in each tenant''s time zone, from the live tables: sessions started and closed, average first response, tickets created and resolved, the open ticket backlog now, and occupancy today: time online (online or busy, the current status counted to now), handling time (held assignments, open ones to now) and their ratio.';
