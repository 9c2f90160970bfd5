-- Routing API: presence, offers, claims, transfers, queue positions and the
-- routing configuration. C functions (presence.c, offer.c, transfer.c,
-- priority.c, routing_admin.c); the dispatcher worker does the matching.

CREATE FUNCTION helpdesk.set_agent_status(tenant_id bigint, agent_id bigint, status text)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_status';
COMMENT ON FUNCTION helpdesk.set_agent_status IS
	'Set an agent online, away, busy or offline (online also counts as a heartbeat). Offline requeues its offers at once. Returns the previous status.';

CREATE FUNCTION helpdesk.agent_heartbeat(tenant_id bigint, agent_ids bigint[])
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_agent_heartbeat';
COMMENT ON FUNCTION helpdesk.agent_heartbeat IS
	'Heartbeats for many agents in one call. An agent that had lost presence gets its previous status back and keeps its sessions. Returns how many agents were updated (offline agents who went offline on purpose are not).';

CREATE FUNCTION helpdesk.presence_timeout_ms(tenant_ids bigint[])
RETURNS bigint LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_presence_timeout_ms';
COMMENT ON FUNCTION helpdesk.presence_timeout_ms IS
	'The shortest heartbeat_interval x heartbeat_misses of these tenants in ms (NULL: none usable). helpdesk-bridge sends its heartbeat batches at least three times within it.';

CREATE FUNCTION helpdesk.accept_offer(tenant_id bigint, agent_id bigint, session_id bigint)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_accept_offer';
COMMENT ON FUNCTION helpdesk.accept_offer IS
	'The agent takes the session offered to it: offered -> active.';

