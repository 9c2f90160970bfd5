-- The peer's side of the workload: the same agents (ids 1..agents), queues
-- (ids 1..20) and customers (ids 1..customers). Presence lasts 3 hours, as
-- for pg_helpdesk's bench tenant. psql variables: customers.
UPDATE peer.settings SET presence_ttl = '3 hours';
INSERT INTO peer.agent (id, skills, skill_names, languages, max_sessions)
SELECT i, skills, ARRAY(SELECT jsonb_object_keys(skills) ORDER BY 1), languages, max_sessions
FROM bench.agent_def;
INSERT INTO peer.queue (id, required_skills, required_languages)
SELECT k, required_skills, required_languages FROM bench.queue_def;
INSERT INTO peer.customer SELECT generate_series(1, :customers);
