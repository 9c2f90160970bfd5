-- pg_helpdesk 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_helpdesk UPDATE).
-- Every change to the install script's parts in 0.2.0 adds its lines here
-- (extension/upgrade/README.md); test/e2e/upgrade.sh checks that a database
-- updated from 0.1.0 has exactly the schema of a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_helpdesk UPDATE" to load this file. \quit

------------------------------------------------------------------------------
-- the event log's identity and the settled id carried by each batch
------------------------------------------------------------------------------
-- the existing log gets its identity now; its batches belong to it
ALTER TABLE helpdesk.event_cursor
	ADD COLUMN log_id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid();
ALTER TABLE helpdesk.event_batch
	ADD COLUMN log_id uuid,
	ADD COLUMN settled_id bigint NOT NULL DEFAULT 0;
UPDATE helpdesk.event_batch SET log_id = (SELECT c.log_id FROM helpdesk.event_cursor c);
ALTER TABLE helpdesk.event_batch ALTER COLUMN log_id SET NOT NULL;

COMMENT ON COLUMN helpdesk.event_batch.log_id IS
	'The identity of the log these positions belong to (helpdesk.event_log_id()); dumped and restored with them.';
COMMENT ON COLUMN helpdesk.event_batch.settled_id IS
	'event_cursor.settled_id as this pass left it: a restored log''s publisher resumes from the newest batch''s.';
COMMENT ON COLUMN helpdesk.event_cursor.log_id IS
	'A new log''s identity, made by CREATE EXTENSION; the first batch inherits it, and from then on the newest batch carries it.';

-- events_since and bridge_events take the log identity (HD412 for another log)
DROP FUNCTION helpdesk.bridge_events(bigint, integer, bigint);
DROP FUNCTION helpdesk.events_since(bigint, integer, bigint);

CREATE FUNCTION helpdesk.events_since(
	after_pos bigint, max_rows integer DEFAULT 1000, tenant_id bigint DEFAULT NULL,
	log_id uuid DEFAULT NULL)