CREATE FUNCTION helpdesk.decline_offer(tenant_id bigint, agent_id bigint, session_id bigint,
	reason text DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_decline_offer';
COMMENT ON FUNCTION helpdesk.decline_offer IS
	'The agent refuses the offer: the session goes back to its place in the queue and is not offered to this agent again while it waits there.';

CREATE FUNCTION helpdesk.claim_session(tenant_id bigint, agent_id bigint, session_id bigint)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_claim_session';
COMMENT ON FUNCTION helpdesk.claim_session IS
	'An agent takes a waiting session from a manual queue (skills, languages and capacity are enforced): queued -> active.';

CREATE FUNCTION helpdesk.transfer_session(tenant_id bigint, session_id bigint, agent_id bigint,
	to_agent_id bigint DEFAULT NULL, to_queue_id bigint DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_transfer_session';
COMMENT ON FUNCTION helpdesk.transfer_session IS
	'The assigned agent hands the session to another agent (offered to that agent only) or queue, keeping its place; the note is stored as an internal note. Returns the queue id.';

CREATE FUNCTION helpdesk.send_agent_message(tenant_id bigint, from_agent_id bigint,
	to_agent_id bigint, body text, session_id bigint DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_send_agent_message';
COMMENT ON FUNCTION helpdesk.send_agent_message IS
	'Agent-to-agent internal message, delivered as an event to the receiving agent (optionally about a session). Customers never see it.';

CREATE FUNCTION helpdesk.queue_position(tenant_id bigint, session_id bigint,
	OUT queue_id bigint, OUT queue_position integer, OUT estimated_wait interval)
RETURNS record LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_queue_position';
COMMENT ON FUNCTION helpdesk.queue_position IS
	'Where a waiting session stands: 1-based position in its queue and the estimated wait (NULL until the queue has served sessions recently). NULLs when not queued.';

CREATE FUNCTION helpdesk.set_agent_queue_limit(tenant_id bigint, agent_id bigint,
	queue_id bigint, max_sessions integer)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_queue_limit';
COMMENT ON FUNCTION helpdesk.set_agent_queue_limit IS
	'Per-queue capacity of an agent (NULL removes the limit).';

CREATE FUNCTION helpdesk.upsert_issue_type(tenant_id bigint, code text, name text,
	queue_id bigint DEFAULT NULL, boost_seconds integer DEFAULT 0)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_issue_type';
COMMENT ON FUNCTION helpdesk.upsert_issue_type IS
	'Define an issue type: the queue its sessions go to when none is named, and its priority boost.';

CREATE FUNCTION helpdesk.upsert_urgency_rule(tenant_id bigint, name text, pattern text,
	boost_seconds integer, issue_type text DEFAULT NULL, enabled boolean DEFAULT true)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_urgency_rule';
COMMENT ON FUNCTION helpdesk.upsert_urgency_rule IS
	'Create or update an urgency rule by name: a case-insensitive regex on the first customer message and/or an issue type, and the boost it gives. Returns the rule id.';

CREATE FUNCTION helpdesk.set_routing(tenant_id bigint,
	presence_grace interval DEFAULT NULL, vip_boost_seconds integer[] DEFAULT NULL,
	max_missed_offers integer DEFAULT NULL, idle_warn_after interval DEFAULT NULL,
	idle_close_after interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_routing';
COMMENT ON FUNCTION helpdesk.set_routing IS
	'Tenant routing settings; NULL keeps the stored value.';

CREATE FUNCTION helpdesk.set_queue_routing(tenant_id bigint, queue_id bigint,
	offer_mode text DEFAULT NULL, sticky_window interval DEFAULT NULL,
	idle_warn_after interval DEFAULT NULL, idle_close_after interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_routing';
COMMENT ON FUNCTION helpdesk.set_queue_routing IS
	'Queue routing settings: offer or direct assignment, sticky window, idle timeouts (''0 s'' falls back to the tenant''s). NULL keeps the stored value.';

-- "Why did this session go to this agent?"
CREATE VIEW helpdesk.assignment_why AS
	SELECT a.tenant_id, a.session_id, a.at, a.action, a.queue_id, a.strategy,
	       a.candidates, a.agent_id, a.score, a.reason, a.agent_load, a.agent_capacity
	FROM helpdesk.dispatch_audit a
	WHERE a.action IN ('offer', 'assign', 'claim');
COMMENT ON VIEW helpdesk.assignment_why IS
	'Every offer, assignment and claim with its strategy, candidate count, score and reason.';

-- "Why is it still waiting?"
CREATE VIEW helpdesk.waiting_why AS
	SELECT s.tenant_id, s.id AS session_id, s.queue_id, s.queue_position,
	       now() - s.queued_at AS waited, s.boost_seconds, s.rank_at,
	       coalesce(s.dispatch_error, 'queue ' || q.id || ' skipped: ' || q.dispatch_error,
	                'tenant ' || t.id || ' skipped: ' || t.dispatch_error,
	                s.wait_reason, 'not looked at yet') AS reason,
	       s.excluded_agents, s.target_agent_id
	FROM helpdesk.session s
	LEFT JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id
	LEFT JOIN helpdesk.tenant t ON t.id = s.tenant_id
	WHERE s.state = 'queued';
COMMENT ON VIEW helpdesk.waiting_why IS
	'Waiting sessions with the dispatcher''s last reason for not placing them.';

-- "What is the dispatcher skipping?"
CREATE VIEW helpdesk.dispatch_errors AS
	SELECT t.id AS tenant_id, 'tenant'::text AS kind, t.id, t.dispatch_error AS error
	FROM helpdesk.tenant t WHERE t.dispatch_error IS NOT NULL
	UNION ALL
	SELECT q.tenant_id, 'queue', q.id, q.dispatch_error
	FROM helpdesk.queue q WHERE q.dispatch_error IS NOT NULL
	UNION ALL
	SELECT a.tenant_id, 'agent', a.id, a.dispatch_error
	FROM helpdesk.agent a WHERE a.dispatch_error IS NOT NULL
	UNION ALL
	SELECT s.tenant_id, 'session', s.id, s.dispatch_error
	FROM helpdesk.session s WHERE s.dispatch_error IS NOT NULL AND s.state <> 'closed';
COMMENT ON VIEW helpdesk.dispatch_errors IS
	'Tenants, queues, agents and open sessions the dispatcher skips, and why. Tenant, queue and agent marks clear themselves once the data works again; clear a session''s mark (UPDATE helpdesk.session SET dispatch_error = NULL) to retry it.';

CREATE FUNCTION helpdesk.issue_token(tenant_id bigint, kind text, subject bigint,
	ttl interval DEFAULT '1 hour')
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_issue_token';
COMMENT ON FUNCTION helpdesk.issue_token IS
	'A JWT (HS256, signed with helpdesk.token_secret) for helpdesk-bridge: kind agent, customer or supervisor (an agent who sees the whole tenant); subject is the agent or customer id; ttl 1 s to 30 days.';

CREATE FUNCTION helpdesk.verify_token(token text)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_verify_token';
COMMENT ON FUNCTION helpdesk.verify_token IS
	'The claims of a valid, unexpired token issued by issue_token; raises 28000 otherwise.';
