-- What helpdesk-bridge reads besides the SQL API: events with the session's
-- customer (to tell a customer's events from the rest without a lookup per
-- event), and who a connecting client is.

CREATE FUNCTION helpdesk.bridge_events(
	after_pos bigint, max_rows integer DEFAULT 1000, tenant_id bigint DEFAULT NULL,
	log_id uuid DEFAULT NULL)
RETURNS TABLE (pos bigint, tenant_id bigint, type text, audience text, audience_id bigint,
	session_id bigint, customer_id bigint, payload jsonb, message jsonb, created_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
-- events_since's read with a subquery per row for the customer, by primary
-- key (a join was planned as a hash join over every session); in C, as a SQL
-- function it was planned on every read
AS 'MODULE_PATHNAME', 'hd_bridge_events';
COMMENT ON FUNCTION helpdesk.bridge_events IS
	'events_since() plus the customer of the event''s session; read by helpdesk-bridge.';

CREATE FUNCTION helpdesk.bridge_subscriber(
	tenant_id bigint, kind text, subject bigint, after_pos bigint DEFAULT NULL,
	token_version bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH me AS (
		SELECT a.id, a.skills, a.languages, a.role FROM helpdesk.agent a
		WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled AND $2 IN ('agent', 'supervisor')
		  -- a token of agent_login carries the version it was issued under
		  AND ($5 IS NULL OR a.token_version = $5)
		UNION ALL
		SELECT c.id, NULL, NULL, NULL FROM helpdesk.customer c
		WHERE c.tenant_id = $1 AND c.id = $3 AND $2 = 'customer'
		UNION ALL
		-- a bot token (issue_bot_token): an enabled webhook bot at the token's version
		SELECT b.id, NULL, NULL, NULL FROM helpdesk.bot b
		WHERE b.tenant_id = $1 AND b.id = $3 AND $2 = 'bot' AND b.enabled AND b.kind = 'webhook'
		  AND b.token_version = $5
	)
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM me) THEN NULL ELSE jsonb_build_object(
		-- the agent's role now (security/10_agent_login.sql): what its socket may do
		'role', (SELECT me.role FROM me),
		'position', helpdesk.event_position(),
		'log_id', helpdesk.event_log_id(),
		'oldest', (SELECT min(b.first_pos) - 1 FROM helpdesk.event_batch b),
		'sessions', CASE $2 WHEN 'agent' THEN coalesce((
			-- held now: an offer is not a hold, and what it held before
			-- (transferred, released) it no longer sees, whatever position
			-- it resumes from
			SELECT jsonb_agg(s.id ORDER BY s.id) FROM helpdesk.session s
			WHERE s.tenant_id = $1 AND s.agent_id = $3 AND s.state = 'active'), '[]')
			WHEN 'customer' THEN coalesce((
			SELECT jsonb_agg(s.id) FROM helpdesk.session s
			WHERE s.tenant_id = $1 AND s.customer_id = $3 AND s.state <> 'closed'), '[]')
			ELSE '[]' END,
		'queues', CASE $2 WHEN 'agent' THEN coalesce((
			SELECT jsonb_agg(q.id) FROM helpdesk.queue q, me
			WHERE q.tenant_id = $1
			  AND me.skills ?& q.required_skills
			  AND (cardinality(q.required_languages) = 0 OR me.languages && q.required_languages)), '[]')
			ELSE '[]' END) END
	WHERE helpdesk._require_tenant($1)	-- a one-time filter: 42501 before anything
$$;
COMMENT ON FUNCTION helpdesk.bridge_subscriber IS
	'For helpdesk-bridge at connect: NULL when the subject is not (or no longer) in the tenant, or token_version (the token''s ver claim) is not the agent''s current one (logout, new password, role change, disable) or the bot''s (revoke_bot_tokens; a bot also disabled, deleted or not a webhook bot); else an agent''s role now (null for a customer), the current and oldest positions, the log identity, the sessions whose events the client sees (an agent: the ones it holds now) and an agent''s queues.';