RETURNS TABLE (pos bigint, tenant_id bigint, type text, audience text, audience_id bigint,
	session_id bigint, payload jsonb, message jsonb, created_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- the batch expansion's row estimates are pessimistic; JIT would cost ~100 ms a call
SET jit = off
AS 'MODULE_PATHNAME', 'hd_events_since';
COMMENT ON FUNCTION helpdesk.events_since IS
	'Published events after a position, in commit order with no gaps; message events carry the message. With log_id: refused (HD412) unless the log is still that one and has reached after_pos.';

CREATE OR REPLACE FUNCTION helpdesk.event_position()
RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- from the batches, which are dumped, not from event_cursor, which is not:
-- right after a restore the position is the source's
AS $$ SELECT coalesce(max(last_pos), 0) FROM helpdesk.event_batch $$;
COMMENT ON FUNCTION helpdesk.event_position() IS
	'The highest published event position (what the last NOTIFY on channel helpdesk carried).';

CREATE FUNCTION helpdesk.event_log_id()
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce((SELECT b.log_id FROM helpdesk.event_batch b ORDER BY b.last_pos DESC LIMIT 1),
	                (SELECT c.log_id FROM helpdesk.event_cursor c))
$$;
COMMENT ON FUNCTION helpdesk.event_log_id() IS
	'The identity of the event log: kept by dump and restore (as positions are), new when the extension is re-created. Positions are only comparable within one log.';

CREATE FUNCTION helpdesk.bridge_events(
	after_pos bigint, max_rows integer DEFAULT 1000, tenant_id bigint DEFAULT NULL,
	log_id uuid DEFAULT NULL)
RETURNS TABLE (pos bigint, tenant_id bigint, type text, audience text, audience_id bigint,
	session_id bigint, customer_id bigint, payload jsonb, message jsonb, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
	-- a subquery per row, by primary key: a join was planned as a hash join
	-- over every session, whose cost grew with the table on each read
	SELECT e.pos, e.tenant_id, e.type, e.audience, e.audience_id, e.session_id,
	       (SELECT s.customer_id FROM helpdesk.session s
	        WHERE s.tenant_id = e.tenant_id AND s.id = e.session_id),
	       e.payload, e.message, e.created_at
	FROM helpdesk.events_since(after_pos, max_rows, tenant_id, log_id) e
	ORDER BY e.pos
$$;
COMMENT ON FUNCTION helpdesk.bridge_events IS
	'events_since() plus the customer of the event''s session; read by helpdesk-bridge.';

-- login tokens' version (security/10_agent_login.sql) is a fifth argument
DROP FUNCTION helpdesk.bridge_subscriber(bigint, text, bigint, bigint);
CREATE FUNCTION helpdesk.bridge_subscriber(
	tenant_id bigint, kind text, subject bigint, after_pos bigint DEFAULT NULL,
	token_version bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH me AS (
		SELECT a.id, a.skills, a.languages FROM helpdesk.agent a
		WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled AND $2 IN ('agent', 'supervisor')
		  -- a token of agent_login carries the version it was issued under
		  AND ($5 IS NULL OR a.token_version = $5)
		UNION ALL
		SELECT c.id, NULL, NULL FROM helpdesk.customer c
		WHERE c.tenant_id = $1 AND c.id = $3 AND $2 = 'customer'
	)
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM me) THEN NULL ELSE jsonb_build_object(
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
$$;
COMMENT ON FUNCTION helpdesk.bridge_subscriber IS
	'For helpdesk-bridge at connect: NULL when the subject is not (or no longer) in the tenant, or token_version (the token''s ver claim) is not the agent''s current one (logout, new password, role change, disable); else the current and oldest positions, the log identity, the sessions whose events the client sees (an agent: the ones it holds now) and an agent''s queues.';

------------------------------------------------------------------------------
-- history read as the holder of a session now
------------------------------------------------------------------------------

CREATE FUNCTION helpdesk.session_history(
	tenant_id bigint, session_id bigint, reader_kind text, reader_id bigint,
	after_id bigint DEFAULT 0, max_rows integer DEFAULT 50)
RETURNS TABLE (id bigint, session_id bigint, sender_kind text, sender_id bigint,
	type text, body text, attachment jsonb, options jsonb, client_msg_id text,
	created_at timestamptz, delivered_at timestamptz, read_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_session_history';
COMMENT ON FUNCTION helpdesk.session_history IS
	'session_messages for one reader, checked against who holds the session now: a customer its own sessions (no notes), an agent the session it holds (active, or closed while held), a supervisor any of the tenant (notes included). 42501 otherwise.';

------------------------------------------------------------------------------
-- the dispatcher's fault isolation; the bridge following short presence
-- timeouts
------------------------------------------------------------------------------
ALTER TABLE helpdesk.tenant ADD COLUMN dispatch_error text;
ALTER TABLE helpdesk.queue ADD COLUMN dispatch_error text;
ALTER TABLE helpdesk.agent ADD COLUMN dispatch_error text;

COMMENT ON COLUMN helpdesk.tenant.dispatch_error IS
	'Why the dispatcher skips this tenant (settings it cannot use, or a stage failing for it); NULL when fine. Cleared by the dispatcher once the tenant works again.';
COMMENT ON COLUMN helpdesk.queue.dispatch_error IS
	'Why the dispatcher does not route this queue (a setting it cannot use); NULL when fine. Cleared by the dispatcher once the settings are valid again.';
COMMENT ON COLUMN helpdesk.agent.dispatch_error IS
	'Why the dispatcher offers this agent nothing (skills or capacity it cannot use); NULL when fine. Cleared by the dispatcher once the data is valid again.';

CREATE OR REPLACE VIEW helpdesk.waiting_why AS
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

CREATE FUNCTION helpdesk.presence_timeout_ms(tenant_ids bigint[])
RETURNS bigint LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_presence_timeout_ms';
COMMENT ON FUNCTION helpdesk.presence_timeout_ms IS
	'The shortest heartbeat_interval x heartbeat_misses of these tenants in ms (NULL: none usable). helpdesk-bridge sends its heartbeat batches at least three times within it.';

------------------------------------------------------------------------------
-- system texts in the customer's language
------------------------------------------------------------------------------

ALTER TABLE helpdesk.tenant
	ADD COLUMN default_language text NOT NULL DEFAULT 'zh-cn'
		CHECK (default_language ~ '^[a-z]{2,3}(-[a-z0-9]{1,8})*$' AND length(default_language) <= 35);
COMMENT ON COLUMN helpdesk.tenant.default_language IS
	'Language of system texts for customers whose own language has no text (lowercase; default zh-cn).';

CREATE TABLE helpdesk.system_text (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	key        text NOT NULL CHECK (key IN ('idle_warning')),
	language   text NOT NULL
	           CHECK (language ~ '^[a-z]{2,3}(-[a-z0-9]{1,8})*$' AND length(language) <= 35),
	body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 1000),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, key, language)
);
COMMENT ON TABLE helpdesk.system_text IS
	'A tenant''s own wording of a system text in one language (placeholders {duration}, {minutes}, {seconds}); overrides the built-in zh-CN/en text.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.system_text', '');

CREATE FUNCTION helpdesk.set_system_text(tenant_id bigint, key text, language text, body text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_system_text';
COMMENT ON FUNCTION helpdesk.set_system_text IS
	'Set the tenant''s text for a system message key (idle_warning) in a language; body NULL removes it (the built-in text applies again).';

CREATE FUNCTION helpdesk.set_tenant_language(tenant_id bigint, default_language text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_tenant_language';
COMMENT ON FUNCTION helpdesk.set_tenant_language IS
	'The language of system texts for customers whose own language has none (lowercase; default zh-cn).';

CREATE FUNCTION helpdesk.system_text(tenant_id bigint, key text, language text DEFAULT NULL,
	duration interval DEFAULT NULL)
RETURNS text LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_system_text_sql';
COMMENT ON FUNCTION helpdesk.system_text IS
	'The system text a customer speaking language would get, with {duration} filled in (a preview of what the dispatcher sends).';

------------------------------------------------------------------------------
-- integrations: the HTTP worker's webhooks (issue 17; the same SQL as
-- extension/integrations/00_webhook_schema.sql and 10_webhook_api.sql)
------------------------------------------------------------------------------
-- integrations/: webhooks (issue 17). Endpoints, their deliveries, each
-- delivery's attempts, and the HTTP worker's cursor in the event log.

CREATE TABLE helpdesk.webhook (
	tenant_id       bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id              bigint GENERATED BY DEFAULT AS IDENTITY,
	external_id     text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
	url             text NOT NULL CHECK (url ~* '^https?://' AND length(url) <= 2048),
	events          text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 64),
	enabled         boolean NOT NULL DEFAULT true,
	description     text CHECK (length(description) <= 1000),
	secret          bytea NOT NULL,
	previous_secret bytea,
	previous_until  timestamptz,
	retry_schedule  interval[] NOT NULL
	                CHECK (cardinality(retry_schedule) BETWEEN 1 AND 20),
	max_in_flight   integer NOT NULL DEFAULT 32 CHECK (max_in_flight BETWEEN 1 AND 1000),
	timeout_ms      integer NOT NULL DEFAULT 15000 CHECK (timeout_ms BETWEEN 100 AND 60000),
	from_position   bigint NOT NULL DEFAULT 0,
	failing_since   timestamptz,
	disabled_reason text CHECK (disabled_reason IN ('gone', 'failing')),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, external_id),
	CHECK ((previous_secret IS NULL) = (previous_until IS NULL)),
	CHECK (disabled_reason IS NULL OR NOT enabled)
);
COMMENT ON TABLE helpdesk.webhook IS
	'A tenant''s webhook endpoint: events matching its filter are POSTed to url, signed per Standard Webhooks (upsert_webhook).';
