-- What the agent console reads through helpdesk-bridge (frames `list`,
-- `customer`, `directory`; docs/bridge-protocol.md): read-only summaries,
-- each one statement, always for the token's tenant and subject.

CREATE FUNCTION helpdesk.bridge_console_sessions(
	tenant_id bigint, kind text, subject bigint, scope text, max_rows integer DEFAULT 500)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
	SELECT helpdesk._require_tenant($1);	-- the caller must act for the tenant
	WITH me AS (
		SELECT a.id, a.skills, a.languages FROM helpdesk.agent a
		WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled AND $2 IN ('agent', 'supervisor')
	), picked AS (
		SELECT s.* FROM helpdesk.session s, me
		WHERE s.tenant_id = $1 AND (
			-- mine: offered to me or held by me
			($4 = 'mine' AND s.agent_id = me.id AND s.state IN ('offered', 'active'))
			-- queue: waiting in a queue whose skills and languages I have
			OR ($4 = 'queue' AND s.state = 'queued' AND EXISTS (
				SELECT 1 FROM helpdesk.queue q
				WHERE q.tenant_id = $1 AND q.id = s.queue_id
				  AND me.skills ?& q.required_skills
				  AND (cardinality(q.required_languages) = 0 OR me.languages && q.required_languages)))
			-- all: every open session, supervisors only
			OR ($4 = 'all' AND $2 = 'supervisor' AND s.state <> 'closed'))
		ORDER BY s.id
		LIMIT greatest(1, least($5, 2000))
	)
	SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', p.id, 'state', p.state, 'queue_id', p.queue_id, 'queue_name', q.name,
		'manual', q.strategy = 'manual', 'agent_id', p.agent_id, 'issue_type', p.issue_type,
		'channel', p.channel, 'created_at', p.created_at, 'queued_at', p.queued_at,
		'assigned_at', p.assigned_at, 'offer_expires_at', p.offer_expires_at,
		'sla_due', p.sla_first_response_due,
		'sla_breached_at', p.sla_breached_at,
		'customer', jsonb_build_object('id', c.id, 'name', coalesce(c.display_name, c.external_id),
			'vip_level', c.vip_level, 'language', c.language),
		'last', (SELECT jsonb_build_object('id', m.id, 'sender_kind', m.sender_kind, 'type', m.type,
				'body', left(m.body, 120), 'created_at', m.created_at)
			FROM helpdesk.message m
			WHERE m.tenant_id = $1 AND m.session_id = p.id AND m.sender_kind <> 'note'
			ORDER BY m.id DESC LIMIT 1),
		'unread', (SELECT count(*) FROM helpdesk.message m
			WHERE m.tenant_id = $1 AND m.session_id = p.id AND m.sender_kind = 'customer'
			  AND m.read_at IS NULL)
		) ORDER BY p.id), '[]')
	FROM picked p
	JOIN helpdesk.customer c ON c.tenant_id = $1 AND c.id = p.customer_id
	LEFT JOIN helpdesk.queue q ON q.tenant_id = $1 AND q.id = p.queue_id
$$;
COMMENT ON FUNCTION helpdesk.bridge_console_sessions IS
	'For helpdesk-bridge (frame list): an agent''s or supervisor''s conversation list. scope mine: offered to or held by the subject; queue: waiting in a queue whose skills and languages it has; all: every open session (supervisors only, else empty). Each with its customer, queue, last public message, unread customer messages and SLA due time.';

CREATE FUNCTION helpdesk.bridge_console_customer(
	tenant_id bigint, kind text, subject bigint, session_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT helpdesk._require_tenant($1);	-- the caller must act for the tenant
	SELECT jsonb_build_object(
		'customer', jsonb_build_object('id', c.id, 'external_id', c.external_id,
			'name', coalesce(c.display_name, c.external_id), 'vip_level', c.vip_level,
			'language', c.language, 'attributes', c.attributes, 'created_at', c.created_at),
		'session', jsonb_build_object('id', s.id, 'state', s.state, 'channel', s.channel,
			'issue_type', s.issue_type, 'attributes', s.attributes, 'created_at', s.created_at),
		'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'state', x.state,
				'issue_type', x.issue_type, 'created_at', x.created_at, 'close_reason', x.close_reason)
				ORDER BY x.id DESC)
			FROM (SELECT * FROM helpdesk.session x WHERE x.tenant_id = $1 AND x.customer_id = c.id
				AND x.id <> s.id ORDER BY x.id DESC LIMIT 10) x), '[]'),
		'tickets', coalesce((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'number', t.number,
				'subject', t.subject, 'status', t.status, 'priority', t.priority,
				'created_at', t.created_at) ORDER BY t.id DESC)
			FROM (SELECT * FROM helpdesk.ticket t WHERE t.tenant_id = $1 AND t.customer_id = c.id
				ORDER BY t.id DESC LIMIT 10) t), '[]'))
	FROM helpdesk.session s
	JOIN helpdesk.customer c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
	WHERE s.tenant_id = $1 AND s.id = $4
	  -- staff of the tenant: a supervisor any session, an agent one offered
	  -- to it, held by it, or waiting in a queue (the list shows those)
	  AND EXISTS (SELECT 1 FROM helpdesk.agent a WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled)
	  AND ($2 = 'supervisor' OR s.agent_id = $3 OR s.state = 'queued')
