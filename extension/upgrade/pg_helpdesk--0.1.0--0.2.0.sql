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

CREATE OR REPLACE FUNCTION helpdesk.bridge_subscriber(
	tenant_id bigint, kind text, subject bigint, after_pos bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH me AS (
		SELECT a.id, a.skills, a.languages FROM helpdesk.agent a
		WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled AND $2 IN ('agent', 'supervisor')
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
	'For helpdesk-bridge at connect: NULL when the subject is not (or no longer) in the tenant; else the current and oldest positions, the log identity, the sessions whose events the client sees (an agent: the ones it holds now) and an agent''s queues.';

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
-- bots: Dify and webhook bots, the hand-off (extension/integrations/50_bot.sql)
------------------------------------------------------------------------------
-- Bots (bot_*.c): a tenant's Dify or webhook bot answers sessions in state
-- bot; the HTTP worker sends each customer message to it, one call in flight
-- per session, in order (helpdesk.bot_job), and applies the answer in C.
-- Hand-off to a human is request_agent in the same transaction as the
-- reason recorded on the session.

CREATE TABLE helpdesk.bot (
	tenant_id        bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id               bigint GENERATED BY DEFAULT AS IDENTITY,
	external_id      text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
	kind             text NOT NULL CHECK (kind IN ('dify', 'webhook')),
	base_url         text NOT NULL CHECK (base_url ~ '^https?://' AND length(base_url) <= 2048),
	secret           bytea NOT NULL,
	queue_id         bigint,
	issue_type       text CHECK (length(issue_type) BETWEEN 1 AND 100),
	handoff_marker   text CHECK (length(handoff_marker) BETWEEN 1 AND 100),
	handoff_flag     text DEFAULT 'handoff' CHECK (length(handoff_flag) BETWEEN 1 AND 100),
	handoff_keywords text[] NOT NULL DEFAULT '{人工,转人工,客服,agent,human}'
	                 CHECK (cardinality(handoff_keywords) <= 50),
	max_turns        integer NOT NULL DEFAULT 10 CHECK (max_turns BETWEEN 1 AND 1000),
	timeout          interval NOT NULL DEFAULT '15 seconds'
	                 CHECK (timeout BETWEEN '1 second' AND '120 seconds'),
	enabled          boolean NOT NULL DEFAULT true,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, external_id),
	FOREIGN KEY (tenant_id, queue_id) REFERENCES helpdesk.queue (tenant_id, id) ON DELETE CASCADE
);
-- one enabled bot per scope (tenant; tenant + queue; tenant + issue type; both)
CREATE UNIQUE INDEX bot_one_per_scope ON helpdesk.bot
	(tenant_id, coalesce(queue_id, 0), coalesce(issue_type, '')) WHERE enabled;
COMMENT ON TABLE helpdesk.bot IS
	'A tenant''s bot for sessions in state bot: kind dify (POST {base_url}/chat-messages) or webhook (our signed payload to base_url; the bot answers with bot_reply). The most specific enabled bot (queue, then issue type, then tenant-wide) serves a session.';
COMMENT ON COLUMN helpdesk.bot.external_id IS
	'The bot''s id in the tenant''s own systems; upsert_bot matches on it.';
COMMENT ON COLUMN helpdesk.bot.base_url IS
	'dify: the API base (https://dify.example/v1); webhook: the URL the payload is posted to.';
COMMENT ON COLUMN helpdesk.bot.secret IS
	'dify: the app API key; webhook: the signing secret. Encrypted (AES-256-GCM under helpdesk.encryption_key_file); only the HTTP worker decrypts it.';
COMMENT ON COLUMN helpdesk.bot.queue_id IS 'Serve only sessions of this queue (NULL: any).';
COMMENT ON COLUMN helpdesk.bot.issue_type IS 'Serve only sessions of this issue type (NULL: any).';
COMMENT ON COLUMN helpdesk.bot.handoff_marker IS
	'An answer containing this text hands the session to a human (the marker is cut from the posted answer).';
COMMENT ON COLUMN helpdesk.bot.handoff_flag IS
	'An answer whose metadata has this key set to true (or "true") hands the session to a human.';
COMMENT ON COLUMN helpdesk.bot.handoff_keywords IS
	'A customer message containing one of these hands off at once, even with a bot call in flight (case-insensitive; Latin keywords match whole words).';
COMMENT ON COLUMN helpdesk.bot.max_turns IS
	'Customer messages the bot answers; the next one hands off.';
COMMENT ON COLUMN helpdesk.bot.timeout IS
	'How long one bot call may take; a timeout hands off (the customer is never left with a silent bot).';

ALTER TABLE helpdesk.session
	ADD COLUMN bot_id bigint,
	ADD COLUMN bot_conversation_id text CHECK (length(bot_conversation_id) BETWEEN 1 AND 200),
	ADD COLUMN bot_handoff_at timestamptz,
	ADD COLUMN bot_handoff_reason text
		CHECK (bot_handoff_reason IN ('marker', 'metadata', 'keyword', 'max_turns',
		                              'failure', 'timeout', 'api')),
	ADD CHECK ((bot_handoff_at IS NULL) = (bot_handoff_reason IS NULL)),
	ADD FOREIGN KEY (tenant_id, bot_id) REFERENCES helpdesk.bot (tenant_id, id)
		ON DELETE SET NULL (bot_id);
COMMENT ON COLUMN helpdesk.session.bot_id IS
	'The bot that answered this session (set at its first customer message).';
COMMENT ON COLUMN helpdesk.session.bot_conversation_id IS
	'The bot''s conversation id (Dify conversation_id), sent back with every call.';
COMMENT ON COLUMN helpdesk.session.bot_handoff_at IS
	'When the bot handed the session to a human: first response times of agents count from here.';
COMMENT ON COLUMN helpdesk.session.bot_handoff_reason IS
	'Why: marker or metadata (the bot asked), keyword (the customer asked), max_turns, failure, timeout, api (handoff_to_agent).';

CREATE TABLE helpdesk.bot_job (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	session_id  bigint NOT NULL,
	message_id  bigint NOT NULL,
	bot_id      bigint NOT NULL,
	state       text NOT NULL DEFAULT 'pending'
	            CHECK (state IN ('pending', 'sending', 'done', 'failed', 'dropped')),
	attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	created_at  timestamptz NOT NULL DEFAULT now(),
	sent_at     timestamptz,
	reply_due_at timestamptz,
	finished_at timestamptz,
	http_status integer,
	answer_message_id bigint,
	error       text CHECK (length(error) <= 1000),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id) ON DELETE CASCADE,
	CHECK ((state IN ('pending', 'sending')) = (finished_at IS NULL))
);
-- the open jobs of a session in order (the head is the one to send) ...
CREATE INDEX bot_job_open ON helpdesk.bot_job (tenant_id, session_id, id)
	WHERE state IN ('pending', 'sending');