COMMENT ON COLUMN helpdesk.webhook.events IS
	'Event type filter: exact names (message.created), prefixes (session.*), or * for all.';
COMMENT ON COLUMN helpdesk.webhook.secret IS
	'The signing secret (whsec_...), sealed with AES-256-GCM under helpdesk.encryption_key_file; webhook_secret() shows it.';
COMMENT ON COLUMN helpdesk.webhook.previous_secret IS
	'The secret before the last rotation, sealed; requests carry both signatures until previous_until.';
COMMENT ON COLUMN helpdesk.webhook.retry_schedule IS
	'Delay before each attempt: the first element before the first attempt, and so on; after the last attempt a delivery is dead-lettered.';
COMMENT ON COLUMN helpdesk.webhook.from_position IS
	'The event position when the endpoint was created: it receives events published after it.';
COMMENT ON COLUMN helpdesk.webhook.failing_since IS
	'When its deliveries started failing without a success since; helpdesk.webhook_disable_after later it is disabled.';
COMMENT ON COLUMN helpdesk.webhook.disabled_reason IS
	'Why the worker disabled it: gone (answered 410) or failing (failed for helpdesk.webhook_disable_after).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.webhook', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.webhook_id_seq', '');

CREATE TABLE helpdesk.webhook_delivery (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED BY DEFAULT AS IDENTITY,
	webhook_id    bigint NOT NULL,
	event_pos     bigint NOT NULL,
	msg_id        text NOT NULL,
	event_type    text NOT NULL,
	body          text NOT NULL,
	state         text NOT NULL DEFAULT 'pending'
	              CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
	attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	step          integer NOT NULL DEFAULT 1 CHECK (step >= 1),
	next_at       timestamptz,
	created_at    timestamptz NOT NULL DEFAULT now(),
	finished_at   timestamptz,
	last_status   integer,
	last_error    text,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, webhook_id) REFERENCES helpdesk.webhook (tenant_id, id) ON DELETE CASCADE,
	CHECK ((state = 'pending') = (next_at IS NOT NULL)),
	CHECK ((state IN ('delivered', 'dead')) = (finished_at IS NOT NULL))
);
-- the worker's claim (FOR UPDATE SKIP LOCKED) and its next due time
CREATE INDEX webhook_delivery_due ON helpdesk.webhook_delivery (next_at, id) WHERE state = 'pending';
-- recover() after a crash: what a dead worker was sending
CREATE INDEX webhook_delivery_sending ON helpdesk.webhook_delivery (tenant_id, id) WHERE state = 'sending';
CREATE INDEX webhook_delivery_by_webhook ON helpdesk.webhook_delivery (tenant_id, webhook_id, id);
CREATE INDEX webhook_delivery_finished ON helpdesk.webhook_delivery (finished_at) WHERE finished_at IS NOT NULL;
COMMENT ON TABLE helpdesk.webhook_delivery IS
	'One event for one endpoint: made by the HTTP worker from the event log, sent until a 2xx or the end of the retry schedule.';