$$;
COMMENT ON FUNCTION helpdesk.bridge_console_customer IS
	'For helpdesk-bridge (frame customer): the customer panel of a session: the customer (name, VIP level, language, attributes), the session, its 10 previous sessions and 10 latest tickets. NULL unless the subject is a supervisor of the tenant, or an agent the session is offered to, held by, or waiting in a queue.';

CREATE FUNCTION helpdesk.bridge_console_directory(tenant_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT helpdesk._require_tenant($1);	-- the caller must act for the tenant
	SELECT jsonb_build_object(
		'agents', coalesce((SELECT jsonb_agg(jsonb_build_object('id', a.id, 'name', a.display_name,
				'external_id', a.external_id, 'status', a.status, 'role', a.role,
				'max_sessions', a.max_sessions,
				'active', (SELECT count(*) FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.agent_id = a.id AND s.state = 'active'),
				'offered', (SELECT count(*) FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.agent_id = a.id AND s.state = 'offered'))
				ORDER BY a.display_name, a.id)
			FROM helpdesk.agent a WHERE a.tenant_id = $1 AND a.enabled), '[]'),
		'queues', coalesce((SELECT jsonb_agg(jsonb_build_object('id', q.id, 'name', q.name,
				'strategy', q.strategy,
				'offer_timeout_s', extract(epoch FROM q.offer_timeout)::bigint,
				'waiting', (SELECT count(*) FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.queue_id = q.id AND s.state = 'queued'),
				'longest_wait_s', (SELECT extract(epoch FROM now() - min(s.queued_at))::bigint
					FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.queue_id = q.id AND s.state = 'queued'),
				'sla_at_risk', (SELECT count(*) FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.queue_id = q.id AND s.state IN ('queued', 'offered')
					  AND s.sla_first_response_due < now() + interval '1 minute'),
				'bot', (SELECT count(*) FROM helpdesk.session s
					WHERE s.tenant_id = $1 AND s.queue_id = q.id AND s.state = 'bot'))
				ORDER BY q.name, q.id)
			FROM helpdesk.queue q WHERE q.tenant_id = $1), '[]'),
		'bot_sessions', (SELECT count(*) FROM helpdesk.session s
			WHERE s.tenant_id = $1 AND s.state = 'bot'),
		'at', now())
$$;
COMMENT ON FUNCTION helpdesk.bridge_console_directory IS
	'For helpdesk-bridge (frame directory): the tenant''s enabled agents (status, role, sessions held and offered) and queues (waiting, longest wait in seconds, sessions whose first-response SLA is due within a minute or overdue, bot sessions): the transfer dialog and the supervisor view.';

CREATE FUNCTION helpdesk.bridge_history_before(
	tenant_id bigint, session_id bigint, reader_kind text, reader_id bigint,
	before_id bigint, max_rows integer DEFAULT 100)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT helpdesk._require_tenant($1);	-- the caller must act for the tenant
	-- who may read the session is session_history's rule (42501, 55000, HD404
	-- for a missing session): asked for one row, which is enough to run it; a
	-- max_rows outside 1..1000 is passed on for its 22023
	SELECT count(*) FROM helpdesk.session_history($1, $2, $3, $4, 0,
		CASE WHEN $6 BETWEEN 1 AND 1000 THEN 1 ELSE $6 END);
	SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.id), '[]')
	FROM (SELECT m.id, m.session_id, m.sender_kind, m.sender_id, m.type, m.body, m.attachment,
			m.options, m.client_msg_id, m.created_at, m.delivered_at, m.read_at
		FROM helpdesk.message m
		WHERE m.tenant_id = $1 AND m.session_id = $2 AND m.id < $5
		  AND ($3 <> 'customer' OR m.sender_kind <> 'note')
		ORDER BY m.id DESC
		LIMIT least($6, 500)) p
$$;
COMMENT ON FUNCTION helpdesk.bridge_history_before IS
	'For helpdesk-bridge (frame history with before_id): the newest max_rows (1..500) messages of a session before a message id, as a JSON array oldest first (session_history''s columns): how a chat scrolls back. Who may read is session_history''s rule: a customer its own sessions (no notes), an agent the session it holds now, a supervisor any session of the tenant; 42501 otherwise.';
REVOKE ALL ON FUNCTION helpdesk.bridge_history_before FROM PUBLIC;
