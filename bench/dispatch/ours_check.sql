-- pg_helpdesk's consistency after a run: one row per violation (none: good).
-- Fresh statistics first: the tables were analyzed empty at the reset, and
-- the planner would pick nested loops over the run's rows.
ANALYZE helpdesk.agent, helpdesk.session, helpdesk.session_assignment, helpdesk.event;
SELECT 'agent over capacity', count(*) FROM helpdesk.agent WHERE load > max_sessions
HAVING count(*) > 0
UNION ALL
SELECT 'agent load differs from its offered/active sessions', count(*)
FROM helpdesk.agent a
LEFT JOIN (SELECT tenant_id, agent_id, count(*) AS c FROM helpdesk.session
           WHERE state IN ('offered', 'active') GROUP BY 1, 2) s
  ON s.tenant_id = a.tenant_id AND s.agent_id = a.id
WHERE a.load <> coalesce(s.c, 0)
HAVING count(*) > 0
UNION ALL
SELECT 'session with more than one open assignment', count(*)
FROM (SELECT tenant_id, session_id FROM helpdesk.session_assignment WHERE ended_at IS NULL
      GROUP BY 1, 2 HAVING count(*) > 1) x
HAVING count(*) > 0
UNION ALL
SELECT 'session assigned more than once (no requeue expected)', count(*)
FROM (SELECT tenant_id, session_id FROM helpdesk.session_assignment GROUP BY 1, 2 HAVING count(*) > 1) x
HAVING count(*) > 0
UNION ALL
SELECT 'active session without its open assignment', count(*)
FROM helpdesk.session s
WHERE s.state = 'active'
  AND NOT EXISTS (SELECT 1 FROM helpdesk.session_assignment x
                  WHERE x.tenant_id = s.tenant_id AND x.session_id = s.id
                    AND x.agent_id = s.agent_id AND x.ended_at IS NULL)
HAVING count(*) > 0
UNION ALL
SELECT 'assignment to an ineligible agent', count(*)
FROM helpdesk.session_assignment x
JOIN helpdesk.queue q ON q.tenant_id = x.tenant_id AND q.id = x.queue_id
JOIN helpdesk.agent a ON a.tenant_id = x.tenant_id AND a.id = x.agent_id
WHERE NOT (a.skills ?& q.required_skills
           AND (cardinality(q.required_languages) = 0 OR a.languages && q.required_languages))
HAVING count(*) > 0
UNION ALL
SELECT 'session state is not queued or active', count(*)
FROM helpdesk.session WHERE state NOT IN ('queued', 'active')
HAVING count(*) > 0
UNION ALL
SELECT 'active session without its to-active event', count(*)
FROM helpdesk.session s
WHERE s.state = 'active'
  AND NOT EXISTS (SELECT 1 FROM helpdesk.event e WHERE e.session_id = s.id
                  AND e.type = 'session.state' AND e.payload ->> 'to' = 'active')
HAVING count(*) > 0;