COMMENT ON COLUMN helpdesk.webhook_delivery.event_pos IS 'The event''s position in the event log (events_since).';
COMMENT ON COLUMN helpdesk.webhook_delivery.msg_id IS
	'The webhook-id header: one per event and endpoint, the same on every retry, redelivery and replay.';
COMMENT ON COLUMN helpdesk.webhook_delivery.body IS 'The JSON payload {type, timestamp, data} exactly as signed and sent.';
COMMENT ON COLUMN helpdesk.webhook_delivery.state IS
	'pending (next_at is due time), sending (claimed by the worker), delivered, dead (schedule exhausted, endpoint gone, bad row).';
COMMENT ON COLUMN helpdesk.webhook_delivery.step IS 'Which retry_schedule element the next attempt is (1-based); redeliver() starts again at 1.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.webhook_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.webhook_delivery_id_seq', '');

CREATE TABLE helpdesk.webhook_attempt (
	tenant_id    bigint NOT NULL,
	delivery_id  bigint NOT NULL,
	attempt      integer NOT NULL CHECK (attempt >= 1),
	webhook_id   bigint NOT NULL,
	at           timestamptz NOT NULL DEFAULT now(),
	status       integer CHECK (status BETWEEN 0 AND 999),
	latency_us   bigint CHECK (latency_us >= 0),
	error        text,
	response     text CHECK (octet_length(response) <= 4096),
	PRIMARY KEY (tenant_id, delivery_id, attempt),
	FOREIGN KEY (tenant_id, delivery_id) REFERENCES helpdesk.webhook_delivery (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.webhook_attempt IS
	'The delivery log: every attempt with its HTTP status (0: no response), latency, error and the first 4 KB of the response.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.webhook_attempt', '');

-- Not dumped and without a tenant (like event_cursor): the worker's place in
-- this database's event log, for all tenants.
CREATE TABLE helpdesk.webhook_cursor (
	id        boolean PRIMARY KEY DEFAULT true CHECK (id),
	position  bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
	log_id    uuid
);
INSERT INTO helpdesk.webhook_cursor DEFAULT VALUES;
COMMENT ON TABLE helpdesk.webhook_cursor IS
	'The HTTP worker''s position in the event log: every event up to it has its deliveries. Reset to the head when the log is replaced.';

-- Webhooks' SQL API (http_webhook_api.c). The HTTP worker does the sending.

CREATE FUNCTION helpdesk.upsert_webhook(
	tenant_id bigint, external_id text, url text, events text[],
	secret text DEFAULT NULL, retry_schedule interval[] DEFAULT NULL,
	enabled boolean DEFAULT true, description text DEFAULT NULL,
	max_in_flight integer DEFAULT NULL, timeout interval DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_webhook';
COMMENT ON FUNCTION helpdesk.upsert_webhook IS
	'Create or change a webhook endpoint by external id; returns its id. secret: whsec_ + base64 of 24-64 bytes, generated when NULL on create; a new one rotates (both sign for 24 hours). retry_schedule: delays before each attempt (default 0, 5s, 5min, 30min, 2h, 5h, 10h, 10h). NULL keeps description, max_in_flight, timeout.';

CREATE FUNCTION helpdesk.webhook_secret(tenant_id bigint, webhook_id bigint)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_webhook_secret';
COMMENT ON FUNCTION helpdesk.webhook_secret IS
	'The endpoint''s current signing secret in plain (for the admin who configures the receiver).';

CREATE FUNCTION helpdesk.redeliver(tenant_id bigint, delivery_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_redeliver';
COMMENT ON FUNCTION helpdesk.redeliver IS
	'Send a webhook delivery again now (same webhook-id, the whole retry schedule again); HD409 while it is being sent.';

CREATE FUNCTION helpdesk.replay_webhooks(tenant_id bigint, endpoint_id bigint, from_position bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- events_since's expansion: JIT would cost more than the read
SET jit = off
AS 'MODULE_PATHNAME', 'hd_replay_webhooks';
COMMENT ON FUNCTION helpdesk.replay_webhooks IS
	'New deliveries to an endpoint for the tenant''s events after from_position that its filter matches (at most 100,000 per call); returns how many.';

CREATE FUNCTION helpdesk.prune_webhook_deliveries(keep interval DEFAULT '30 days')
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_webhook_deliveries';
COMMENT ON FUNCTION helpdesk.prune_webhook_deliveries(interval) IS
	'Retention of the delivery log: deletes deliveries (and their attempts) finished longer ago than keep; returns how many. Schedule with pg_cron.';

------------------------------------------------------------------------------
-- security: agent roles and login, the signed player API (extension/security/)
------------------------------------------------------------------------------

-- Agents logging in (agent_login.c, password.c): roles inside a tenant, the
-- password hashes apart from the agent table, lockout counted in the
-- database (shared by every bridge), and the token version that revokes
-- login tokens.

ALTER TABLE helpdesk.agent
	ADD COLUMN role text NOT NULL DEFAULT 'agent'
		CHECK (role IN ('admin', 'supervisor', 'agent', 'qa')),
	ADD COLUMN token_version bigint NOT NULL DEFAULT 1 CHECK (token_version >= 1);
COMMENT ON COLUMN helpdesk.agent.role IS
	'The agent''s role in its tenant: admin, supervisor, agent or qa (reads transcripts and scores, does not post). Carried in its login tokens.';
COMMENT ON COLUMN helpdesk.agent.token_version IS
	'Carried in login tokens (claim ver); logout_agent, a new password, a role change and disabling bump it, which revokes the older tokens.';

CREATE TABLE helpdesk.agent_credential (
	tenant_id       bigint NOT NULL,
	agent_id        bigint NOT NULL,
	algorithm       text NOT NULL DEFAULT 'pbkdf2-sha256' CHECK (algorithm = 'pbkdf2-sha256'),
	iterations      integer NOT NULL CHECK (iterations >= 1000),
	salt            bytea NOT NULL CHECK (length(salt) BETWEEN 16 AND 64),
	hash            bytea NOT NULL CHECK (length(hash) = 32),
	failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 100),
	locked_until    timestamptz,
	last_failed_at  timestamptz,
	last_login_at   timestamptz,
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, agent_id),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.agent_credential IS
	'An agent''s password hash (PBKDF2-HMAC-SHA256) and login failures; kept apart from helpdesk.agent so that readers of agents never see hashes.';
COMMENT ON COLUMN helpdesk.agent_credential.iterations IS
	'PBKDF2 iterations this hash was made with (helpdesk.password_iterations at the time); agent_login rehashes at the current setting after a successful login.';
COMMENT ON COLUMN helpdesk.agent_credential.failed_attempts IS
	'Wrong passwords in a row since the last success or lockout; the fifth locks the agent out for 15 minutes and resets it.';
COMMENT ON COLUMN helpdesk.agent_credential.locked_until IS
	'While in the future, agent_login answers locked without checking the password.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent_credential', '');

-- disabling an agent revokes its login tokens (routing's upsert_agent writes the row)
CREATE FUNCTION helpdesk._agent_disable_bump() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'hd_agent_disable_bump';
COMMENT ON FUNCTION helpdesk._agent_disable_bump() IS
	'Trigger: bumps agent.token_version when an agent is disabled, so its login tokens are refused.';
CREATE TRIGGER agent_disable_revokes BEFORE UPDATE OF enabled ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.enabled AND NOT NEW.enabled)
	EXECUTE FUNCTION helpdesk._agent_disable_bump();

CREATE FUNCTION helpdesk.set_agent_role(tenant_id bigint, agent_id bigint, role text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_role';
COMMENT ON FUNCTION helpdesk.set_agent_role IS
	'Sets the agent''s role in its tenant (admin, supervisor, agent, qa); a change revokes its login tokens (agent.revoked).';

CREATE FUNCTION helpdesk.set_agent_password(tenant_id bigint, agent_id bigint, password text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_password';
COMMENT ON FUNCTION helpdesk.set_agent_password IS
	'Stores a PBKDF2-HMAC-SHA256 hash of the password (10 characters to 1024 bytes; fresh 16-byte salt; helpdesk.password_iterations), clears failures and lockout, revokes the agent''s login tokens. NULL removes the credential. Pass the password as a bind parameter.';

CREATE FUNCTION helpdesk.agent_login(tenant_slug text, external_id text, password text,
	ttl interval DEFAULT '12 hours',
	OUT token text, OUT expires_at timestamptz, OUT agent_id bigint, OUT role text,
	OUT reason text, OUT retry_after interval)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_agent_login';
COMMENT ON FUNCTION helpdesk.agent_login IS
	'A login token (kind supervisor for admins and supervisors, else agent; claims role and ver) or, with token NULL, reason bad_credentials or locked (retry_after). Never raises for a wrong login, so the failure count commits; 5 failures lock the agent for 15 minutes.';

CREATE FUNCTION helpdesk.logout_agent(tenant_id bigint, agent_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_logout_agent';
COMMENT ON FUNCTION helpdesk.logout_agent IS
	'Revokes every login token of the agent (bumps its token version, appends agent.revoked); returns the new version.';

COMMENT ON FUNCTION helpdesk.verify_token IS
	'The claims of a valid, unexpired token of issue_token or agent_login (signed with helpdesk.token_secret, or helpdesk.token_secret_previous during a rotation); a login token also needs the agent enabled and its token version current. Raises 28000 otherwise.';

-- The player HTTP API's database side (app.c, signed_request.c,
-- rate_limit.c, nonce_prune.c): game apps with their secrets sealed, the
-- nonces seen within the replay window, and request counters shared by
-- every bridge. helpdesk-bridge only forwards requests to these functions.

CREATE TABLE helpdesk.api_app (
	tenant_id     bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	app_id        text NOT NULL CHECK (app_id ~ '^[A-Za-z0-9_.-]{3,64}$'),
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	secret_sealed bytea NOT NULL,
	rate_per_minute integer NOT NULL DEFAULT 6000 CHECK (rate_per_minute BETWEEN 1 AND 10000000),
	player_rate_per_minute integer NOT NULL DEFAULT 200
	              CHECK (player_rate_per_minute BETWEEN 1 AND 1000000),
	revoked_at    timestamptz,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, app_id),
	UNIQUE (app_id)
);
COMMENT ON TABLE helpdesk.api_app IS
	'A game server or backend that calls the signed player API for a tenant (several per tenant). The app id is unique across tenants: a request names only its app.';
COMMENT ON COLUMN helpdesk.api_app.secret_sealed IS
	'The signing secret, AES-256-GCM under helpdesk.encryption_key_file with the tenant and app id as associated data; only upsert_app''s answer shows it.';
COMMENT ON COLUMN helpdesk.api_app.rate_per_minute IS
	'Requests per minute of the whole app (rate_limit_hit, sliding window shared by every bridge).';
COMMENT ON COLUMN helpdesk.api_app.player_rate_per_minute IS
	'Requests per minute of one player through this app (default 200).';
COMMENT ON COLUMN helpdesk.api_app.revoked_at IS
	'Set by revoke_app: its requests are refused as unknown_app from then on; upsert_app makes it usable again with a new secret.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.api_app', '');

-- No foreign key and no CHECK: written once per signed request, by
-- verify_signed_request only, after it checked the nonce's form and found the
-- app; a foreign key's check (and its share lock on the app's row, taken by
-- every request of the app) and a regular expression per row were half of
-- the verification's cost. Rows of a deleted app are pruned like any other.
CREATE TABLE helpdesk.api_nonce (
	tenant_id bigint NOT NULL,
	app_id    text NOT NULL,
	nonce     text NOT NULL,
	seen_at   timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, app_id, nonce)
);
CREATE INDEX api_nonce_seen ON helpdesk.api_nonce (seen_at);
COMMENT ON TABLE helpdesk.api_nonce IS
	'Nonces of accepted signed requests: the primary key refuses a second use, also from another bridge. Kept 600 s (twice the 300 s window); older ones are pruned as requests come (and by prune_player_api).';