-- ... and the worker's claim scan
CREATE INDEX bot_job_pending ON helpdesk.bot_job (id) WHERE state = 'pending';
CREATE INDEX bot_job_by_session ON helpdesk.bot_job (tenant_id, session_id, id);
-- one job per customer message (post_message's replays enqueue nothing)
CREATE UNIQUE INDEX bot_job_message ON helpdesk.bot_job (tenant_id, message_id);
-- webhook bots: the answer is due by reply_due_at (bot_source.c hands off after it)
CREATE INDEX bot_job_reply_due ON helpdesk.bot_job (reply_due_at)
	WHERE state = 'sending' AND reply_due_at IS NOT NULL;
COMMENT ON TABLE helpdesk.bot_job IS
	'One customer message for the bot. Sent one at a time per session in id order by the HTTP worker; pending -> sending -> done | failed | dropped (handed off first: a late answer is dropped and logged here, never shown).';
COMMENT ON COLUMN helpdesk.bot_job.message_id IS 'The customer message sent to the bot.';
COMMENT ON COLUMN helpdesk.bot_job.bot_id IS
	'The bot asked (no foreign key: post_message writes jobs without the executor, checking only the session''s key; delete_bot deletes its jobs).';
COMMENT ON COLUMN helpdesk.bot_job.reply_due_at IS
	'webhook bots: the payload was delivered, bot_reply must come by then or the session hands off (timeout).';
COMMENT ON COLUMN helpdesk.bot_job.answer_message_id IS 'The bot message posted from the answer.';
COMMENT ON COLUMN helpdesk.bot_job.error IS
	'Why it failed or was dropped (curl error, HTTP status, bad answer, handed off).';

CREATE FUNCTION helpdesk.upsert_bot(
	tenant_id bigint, external_id text, kind text DEFAULT NULL, base_url text DEFAULT NULL,
	secret text DEFAULT NULL, queue_id bigint DEFAULT NULL, issue_type text DEFAULT NULL,
	handoff_marker text DEFAULT NULL, handoff_flag text DEFAULT NULL,
	handoff_keywords text[] DEFAULT NULL, max_turns integer DEFAULT NULL,
	timeout interval DEFAULT NULL, enabled boolean DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_bot';
COMMENT ON FUNCTION helpdesk.upsert_bot IS
	'Create or update a bot by external id (NULL keeps the stored value; queue_id 0, issue_type '''', handoff_marker/handoff_flag '''' clear). kind, base_url and secret (dify: the API key; webhook: the signing secret) are required to create one; the secret is stored encrypted. Returns the bot id.';

CREATE FUNCTION helpdesk.delete_bot(tenant_id bigint, bot_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_delete_bot';
COMMENT ON FUNCTION helpdesk.delete_bot IS
	'Delete a bot and its pending calls; sessions it was answering in state bot are handed to a human (reason api). Returns false if there was none.';

CREATE FUNCTION helpdesk.handoff_to_agent(tenant_id bigint, session_id bigint,
	queue_id bigint DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_handoff_to_agent';
COMMENT ON FUNCTION helpdesk.handoff_to_agent IS
	'Hand a session in state bot to a human (request_agent, reason api): the bot gets nothing more and a late answer is dropped. Returns the queue id.';

CREATE FUNCTION helpdesk.bot_reply(tenant_id bigint, job_id bigint, answer jsonb)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_bot_reply';
COMMENT ON FUNCTION helpdesk.bot_reply IS
	'A webhook bot''s answer to a job ({"answer", "conversation_id", "metadata"}, as Dify answers), applied like a Dify answer (hand-off signals included). Returns the bot message id, NULL when the answer was dropped (handed off already) or hands off with nothing to say.';

CREATE FUNCTION helpdesk.bot_status(tenant_id bigint, session_id bigint)
RETURNS TABLE (bot_id bigint, conversation_id text, turns integer, handoff_at timestamptz,
	handoff_reason text, pending_jobs bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.bot_id, s.bot_conversation_id,
	       (SELECT count(*)::int4 FROM helpdesk.bot_job j
	        WHERE j.tenant_id = s.tenant_id AND j.session_id = s.id),
	       s.bot_handoff_at, s.bot_handoff_reason,
	       (SELECT count(*) FROM helpdesk.bot_job j
	        WHERE j.tenant_id = s.tenant_id AND j.session_id = s.id
	          AND j.state IN ('pending', 'sending'))
	FROM helpdesk.session s WHERE s.tenant_id = $1 AND s.id = $2
$$;
COMMENT ON FUNCTION helpdesk.bot_status IS
	'The bot side of a session: which bot, its conversation id, turns (customer messages given to the bot), hand-off time and reason, calls not yet answered.';

SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_job', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_job_id_seq', '');

------------------------------------------------------------------------------
-- nothing new is callable by PUBLIC (as in the install script)
------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA helpdesk FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk.transition_allowed(text, text) TO PUBLIC;
