-- pg_helpdesk's side of the workload: tenant 'bench' (presence lasts 3 hours,
-- so a run needs no heartbeats), the agents, 20 direct-assignment
-- least_loaded queues, the customers. psql variables: customers.
SELECT helpdesk.upsert_tenant('bench', 'Bench', heartbeat_interval => '1 hour') AS tenant \gset
SELECT helpdesk.upsert_agent(:tenant, external_id, 'Agent ' || i, skills, languages, max_sessions)
FROM bench.agent_def ORDER BY i;
SELECT helpdesk.upsert_queue(:tenant, external_id, 'Queue ' || k, required_skills, required_languages,
                             strategy => 'least_loaded')
FROM bench.queue_def ORDER BY k;
SELECT helpdesk.set_queue_routing(:tenant, id, offer_mode => 'direct')
FROM helpdesk.queue WHERE tenant_id = :tenant ORDER BY id;
SELECT helpdesk.upsert_customer(:tenant, 'c' || g) FROM generate_series(1, :customers) g;