-- not dumped: a nonce outlives its usefulness within ten minutes

CREATE UNLOGGED TABLE helpdesk.api_rate (
	tenant_id    bigint NOT NULL,
	app_id       text NOT NULL,
	scope        text NOT NULL CHECK (scope IN ('app', 'player')),
	key          text NOT NULL CHECK (length(key) <= 200),
	window_start bigint NOT NULL,
	hits         integer NOT NULL DEFAULT 0 CHECK (hits >= 0),
	prev_hits    integer NOT NULL DEFAULT 0 CHECK (prev_hits >= 0),
	PRIMARY KEY (tenant_id, app_id, scope, key),
	FOREIGN KEY (tenant_id, app_id) REFERENCES helpdesk.api_app (tenant_id, app_id) ON DELETE CASCADE
);
CREATE INDEX api_rate_window ON helpdesk.api_rate (window_start);
COMMENT ON TABLE helpdesk.api_rate IS
	'Request counters of rate_limit_hit per app and per player: this minute''s and the previous minute''s hits (a sliding window). Unlogged: counters need not survive a crash. Idle ones are pruned as requests come (and by prune_player_api).';
COMMENT ON COLUMN helpdesk.api_rate.key IS
	'The app id (scope app) or the player''s external id (scope player).';
COMMENT ON COLUMN helpdesk.api_rate.window_start IS
	'Start of the minute hits counts, in Unix seconds (a multiple of 60).';
