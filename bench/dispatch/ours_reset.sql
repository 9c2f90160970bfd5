-- Empty pg_helpdesk's session data between runs; every agent online with
-- fresh presence and no load.
TRUNCATE helpdesk.session, helpdesk.session_assignment, helpdesk.message, helpdesk.event,
         helpdesk.event_batch, helpdesk.dispatch_audit CASCADE;
UPDATE helpdesk.agent SET load = 0 WHERE load <> 0;
SELECT count(helpdesk.set_agent_status(tenant_id, id, 'online')) FROM helpdesk.agent;
VACUUM ANALYZE helpdesk.agent;
VACUUM ANALYZE helpdesk.session;
VACUUM ANALYZE helpdesk.session_assignment;
VACUUM ANALYZE helpdesk.event;
CHECKPOINT;