-- not dumped: counters of the last two minutes

CREATE FUNCTION helpdesk.upsert_app(tenant_id bigint, app_id text, name text,
	secret text DEFAULT NULL, rate_per_minute integer DEFAULT NULL,
	player_rate_per_minute integer DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_app';
COMMENT ON FUNCTION helpdesk.upsert_app IS
	'Creates or updates a player API app and returns its secret: the given one (32 to 256 printable ASCII characters) or, when NULL, 32 random bytes as 64 hex digits. Stored sealed (helpdesk.encryption_key_file); a revoked app becomes usable again.';

CREATE FUNCTION helpdesk.revoke_app(tenant_id bigint, app_id text)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_revoke_app';
COMMENT ON FUNCTION helpdesk.revoke_app IS
	'Refuses the app''s signed requests from now on (unknown_app); true when it was usable until now.';

CREATE FUNCTION helpdesk.verify_signed_request(method text, path_with_query text,
	app text, "timestamp" text, nonce text, signature text, body bytea,
	OUT tenant_id bigint, OUT app_id text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_verify_signed_request';
COMMENT ON FUNCTION helpdesk.verify_signed_request(text, text, text, text, text, text, bytea) IS
	'Checks a signed player API request: X-HD-Signature = lowercase hex HMAC-SHA256(app secret, METHOD \n PATH_WITH_QUERY \n TIMESTAMP \n NONCE \n hex SHA-256(body)), timestamp within 300 s of now, nonce (16-64 of [A-Za-z0-9_-]) used once per app. Returns the tenant and app; raises HDA00 malformed_request, HDA01 bad_signature, HDA02 stale_timestamp, HDA03 replayed_nonce, HDA04 unknown_app.';

CREATE FUNCTION helpdesk.verify_signed_request(method text, path_with_query text,
	headers jsonb, body bytea, OUT tenant_id bigint, OUT app_id text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_verify_signed_request_headers';
COMMENT ON FUNCTION helpdesk.verify_signed_request(text, text, jsonb, bytea) IS
	'verify_signed_request with the request''s headers as a JSON object of strings (names in any case: X-HD-App, X-HD-Timestamp, X-HD-Nonce, X-HD-Signature); a missing one is HDA00.';

CREATE FUNCTION helpdesk.rate_limit_hit(tenant_id bigint, app_id text, player text DEFAULT NULL,
	OUT allowed boolean, OUT retry_after interval, OUT scope text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_rate_limit_hit';
COMMENT ON FUNCTION helpdesk.rate_limit_hit IS
	'Counts one request of the app (and of the player, when given) against api_app.rate_per_minute and player_rate_per_minute over a sliding minute shared by every bridge. Refused requests are not counted; retry_after (whole seconds) says when one would pass, scope which limit refused it.';

CREATE FUNCTION helpdesk.prune_player_api(OUT nonces bigint, OUT counters bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_player_api';
COMMENT ON FUNCTION helpdesk.prune_player_api() IS
	'Deletes the nonces older than 600 s and the rate counters idle for two minutes; returns how many. verify_signed_request and rate_limit_hit prune as they go; schedule this with pg_cron for quiet periods.';

------------------------------------------------------------------------------
-- nothing new is callable by PUBLIC (as in the install script)
------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA helpdesk FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk.transition_allowed(text, text) TO PUBLIC;
