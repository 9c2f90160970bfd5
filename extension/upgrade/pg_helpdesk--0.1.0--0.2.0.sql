-- pg_helpdesk 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_helpdesk UPDATE).
-- Every change to the install script's parts in 0.2.0 adds its lines here
-- (extension/upgrade/README.md); test/e2e/upgrade.sh checks that a database
-- updated from 0.1.0 has exactly the schema of a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_helpdesk UPDATE" to load this file. \quit

-- the tenant access check (security/access.c) for SQL-language API functions
CREATE FUNCTION helpdesk._require_tenant(tenant_id bigint)
RETURNS boolean LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'hd_sql_require_tenant';
COMMENT ON FUNCTION helpdesk._require_tenant(bigint) IS
	'The tenant access check for SQL-language API functions: true, or 42501 when the calling role (outside SECURITY DEFINER) may not act for tenant_id (NULL: for every tenant).';

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
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
-- events_since's read with a subquery per row for the customer, by primary
-- key (a join was planned as a hash join over every session); in C, as a SQL
-- function it was planned on every read
AS 'MODULE_PATHNAME', 'hd_bridge_events';
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
		SELECT a.id, a.skills, a.languages, a.role FROM helpdesk.agent a
		WHERE a.tenant_id = $1 AND a.id = $3 AND a.enabled AND $2 IN ('agent', 'supervisor')
		  -- a token of agent_login carries the version it was issued under
		  AND ($5 IS NULL OR a.token_version = $5)
		UNION ALL
		SELECT c.id, NULL, NULL, NULL FROM helpdesk.customer c
		WHERE c.tenant_id = $1 AND c.id = $3 AND $2 = 'customer'
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
	'For helpdesk-bridge at connect: NULL when the subject is not (or no longer) in the tenant, or token_version (the token''s ver claim) is not the agent''s current one (logout, new password, role change, disable); else an agent''s role now (null for a customer), the current and oldest positions, the log identity, the sessions whose events the client sees (an agent: the ones it holds now) and an agent''s queues.';

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
	key        text NOT NULL CHECK (key IN ('idle_warning', 'autoclose_resolve_warning',
	           'autoclose_close_warning', 'autoclose_pending', 'autoclose_replied',
	           'autoclose_resolved', 'csat_request')),
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
	'Set the tenant''s text for a system message key (idle_warning, autoclose_resolve_warning, autoclose_close_warning, autoclose_pending, autoclose_replied, autoclose_resolved, csat_request) in a language; body NULL removes it (the built-in text applies again).';

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
-- tickets (extension/tickets/00_ticket_schema.sql, 10_ticket_api.sql) and the
-- queue's max_wait_action (extension/routing/00_schema.sql)
------------------------------------------------------------------------------
ALTER TABLE helpdesk.queue
	ADD COLUMN max_wait_action text NOT NULL DEFAULT 'overflow'
		CHECK (max_wait_action IN ('overflow', 'close', 'ticket'));
COMMENT ON COLUMN helpdesk.queue.max_wait_action IS
	'What max_wait does: overflow (to overflow_queue_id, abandoned when there is none), close (abandoned), or ticket (the session becomes a ticket through the hook tickets/ registers, and closes as escalated).';

-- Tickets: work that outlives a chat. A ticket has a per-tenant number from a
-- gapless counter row, a status machine enforced in C (ticket_state.c), and a
-- thread of its own (ticket_message). Writes go through the C API only.
-- Other parts of extension/tickets/ add their columns with ALTER TABLE in
-- their own files.

ALTER TABLE helpdesk.tenant
	ADD COLUMN reopen_window interval NOT NULL DEFAULT '7 days'
		CHECK (reopen_window >= '0 seconds'),
	ADD COLUMN offline_tickets boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN helpdesk.tenant.reopen_window IS
	'A customer reply within this time after a ticket was resolved reopens it; a later reply opens a follow-up ticket.';
COMMENT ON COLUMN helpdesk.tenant.offline_tickets IS
	'When true, a customer who writes while no agent of the queue is online gets a ticket (channel offline).';

-- One row per tenant, locked FOR UPDATE by the transaction that creates a
-- ticket and advanced in it: numbers are unique and gapless (a rolled back
-- creation rolls the counter back too), at the price of serialising ticket
-- creation within one tenant.
CREATE TABLE helpdesk.ticket_counter (
	tenant_id   bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	next_number bigint NOT NULL DEFAULT 1001 CHECK (next_number >= 1)
);
COMMENT ON TABLE helpdesk.ticket_counter IS
	'The next ticket number of each tenant (gapless: taken under the row lock in the creating transaction).';

CREATE TABLE helpdesk.ticket (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id           bigint GENERATED BY DEFAULT AS IDENTITY,
	number       bigint NOT NULL CHECK (number >= 1),
	customer_id  bigint NOT NULL,
	subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
	status       text NOT NULL DEFAULT 'new'
	             CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
	priority     text NOT NULL DEFAULT 'normal'
	             CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	issue_type   text CHECK (length(issue_type) BETWEEN 1 AND 100),
	queue_id     bigint,
	assignee_id  bigint,
	tags         text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 50),
	channel      text NOT NULL DEFAULT 'api'
	             CHECK (channel IN ('chat', 'player_api', 'api', 'offline')),
	attributes   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
	session_id   bigint,
	follow_up_of bigint,
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now(),
	first_response_at timestamptz,
	resolved_at  timestamptz,
	closed_at    timestamptz,
	last_customer_at timestamptz,
	last_agent_at timestamptz,
	last_public_sender text CHECK (last_public_sender IN ('customer', 'agent')),
	resolution_count integer NOT NULL DEFAULT 0 CHECK (resolution_count >= 0),
	resolved_by  text CHECK (resolved_by IN ('agent', 'customer', 'system', 'api')),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, number),
	FOREIGN KEY (tenant_id, customer_id) REFERENCES helpdesk.customer (tenant_id, id),
	FOREIGN KEY (tenant_id, queue_id) REFERENCES helpdesk.queue (tenant_id, id),
	FOREIGN KEY (tenant_id, assignee_id) REFERENCES helpdesk.agent (tenant_id, id),
	FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id),
	FOREIGN KEY (tenant_id, follow_up_of) REFERENCES helpdesk.ticket (tenant_id, id),
	CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
	CHECK (status <> 'resolved' OR resolved_at IS NOT NULL),
	CHECK (follow_up_of IS DISTINCT FROM id)
);
-- a session escalates to at most one ticket (escalate_session relies on it)
CREATE UNIQUE INDEX ticket_by_session ON helpdesk.ticket (tenant_id, session_id)
	WHERE session_id IS NOT NULL;
CREATE INDEX ticket_by_customer ON helpdesk.ticket (tenant_id, customer_id, id);
CREATE INDEX ticket_by_status ON helpdesk.ticket (tenant_id, status, id);
CREATE INDEX ticket_by_assignee ON helpdesk.ticket (tenant_id, assignee_id, id)
	WHERE assignee_id IS NOT NULL;
CREATE INDEX ticket_by_queue ON helpdesk.ticket (tenant_id, queue_id, id)
	WHERE queue_id IS NOT NULL;
CREATE INDEX ticket_follow_ups ON helpdesk.ticket (tenant_id, follow_up_of)
	WHERE follow_up_of IS NOT NULL;
COMMENT ON TABLE helpdesk.ticket IS
	'A support case: new -> open <-> pending -> resolved -> closed, resolved -> open (see ticket_transition).';
COMMENT ON COLUMN helpdesk.ticket.number IS
	'The tenant''s human number (#1001, #1002 ...), from ticket_counter without gaps.';
COMMENT ON COLUMN helpdesk.ticket.assignee_id IS 'The agent working on the ticket (optional).';
COMMENT ON COLUMN helpdesk.ticket.tags IS 'Free labels (lowercase, distinct, sorted by the API).';
COMMENT ON COLUMN helpdesk.ticket.channel IS
	'Where it came from: chat (an escalated session), player_api, api, offline (no agent was online).';
COMMENT ON COLUMN helpdesk.ticket.attributes IS 'Custom fields (JSON object).';
COMMENT ON COLUMN helpdesk.ticket.session_id IS
	'The chat session this ticket was escalated from (its transcript).';
COMMENT ON COLUMN helpdesk.ticket.follow_up_of IS
	'The resolved or closed ticket this one follows up (a customer wrote after the reopen window).';
COMMENT ON COLUMN helpdesk.ticket.first_response_at IS 'The first public reply of an agent.';
COMMENT ON COLUMN helpdesk.ticket.resolved_at IS
	'When it was last resolved (cleared by a reopen, kept when it closes).';
COMMENT ON COLUMN helpdesk.ticket.last_customer_at IS 'The customer''s last public reply.';
COMMENT ON COLUMN helpdesk.ticket.last_agent_at IS 'An agent''s last public reply.';
COMMENT ON COLUMN helpdesk.ticket.last_public_sender IS
	'Who wrote the last public message: customer or agent.';
COMMENT ON COLUMN helpdesk.ticket.resolution_count IS
	'How many times the ticket was resolved (CSAT asks once per resolution).';
COMMENT ON COLUMN helpdesk.ticket.resolved_by IS
	'Who resolved it last: agent, customer, system (a timer) or api.';

CREATE TABLE helpdesk.ticket_transition (
	from_status text NOT NULL,
	to_status   text NOT NULL,
	PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE helpdesk.ticket_transition IS
	'Documentation of the ticket status machine enforced in C (ticket_state.c); read-only.';
INSERT INTO helpdesk.ticket_transition VALUES
	('new', 'open'), ('new', 'pending'), ('new', 'resolved'),
	('open', 'pending'), ('open', 'resolved'),
	('pending', 'open'), ('pending', 'resolved'),
	('resolved', 'open'), ('resolved', 'closed');

CREATE TABLE helpdesk.ticket_message (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED BY DEFAULT AS IDENTITY,
	ticket_id     bigint NOT NULL,
	customer_id   bigint NOT NULL,
	sender_kind   text NOT NULL
	              CHECK (sender_kind IN ('customer', 'agent', 'system', 'note', 'bot')),
	sender_id     bigint,
	type          text NOT NULL CHECK (type IN ('text', 'image', 'file', 'system', 'csat')),
	body          text,
	attachment    jsonb,
	client_msg_id text CHECK (length(client_msg_id) BETWEEN 1 AND 100),
	created_at    timestamptz NOT NULL DEFAULT now(),
	delivered_at  timestamptz,
	read_at       timestamptz,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.ticket (tenant_id, id)
		ON DELETE CASCADE
);
CREATE UNIQUE INDEX ticket_message_client_id ON helpdesk.ticket_message
	(tenant_id, ticket_id, sender_kind, client_msg_id);
CREATE INDEX ticket_message_by_ticket ON helpdesk.ticket_message (tenant_id, ticket_id, id);
-- create_ticket and contact_support find a retried creation by the customer's client id
CREATE INDEX ticket_message_customer_client_id ON helpdesk.ticket_message
	(tenant_id, customer_id, client_msg_id)
	WHERE sender_kind = 'customer' AND client_msg_id IS NOT NULL;
COMMENT ON TABLE helpdesk.ticket_message IS
	'A ticket''s thread: public replies (customer, agent), internal notes, system entries, in order of id.';
COMMENT ON COLUMN helpdesk.ticket_message.sender_kind IS
	'customer, agent, bot, system, or note (an agent''s internal note the customer never sees).';
COMMENT ON COLUMN helpdesk.ticket_message.sender_id IS
	'customer.id for customer replies, agent.id for agent replies and notes, else NULL.';
COMMENT ON COLUMN helpdesk.ticket_message.customer_id IS 'Copy of ticket.customer_id.';
COMMENT ON COLUMN helpdesk.ticket_message.attachment IS
	'For image and file messages: {"url", "name", "size", "mime"} (checked as for chat messages).';
COMMENT ON COLUMN helpdesk.ticket_message.client_msg_id IS
	'Sender-chosen id that makes a reply idempotent per ticket and sender kind.';
COMMENT ON COLUMN helpdesk.ticket_message.delivered_at IS 'When the other side''s client received it.';
COMMENT ON COLUMN helpdesk.ticket_message.read_at IS 'When the other side read it.';

SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_counter', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_message', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_message_id_seq', '');

-- Tickets SQL API: thin declarations of the C functions in ticket_*.c. Each
-- runs as the extension owner (SECURITY DEFINER) with a pinned search_path.

CREATE FUNCTION helpdesk.ticket_transition_allowed(from_status text, to_status text)
RETURNS boolean LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'hd_ticket_transition_allowed_sql';
COMMENT ON FUNCTION helpdesk.ticket_transition_allowed IS
	'Whether the ticket status machine (C) allows from_status -> to_status; helpdesk.ticket_transition documents the same table.';

CREATE FUNCTION helpdesk.create_ticket(
	tenant_id bigint, customer_id bigint, subject text, body text DEFAULT NULL,
	priority text DEFAULT 'normal', issue_type text DEFAULT NULL, queue_id bigint DEFAULT NULL,
	channel text DEFAULT 'api', tags text[] DEFAULT NULL, attributes jsonb DEFAULT NULL,
	client_msg_id text DEFAULT NULL, type text DEFAULT 'text', attachment jsonb DEFAULT NULL,
	OUT ticket_id bigint, OUT number bigint, OUT message_id bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_create_ticket';
COMMENT ON FUNCTION helpdesk.create_ticket IS
	'Open a ticket for a customer (status new, the tenant''s next number), body its first message. Idempotent on client_msg_id: the same content returns the same ticket, other content is HD409.';

CREATE FUNCTION helpdesk.reply_ticket(
	tenant_id bigint, ticket_id bigint, sender_kind text, sender_id bigint, body text,
	type text DEFAULT 'text', client_msg_id text DEFAULT NULL, attachment jsonb DEFAULT NULL,
	new_status text DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_reply_ticket';
COMMENT ON FUNCTION helpdesk.reply_ticket IS
	'A public reply (sender_kind customer or agent). A customer reply opens a pending ticket, reopens a resolved one within reopen_window, else opens a follow-up ticket; an agent reply opens a new one and may set new_status. Returns the message id; idempotent on client_msg_id (HD409 for other content).';

CREATE FUNCTION helpdesk.add_ticket_note(
	tenant_id bigint, ticket_id bigint, agent_id bigint, body text,
	client_msg_id text DEFAULT NULL, type text DEFAULT 'text', attachment jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_add_ticket_note';
COMMENT ON FUNCTION helpdesk.add_ticket_note IS
	'An internal note of an agent on a ticket (never shown to the customer; event ticket.note). Returns the message id; idempotent on client_msg_id.';

CREATE FUNCTION helpdesk.set_ticket_status(
	tenant_id bigint, ticket_id bigint, status text, actor_kind text, actor_id bigint DEFAULT NULL,
	reason text DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_status';
COMMENT ON FUNCTION helpdesk.set_ticket_status IS
	'Move a ticket along the status machine (HD422 for a move it does not allow). actor_kind agent, customer (resolve only), system or api. Returns the status before; the same status changes nothing.';

CREATE FUNCTION helpdesk.set_ticket_priority(
	tenant_id bigint, ticket_id bigint, priority text, actor_kind text, actor_id bigint DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_priority';
COMMENT ON FUNCTION helpdesk.set_ticket_priority IS
	'Set a ticket''s priority (low, normal, high, urgent) as an agent, system or api. Returns the priority before.';

CREATE FUNCTION helpdesk.set_ticket_tags(
	tenant_id bigint, ticket_id bigint, tags text[], actor_kind text, actor_id bigint DEFAULT NULL)
RETURNS text[] LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_tags';
COMMENT ON FUNCTION helpdesk.set_ticket_tags IS
	'Replace a ticket''s tags (stored lowercase, trimmed, distinct, sorted; at most 50 of 1..50 bytes). Returns the stored tags.';

CREATE FUNCTION helpdesk.set_ticket_attributes(
	tenant_id bigint, ticket_id bigint, attributes jsonb, actor_kind text, actor_id bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_attributes';
COMMENT ON FUNCTION helpdesk.set_ticket_attributes IS
	'Merge custom attributes into a ticket key by key (a null value removes the key). Returns the stored attributes.';

CREATE FUNCTION helpdesk.set_ticket_queue(
	tenant_id bigint, ticket_id bigint, queue_id bigint, actor_kind text, actor_id bigint DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_queue';
COMMENT ON FUNCTION helpdesk.set_ticket_queue IS
	'Move a ticket to another queue (both queues get ticket.updated).';

CREATE FUNCTION helpdesk.get_ticket(tenant_id bigint, ticket_id bigint)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_get_ticket';
COMMENT ON FUNCTION helpdesk.get_ticket IS
	'A ticket as a JSON object (every column of helpdesk.ticket) plus follow_ups: the ids of the tickets that follow it up.';

CREATE FUNCTION helpdesk.list_tickets(
	tenant_id bigint, status text[] DEFAULT NULL, queue_id bigint DEFAULT NULL,
	assignee_id bigint DEFAULT NULL, customer_id bigint DEFAULT NULL, priority text[] DEFAULT NULL,
	tag text DEFAULT NULL, before_id bigint DEFAULT NULL, max_rows integer DEFAULT 50,
	unassigned boolean DEFAULT NULL)
RETURNS SETOF helpdesk.ticket LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_list_tickets';
COMMENT ON FUNCTION helpdesk.list_tickets IS
	'A tenant''s tickets newest first (by id), filtered by any of status, queue, assignee, customer, priority, a tag, unassigned; page on with before_id = the last id seen.';

CREATE FUNCTION helpdesk.ticket_messages(
	tenant_id bigint, ticket_id bigint, after_id bigint DEFAULT 0, max_rows integer DEFAULT 50,
	include_notes boolean DEFAULT false)
RETURNS TABLE (id bigint, ticket_id bigint, sender_kind text, sender_id bigint, type text,
	body text, attachment jsonb, client_msg_id text, created_at timestamptz,
	delivered_at timestamptz, read_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_ticket_messages';
COMMENT ON FUNCTION helpdesk.ticket_messages IS
	'A ticket''s thread oldest first after a message id (notes only with include_notes, for staff).';

CREATE FUNCTION helpdesk.mark_ticket_delivered(
	tenant_id bigint, ticket_id bigint, reader_kind text, reader_id bigint, up_to_message_id bigint)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_mark_ticket_delivered';
COMMENT ON FUNCTION helpdesk.mark_ticket_delivered IS
	'Receipt: the reader (customer: staff and system entries; agent: the customer''s) has received everything up to a message id. Returns how many entries it marked.';

CREATE FUNCTION helpdesk.mark_ticket_read(
	tenant_id bigint, ticket_id bigint, reader_kind text, reader_id bigint, up_to_message_id bigint)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_mark_ticket_read';
COMMENT ON FUNCTION helpdesk.mark_ticket_read IS
	'Receipt: the reader has read everything of the other side up to a message id (delivered too). Returns how many entries it marked.';

CREATE FUNCTION helpdesk.escalate_session(
	tenant_id bigint, session_id bigint, subject text DEFAULT NULL, priority text DEFAULT 'normal',
	issue_type text DEFAULT NULL, queue_id bigint DEFAULT NULL, actor_kind text DEFAULT 'system',
	actor_id bigint DEFAULT NULL, note text DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_escalate_session';
COMMENT ON FUNCTION helpdesk.escalate_session IS
	'Turn a chat session into a ticket (channel chat, linked by session_id to its transcript) and close the session with reason escalated. Once per session: a second call returns the same ticket id.';

CREATE FUNCTION helpdesk.contact_support(
	tenant_id bigint, customer_id bigint, body text, channel text DEFAULT 'web',
	queue_id bigint DEFAULT NULL, issue_type text DEFAULT NULL, subject text DEFAULT NULL,
	client_msg_id text DEFAULT NULL, attributes jsonb DEFAULT NULL,
	OUT kind text, OUT session_id bigint, OUT ticket_id bigint, OUT message_id bigint,
	OUT created boolean)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_contact_support';
COMMENT ON FUNCTION helpdesk.contact_support IS
	'A customer starts a conversation: with the tenant''s offline_tickets on and no agent online for the queue, an offline ticket (kind ticket); otherwise start_session (kind session).';

CREATE FUNCTION helpdesk.set_ticket_settings(
	tenant_id bigint, reopen_window interval DEFAULT NULL, offline_tickets boolean DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_ticket_settings';
COMMENT ON FUNCTION helpdesk.set_ticket_settings IS
	'A tenant''s ticket settings (NULL keeps one): reopen_window (0 .. 10 years) and offline_tickets.';

CREATE FUNCTION helpdesk.set_queue_max_wait_action(
	tenant_id bigint, queue_id bigint, max_wait_action text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_max_wait_action';
COMMENT ON FUNCTION helpdesk.set_queue_max_wait_action IS
	'What a queue''s max_wait does: overflow (to overflow_queue_id, abandoned when none: the default), close (abandoned) or ticket (escalated to a ticket).';

-- >>> extension/tickets/40_autoclose.sql (copied verbatim)
-- Auto-close: per-tenant rules that resolve or close tickets nobody moves,
-- scheduled as one indexed due time on the ticket (recomputed by the
-- auto-close observer on every ticket change, autoclose.c) and fired by the
-- dispatcher's auto-close stage (autoclose_stage.c).

CREATE TABLE helpdesk.autoclose_setting (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	rule        text NOT NULL CHECK (rule IN ('pending', 'replied', 'resolved')),
	enabled     boolean NOT NULL,
	close_after interval NOT NULL CHECK (close_after >= '1 second'),
	warn_before interval CHECK (warn_before > '0 seconds' AND warn_before < close_after),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, rule)
);
COMMENT ON TABLE helpdesk.autoclose_setting IS
	'A tenant''s auto-close rules; a rule without a row has its default: pending 72 hours, replied 24 hours, resolved 4 days, enabled, no warning.';
COMMENT ON COLUMN helpdesk.autoclose_setting.rule IS
	'pending: a pending ticket with no customer reply is resolved; replied: an open ticket whose last public message is the agent''s is resolved; resolved: a resolved ticket is closed.';
COMMENT ON COLUMN helpdesk.autoclose_setting.close_after IS
	'How long the ticket must stay untouched (since it became pending or an agent last replied; since the agent''s last reply; since it was resolved).';
COMMENT ON COLUMN helpdesk.autoclose_setting.warn_before IS
	'When set, the customer is warned this long before (a system entry on the thread); NULL: no warning.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.autoclose_setting', '');

ALTER TABLE helpdesk.ticket
	ADD COLUMN autoclose_rule text CHECK (autoclose_rule IN ('pending', 'replied', 'resolved')),
	ADD COLUMN autoclose_since timestamptz,
	ADD COLUMN autoclose_due_at timestamptz,
	ADD COLUMN autoclose_warned boolean NOT NULL DEFAULT false,
	ADD COLUMN autoclose_at timestamptz,
	ADD COLUMN autoclose_error text,
	ADD CONSTRAINT ticket_autoclose_scheduled
		CHECK ((autoclose_rule IS NULL) = (autoclose_due_at IS NULL)
		       AND (autoclose_at IS NULL OR autoclose_rule IS NOT NULL));
-- the auto-close stage's only access path: the earliest due times first
CREATE INDEX ticket_autoclose_due ON helpdesk.ticket (autoclose_at)
	WHERE autoclose_at IS NOT NULL;
COMMENT ON COLUMN helpdesk.ticket.autoclose_rule IS
	'The auto-close rule that applies to the ticket now (pending, replied, resolved), or NULL.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_since IS
	'Since when the rule''s silence counts (becoming pending or the agent''s last reply; the agent''s last reply; resolved_at).';
COMMENT ON COLUMN helpdesk.ticket.autoclose_due_at IS 'When the rule resolves or closes the ticket.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_warned IS 'Whether the warning before autoclose_due_at was sent.';
COMMENT ON COLUMN helpdesk.ticket.autoclose_at IS
	'When the dispatcher acts next: the warning, then autoclose_due_at (NULL: nothing scheduled).';
COMMENT ON COLUMN helpdesk.ticket.autoclose_error IS
	'Why the last auto-close of this ticket failed (retried a minute later; cleared by the next change).';

CREATE FUNCTION helpdesk.set_autoclose(tenant_id bigint, rule text, enabled boolean DEFAULT NULL,
	close_after interval DEFAULT NULL, warn_before interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_autoclose';
COMMENT ON FUNCTION helpdesk.set_autoclose IS
	'Set a tenant''s auto-close rule (pending, replied, resolved): on or off, after how long, and the warning before (0 removes it); NULL keeps the stored value. Open tickets take the new setting at their next change.';

CREATE FUNCTION helpdesk.autoclose_settings(tenant_id bigint)
RETURNS TABLE (rule text, enabled boolean, close_after interval, warn_before interval)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_autoclose_settings';
COMMENT ON FUNCTION helpdesk.autoclose_settings IS
	'The tenant''s three auto-close rules as they apply (defaults filled in).';

CREATE FUNCTION helpdesk._autoclose_pass(now timestamptz DEFAULT NULL, max_rows integer DEFAULT 200)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_autoclose_pass_sql';
COMMENT ON FUNCTION helpdesk._autoclose_pass IS
	'Internal (the dispatcher runs it): fire the auto-close warnings and closes due at now (default: the clock). For tests and manual catch-up; returns how many it fired.';
-- <<< extension/tickets/40_autoclose.sql

-- >>> extension/tickets/50_csat.sql (copied verbatim)
-- CSAT: the customer is asked to rate a chat with an agent when it closes
-- and a ticket each time it is resolved; the answer is stored with the
-- agent, queue and SLA policy for reports (csat.c).

ALTER TABLE helpdesk.tenant
	ADD COLUMN csat_mode text NOT NULL DEFAULT 'off'
		CHECK (csat_mode IN ('off', 'on', 'not_after_autoclose')),
	ADD COLUMN csat_window interval NOT NULL DEFAULT '7 days'
		CHECK (csat_window >= '1 minute' AND csat_window <= '365 days');
COMMENT ON COLUMN helpdesk.tenant.csat_mode IS
	'Satisfaction surveys: off, on (after every chat with an agent and every resolve), or not_after_autoclose (not when a timer closed the chat or resolved the ticket).';
COMMENT ON COLUMN helpdesk.tenant.csat_window IS
	'How long a survey can be answered after it was asked.';

-- the widget renders a chat message of type csat as the rating form
ALTER TABLE helpdesk.message
	DROP CONSTRAINT message_type_check,
	ADD CONSTRAINT message_type_check
		CHECK (type IN ('text', 'image', 'file', 'menu', 'system', 'csat'));

CREATE TABLE helpdesk.csat (
	tenant_id     bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id            bigint GENERATED BY DEFAULT AS IDENTITY,
	target        text NOT NULL CHECK (target IN ('session', 'ticket')),
	session_id    bigint,
	ticket_id     bigint,
	resolution    integer NOT NULL DEFAULT 1 CHECK (resolution >= 1),
	customer_id   bigint NOT NULL,
	agent_id      bigint,
	queue_id      bigint,
	sla_policy_id bigint,
	after_autoclose boolean NOT NULL DEFAULT false,
	message_id    bigint,
	requested_at  timestamptz NOT NULL DEFAULT now(),
	expires_at    timestamptz NOT NULL,
	score         smallint CHECK (score BETWEEN 1 AND 5),
	comment       text CHECK (length(comment) <= 2000),
	submitted_at  timestamptz,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, session_id) REFERENCES helpdesk.session (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.ticket (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, customer_id) REFERENCES helpdesk.customer (tenant_id, id) ON DELETE CASCADE,
	CHECK ((target = 'session') = (session_id IS NOT NULL)),
	CHECK ((target = 'ticket') = (ticket_id IS NOT NULL)),
	CHECK ((score IS NULL) = (submitted_at IS NULL)),
	CHECK (comment IS NULL OR score IS NOT NULL),
	CHECK (expires_at > requested_at)
);
-- one survey per session, one per resolution of a ticket
CREATE UNIQUE INDEX csat_per_session ON helpdesk.csat (tenant_id, session_id)
	WHERE session_id IS NOT NULL;
CREATE UNIQUE INDEX csat_per_resolution ON helpdesk.csat (tenant_id, ticket_id, resolution)
	WHERE ticket_id IS NOT NULL;
CREATE INDEX csat_by_agent ON helpdesk.csat (tenant_id, agent_id, requested_at)
	WHERE agent_id IS NOT NULL;
CREATE INDEX csat_by_time ON helpdesk.csat (tenant_id, requested_at);
COMMENT ON TABLE helpdesk.csat IS
	'A satisfaction survey: asked after a chat with an agent closed or a ticket was resolved, answered at most once within the tenant''s csat_window.';
COMMENT ON COLUMN helpdesk.csat.resolution IS
	'For tickets: ticket.resolution_count at the resolve that asked (a reopened and re-resolved ticket asks again); 1 for sessions.';
COMMENT ON COLUMN helpdesk.csat.agent_id IS
	'The agent of the chat, or the ticket''s assignee when it was resolved (kept when the agent is gone: no foreign key).';
COMMENT ON COLUMN helpdesk.csat.queue_id IS 'The queue of the chat or ticket then (no foreign key, as agent_id).';
COMMENT ON COLUMN helpdesk.csat.sla_policy_id IS
	'The SLA policy the ticket had when it was resolved, when tickets carry one (ticket.sla_policy_id).';
COMMENT ON COLUMN helpdesk.csat.after_autoclose IS
	'Asked after the idle timer closed the chat (reason idle) or auto-close resolved the ticket.';
COMMENT ON COLUMN helpdesk.csat.message_id IS
	'The csat message that asked (helpdesk.message for sessions, helpdesk.ticket_message for tickets).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.csat', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.csat_id_seq', '');

CREATE FUNCTION helpdesk.set_csat(tenant_id bigint, mode text DEFAULT NULL,
	"window" interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_csat';
COMMENT ON FUNCTION helpdesk.set_csat IS
	'A tenant''s satisfaction surveys: mode off, on or not_after_autoclose, and how long one can be answered (1 minute .. 365 days); NULL keeps the stored value.';

CREATE FUNCTION helpdesk.submit_csat(tenant_id bigint, target text, id bigint,
	customer_id bigint, score integer, comment text DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_submit_csat';
COMMENT ON FUNCTION helpdesk.submit_csat IS
	'The customer''s rating (1..5, optional comment) of a session or of the latest resolution of a ticket: once, within the window. Returns the survey id.';
-- <<< extension/tickets/50_csat.sql

-- >>> extension/tickets/60_quick_reply.sql (copied verbatim)
-- Quick replies (canned responses): shared per tenant or personal per agent,
-- with placeholders rendered in C (quick_reply_render.c) and a per-agent use
-- count that ranks the prefix search (quick_reply.c).

CREATE TABLE helpdesk.quick_reply (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id         bigint GENERATED BY DEFAULT AS IDENTITY,
	agent_id   bigint,
	shortcode  text NOT NULL CHECK (shortcode ~ '^[a-z0-9][a-z0-9_.-]{0,49}$'),
	title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
	category   text CHECK (length(category) BETWEEN 1 AND 100),
	language   text CHECK (language ~ '^[a-z]{2,3}(-[a-z0-9]{1,8})*$' AND length(language) <= 35),
	use_count  bigint NOT NULL DEFAULT 0 CHECK (use_count >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE,
	CONSTRAINT quick_reply_shortcode UNIQUE NULLS NOT DISTINCT (tenant_id, agent_id, shortcode, language)
);
CREATE INDEX quick_reply_by_shortcode ON helpdesk.quick_reply
	(tenant_id, shortcode text_pattern_ops);
CREATE INDEX quick_reply_by_title ON helpdesk.quick_reply
	(tenant_id, lower(title) text_pattern_ops);
COMMENT ON TABLE helpdesk.quick_reply IS
	'A canned response an agent inserts by shortcode: shared by the tenant (agent_id NULL) or personal to one agent.';
COMMENT ON COLUMN helpdesk.quick_reply.agent_id IS
	'The owner of a personal quick reply; NULL for one shared by every agent of the tenant.';
COMMENT ON COLUMN helpdesk.quick_reply.shortcode IS
	'What the agent types to find it (lowercase letters, digits, _ . -); unique per owner and language.';
COMMENT ON COLUMN helpdesk.quick_reply.body IS
	'The text, with placeholders {{customer.name}}, {{customer.attributes.KEY}}, {{agent.name}}, {{ticket.number}}, {{ticket.subject}}, {{ticket.attributes.KEY}}, {{session.attributes.KEY}}, each optionally with a fallback {{customer.name|there}}.';
COMMENT ON COLUMN helpdesk.quick_reply.language IS
	'Language of the text (lowercase BCP 47 tag) or NULL for any.';
COMMENT ON COLUMN helpdesk.quick_reply.use_count IS
	'How often it was rendered for use, by all agents (quick_reply_use has the count per agent).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.quick_reply', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.quick_reply_id_seq', '');

CREATE TABLE helpdesk.quick_reply_use (
	tenant_id      bigint NOT NULL,
	quick_reply_id bigint NOT NULL,
	agent_id       bigint NOT NULL,
	uses           bigint NOT NULL DEFAULT 0 CHECK (uses >= 0),
	last_used_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, agent_id, quick_reply_id),
	FOREIGN KEY (tenant_id, quick_reply_id) REFERENCES helpdesk.quick_reply (tenant_id, id)
		ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.agent (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX quick_reply_use_by_reply ON helpdesk.quick_reply_use (tenant_id, quick_reply_id);
COMMENT ON TABLE helpdesk.quick_reply_use IS
	'How often each agent used each quick reply: ranks that agent''s search results.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.quick_reply_use', '');

CREATE FUNCTION helpdesk.upsert_quick_reply(tenant_id bigint, shortcode text, title text,
	body text, agent_id bigint DEFAULT NULL, category text DEFAULT NULL,
	language text DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_quick_reply';
COMMENT ON FUNCTION helpdesk.upsert_quick_reply IS
	'Create or update a quick reply, matched on (agent_id, shortcode, language); agent_id NULL makes it shared by the tenant. Unknown placeholders are refused. Returns its id.';

CREATE FUNCTION helpdesk.delete_quick_reply(tenant_id bigint, quick_reply_id bigint,
	agent_id bigint DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_delete_quick_reply';
COMMENT ON FUNCTION helpdesk.delete_quick_reply IS
	'Delete a quick reply and its use counts. With agent_id: only that agent''s personal one (HD404 otherwise); without: any of the tenant''s.';

CREATE FUNCTION helpdesk.search_quick_replies(tenant_id bigint, agent_id bigint,
	prefix text DEFAULT '', max_rows integer DEFAULT 20, language text DEFAULT NULL)
RETURNS TABLE (quick_reply_id bigint, shortcode text, title text, category text,
	language text, personal boolean, uses bigint, body text)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_search_quick_replies';
COMMENT ON FUNCTION helpdesk.search_quick_replies IS
	'The quick replies an agent may use (its own and the shared ones) whose shortcode or title starts with prefix (case-insensitive), most used by this agent first, then personal before shared, then by shortcode. language: that language or none.';

CREATE FUNCTION helpdesk.render_quick_reply(tenant_id bigint, quick_reply_id bigint,
	agent_id bigint, session_id bigint DEFAULT NULL, ticket_id bigint DEFAULT NULL,
	count_use boolean DEFAULT true)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_render_quick_reply';
COMMENT ON FUNCTION helpdesk.render_quick_reply IS
	'The quick reply''s body with its placeholders filled in for the agent and the customer of a session or a ticket (at most one); a value that is missing renders as the placeholder''s fallback or as nothing. Counts a use unless count_use is false.';
-- <<< extension/tickets/60_quick_reply.sql

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
	timeout_ms      integer NOT NULL DEFAULT 15000 CHECK (timeout_ms BETWEEN 1000 AND 60000),
	rate_limit      double precision CHECK (rate_limit > 0 AND rate_limit <= 100000),
	rate_burst      integer CHECK (rate_burst BETWEEN 1 AND 100000),
	from_position   bigint NOT NULL DEFAULT 0,
	failing_since   timestamptz,
	disabled_reason text CHECK (disabled_reason IN ('gone', 'failing')),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, external_id),
	CHECK ((previous_secret IS NULL) = (previous_until IS NULL)),
	CHECK (disabled_reason IS NULL OR NOT enabled),
	CHECK (rate_burst IS NULL OR rate_limit IS NOT NULL)
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
COMMENT ON COLUMN helpdesk.webhook.rate_limit IS
	'At most this many requests per second to the endpoint (every attempt counts), NULL: no limit; the worker holds the others queued.';
COMMENT ON COLUMN helpdesk.webhook.rate_burst IS
	'How many requests may go at once after a quiet spell under rate_limit (a token bucket of this size); NULL: rate_limit rounded up.';
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
-- the worker's claim (FOR UPDATE SKIP LOCKED, endpoint by endpoint) and its next due time
CREATE INDEX webhook_delivery_due_by_webhook ON helpdesk.webhook_delivery (tenant_id, webhook_id, next_at, id)
	WHERE state = 'pending';
CREATE INDEX webhook_delivery_due ON helpdesk.webhook_delivery (next_at) WHERE state = 'pending';
-- recover() after a crash: what a dead worker was sending
CREATE INDEX webhook_delivery_sending ON helpdesk.webhook_delivery (tenant_id, id) WHERE state = 'sending';
-- an endpoint's deliveries, by event: the feed makes no second row for an (endpoint, event) read again after a crash
CREATE INDEX webhook_delivery_by_webhook ON helpdesk.webhook_delivery (tenant_id, webhook_id, event_pos);
CREATE INDEX webhook_delivery_finished ON helpdesk.webhook_delivery (finished_at) WHERE finished_at IS NOT NULL;
COMMENT ON TABLE helpdesk.webhook_delivery IS
	'One event for one endpoint, sent until a 2xx or the end of the retry schedule; written by the HTTP worker when its first attempt ends (at once when the schedule starts with a delay).';
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
	max_in_flight integer DEFAULT NULL, timeout interval DEFAULT NULL,
	rate_limit double precision DEFAULT NULL, rate_burst integer DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_webhook';
COMMENT ON FUNCTION helpdesk.upsert_webhook IS
	'Create or change a webhook endpoint by external id; returns its id. secret: whsec_ + base64 of 24-64 bytes, generated when NULL on create; a new one rotates (both sign for 24 hours). retry_schedule: delays before each attempt (default 0, 5s, 5min, 30min, 2h, 5h, 10h, 10h). rate_limit: requests per second (infinity: no limit), rate_burst: at once (default: the rate rounded up). NULL keeps description, max_in_flight, timeout, rate_limit, rate_burst.';

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
	token_version    bigint NOT NULL DEFAULT 1 CHECK (token_version >= 1),
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
COMMENT ON COLUMN helpdesk.bot.token_version IS
	'Carried in the bot''s tokens (issue_bot_token, claim ver); revoke_bot_tokens bumps it, which revokes the older tokens.';

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

-- A webhook bot answering over helpdesk-bridge: a token of kind bot (sub:
-- the bot, ver: its token_version), and the two calls the bridge makes for
-- its frames, always with the token's tenant, bot and version.
CREATE FUNCTION helpdesk.issue_bot_token(tenant_id bigint, bot_id bigint,
	ttl interval DEFAULT '30 days')
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_issue_bot_token';
COMMENT ON FUNCTION helpdesk.issue_bot_token IS
	'A bridge token of kind bot for one of the tenant''s enabled webhook bots (claims tenant, kind bot, sub = bot id, ver = its token_version; ttl 1 second .. 30 days). Over helpdesk-bridge it may only answer (bot_answer frame) or hand off (bot_handoff) the tenant''s sessions in state bot that this bot serves. revoke_bot_tokens, disabling or deleting the bot revoke it. HD404 for a missing, disabled or dify bot.';

CREATE FUNCTION helpdesk.revoke_bot_tokens(tenant_id bigint, bot_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_revoke_bot_tokens';
COMMENT ON FUNCTION helpdesk.revoke_bot_tokens IS
	'Revokes every token issued for the bot so far (bumps its token_version): refused at connect and on every frame of an open socket from now on. Returns the new version.';

CREATE FUNCTION helpdesk.bot_bridge_answer(tenant_id bigint, bot_id bigint,
	token_version bigint, session_id bigint, answer jsonb, job_id bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_bot_bridge_answer';
COMMENT ON FUNCTION helpdesk.bot_bridge_answer IS
	'For helpdesk-bridge (a bot token''s bot_answer frame): the bot''s answer ({"answer", "conversation_id", "metadata"}, as bot_reply takes it) to its request in flight in the session (job_id: that one; default: the one being sent, else the last answered), applied like bot_reply. Returns {"outcome": posted | handed_off | dropped, "job_id", "message_id", "session_state"}: dropped (a late answer after a hand-off, a second answer to one request) is noted on the job and in the server log, never shown. 28000 for a revoked token (bot disabled, deleted, token_version moved on), 42501 for a session that is not one this bot serves.';

CREATE FUNCTION helpdesk.bot_bridge_handoff(tenant_id bigint, bot_id bigint,
	token_version bigint, session_id bigint, queue_id bigint DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_bot_bridge_handoff';
COMMENT ON FUNCTION helpdesk.bot_bridge_handoff IS
	'For helpdesk-bridge (a bot token''s bot_handoff frame): the bot hands one of its sessions in state bot to a human, like handoff_to_agent (reason api; request_agent, open calls dropped). Returns the queue id. 28000 for a revoked token, 42501 for a session this bot does not serve, HD422 (HD410 closed) when the session is no longer with the bot.';

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
	  AND helpdesk._require_tenant($1)	-- a one-time filter: 42501 before any row
$$;
COMMENT ON FUNCTION helpdesk.bot_status IS
	'The bot side of a session: which bot, its conversation id, turns (customer messages given to the bot), hand-off time and reason, calls not yet answered.';

SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_job', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.bot_job_id_seq', '');

-- bot tokens (issue_bot_token): bridge_subscriber knows kind bot (after helpdesk.bot exists)
CREATE OR REPLACE FUNCTION helpdesk.bridge_subscriber(
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
	'The agent''s role in its tenant: admin, supervisor, agent or qa (reads transcripts and scores; the SQL API refuses its posts, offers, claims, transfers, closes and ticket writes with 42501 and the dispatcher never offers it a chat). Carried in its login tokens.';
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
	'Sets the agent''s role in its tenant (admin, supervisor, agent, qa); a change revokes its login tokens (agent.revoked); becoming qa gives back its offers and chats to their queues.';

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
	'A login token (kind agent for role agent; kind supervisor, which sees the whole tenant, for admin, supervisor and qa, whose writes the bridge and the API refuse; claims role and ver) or, with token NULL, reason bad_credentials or locked (retry_after). Never raises for a wrong login, so the failure count commits; 5 failures lock the agent for 15 minutes.';

CREATE FUNCTION helpdesk.logout_agent(tenant_id bigint, agent_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_logout_agent';
COMMENT ON FUNCTION helpdesk.logout_agent IS
	'Revokes every login token of the agent (bumps its token version, appends agent.revoked); returns the new version.';

COMMENT ON FUNCTION helpdesk.verify_token IS
	'The claims of a valid, unexpired token of issue_token, agent_login or issue_bot_token (signed with helpdesk.token_secret, or helpdesk.token_secret_previous during a rotation); a login token also needs the agent enabled and its token version current, a bot token its bot enabled, a webhook bot and at its token version. Raises 28000 otherwise.';

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

------------------------------------------------------------------------------
-- calendars (extension/tickets/20_calendar.sql)
------------------------------------------------------------------------------

CREATE TABLE helpdesk.calendar (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	time_zone   text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
	hours       jsonb NOT NULL CHECK (jsonb_typeof(hours) IN ('object', 'string')),
	holidays    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(holidays) = 'array'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, external_id)
);
COMMENT ON TABLE helpdesk.calendar IS
	'Business hours of a tenant: open when the local time in time_zone falls in one of the weekday''s intervals and the local date is not a holiday. Written only by upsert_calendar, which checks it.';
COMMENT ON COLUMN helpdesk.calendar.external_id IS
	'The integrator''s key of the calendar; upsert_calendar updates the row with the same one.';
COMMENT ON COLUMN helpdesk.calendar.time_zone IS
	'IANA time zone name, as PostgreSQL spells it (pg_timezone_names).';
COMMENT ON COLUMN helpdesk.calendar.hours IS
	'"24/7", or {"mon": [["09:00","12:00"],["13:30","18:00"]], …, "sun": []}: local opening intervals per weekday, end 24:00 allowed; a day left out is closed.';
COMMENT ON COLUMN helpdesk.calendar.holidays IS
	'[{"date": "2026-10-01", "name": "…"}, …]: local dates closed all day.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.calendar', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.calendar_id_seq', '');

CREATE FUNCTION helpdesk.upsert_calendar(tenant_id bigint, external_id text, name text,
	time_zone text, hours jsonb, holidays jsonb DEFAULT '[]')
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_calendar';
COMMENT ON FUNCTION helpdesk.upsert_calendar IS
	'Create or update (by external_id) a business-hours calendar; refuses unknown zones, malformed, empty or overlapping hours and bad holidays (22023). Returns the calendar id.';

CREATE FUNCTION helpdesk.business_time_add(tenant_id bigint, calendar_id bigint,
	"from" timestamptz, amount interval)
RETURNS timestamptz LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_business_time_add';
COMMENT ON FUNCTION helpdesk.business_time_add IS
	'The instant when amount of open time of the calendar has passed after "from" (a start in a closed period counts from the next opening). A day in amount is 24 hours of open time.';

CREATE FUNCTION helpdesk.business_time_between(tenant_id bigint, calendar_id bigint,
	a timestamptz, b timestamptz)
RETURNS interval LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_business_time_between';
COMMENT ON FUNCTION helpdesk.business_time_between IS
	'Open time of the calendar in [a, b), as hours, minutes and seconds (0 when b <= a).';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA helpdesk FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk.transition_allowed(text, text) TO PUBLIC;

------------------------------------------------------------------------------
-- SLA policies, clocks and events (extension/tickets/30_sla.sql)
------------------------------------------------------------------------------

CREATE TABLE helpdesk.sla_policy (
	tenant_id       bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id              bigint GENERATED BY DEFAULT AS IDENTITY,
	name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	position        integer NOT NULL CHECK (position BETWEEN 0 AND 1000000),
	enabled         boolean NOT NULL DEFAULT true,
	priorities      text[] CHECK (priorities <@ '{low,normal,high,urgent}' AND cardinality(priorities) > 0),
	issue_types     text[] CHECK (cardinality(issue_types) BETWEEN 1 AND 100),
	min_vip_level   smallint CHECK (min_vip_level BETWEEN 0 AND 10),
	channels        text[] CHECK (channels <@ '{chat,player_api,api,offline}' AND cardinality(channels) > 0),
	queue_ids       bigint[] CHECK (cardinality(queue_ids) BETWEEN 1 AND 100),
	first_response  interval CHECK (first_response > '0 s'),
	next_response   interval CHECK (next_response > '0 s'),
	resolution      interval CHECK (resolution > '0 s'),
	calendar_id     bigint,
	warning_percent smallint NOT NULL DEFAULT 80 CHECK (warning_percent BETWEEN 1 AND 99),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name),
	FOREIGN KEY (tenant_id, calendar_id) REFERENCES helpdesk.calendar (tenant_id, id)
);
CREATE INDEX sla_policy_order ON helpdesk.sla_policy (tenant_id, position, id) WHERE enabled;
COMMENT ON TABLE helpdesk.sla_policy IS
	'SLA policies of a tenant, tried in position order (then id): the first enabled one whose conditions all match a ticket applies. A NULL condition matches everything; a NULL target is not measured.';
COMMENT ON COLUMN helpdesk.sla_policy.min_vip_level IS 'Matches customers whose vip_level is at least this.';
COMMENT ON COLUMN helpdesk.sla_policy.queue_ids IS 'Matches tickets in one of these queues.';
COMMENT ON COLUMN helpdesk.sla_policy.first_response IS 'Open time from creation to the first public agent reply.';
COMMENT ON COLUMN helpdesk.sla_policy.next_response IS
	'Open time from a customer reply that waits for an agent (after the first response) to the next public agent reply.';
COMMENT ON COLUMN helpdesk.sla_policy.resolution IS 'Open time from creation to resolved (a reopen resumes the clock).';
COMMENT ON COLUMN helpdesk.sla_policy.calendar_id IS 'The business hours the targets count in; NULL = 24/7.';
COMMENT ON COLUMN helpdesk.sla_policy.warning_percent IS 'A warning fires when this share of a target has elapsed.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.sla_policy', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.sla_policy_id_seq', '');

ALTER TABLE helpdesk.ticket
	ADD COLUMN sla_policy_id bigint,
	ADD COLUMN sla_state text CHECK (sla_state IN ('active', 'hit', 'missed')),
	ADD COLUMN sla_first_response_due timestamptz,
	ADD COLUMN sla_next_response_due timestamptz,
	ADD COLUMN sla_resolution_due timestamptz,
	ADD COLUMN sla_next_at timestamptz,
	ADD FOREIGN KEY (tenant_id, sla_policy_id) REFERENCES helpdesk.sla_policy (tenant_id, id)
		ON DELETE SET NULL (sla_policy_id);
CREATE INDEX ticket_sla_next ON helpdesk.ticket (sla_next_at) WHERE sla_next_at IS NOT NULL;
COMMENT ON COLUMN helpdesk.ticket.sla_policy_id IS 'The SLA policy that applies (recomputed on every change that may move it).';
COMMENT ON COLUMN helpdesk.ticket.sla_state IS
	'active while measured, missed once any target was breached, hit when resolved with no miss; NULL without a policy.';
COMMENT ON COLUMN helpdesk.ticket.sla_first_response_due IS 'When the running first-response target is due (NULL: none, paused or done).';
COMMENT ON COLUMN helpdesk.ticket.sla_next_response_due IS 'When the running next-response target is due (NULL: none, paused or done).';
COMMENT ON COLUMN helpdesk.ticket.sla_resolution_due IS 'When the running resolution target is due (NULL: none, paused or done).';
COMMENT ON COLUMN helpdesk.ticket.sla_next_at IS
	'The earliest warning or breach not yet fired: the dispatcher''s index (ticket_sla_next) finds due tickets without a scan.';

-- one row per ticket, target and round (next_response: each customer wait)
CREATE TABLE helpdesk.ticket_sla (
	tenant_id     bigint NOT NULL,
	ticket_id     bigint NOT NULL,
	target        text NOT NULL CHECK (target IN ('first_response', 'next_response', 'resolution')),
	round         integer NOT NULL CHECK (round >= 1),
	policy_id     bigint,
	goal          interval NOT NULL,
	started_at    timestamptz NOT NULL,
	running_since timestamptz,
	consumed      interval NOT NULL DEFAULT '0 s',
	warn_at       timestamptz,
	due_at        timestamptz,
	warned        boolean NOT NULL DEFAULT false,
	breached      boolean NOT NULL DEFAULT false,
	stopped_at    timestamptz,
	outcome       text CHECK (outcome IN ('hit', 'missed')),
	PRIMARY KEY (tenant_id, ticket_id, target, round),
	FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.ticket (tenant_id, id) ON DELETE CASCADE,
	CHECK (outcome IS NULL OR stopped_at IS NOT NULL),
	CHECK (running_since IS NULL OR stopped_at IS NULL)
);
COMMENT ON TABLE helpdesk.ticket_sla IS
	'The clock of one SLA target on a ticket: running (running_since set), paused (pending: neither running_since nor stopped_at) or stopped (outcome hit or missed; NULL when the target stopped applying).';
COMMENT ON COLUMN helpdesk.ticket_sla.goal IS 'The target in open time, from the applied policy.';
COMMENT ON COLUMN helpdesk.ticket_sla.consumed IS 'Open time counted before running_since (the clock''s earlier runs).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_sla', '');

CREATE TABLE helpdesk.sla_event (
	tenant_id  bigint NOT NULL,
	id         bigint GENERATED BY DEFAULT AS IDENTITY,
	ticket_id  bigint NOT NULL,
	target     text NOT NULL CHECK (target IN ('first_response', 'next_response', 'resolution')),
	kind       text NOT NULL CHECK (kind IN ('warning', 'breach')),
	round      integer NOT NULL CHECK (round >= 1),
	policy_id  bigint,
	due        timestamptz NOT NULL,
	at         timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, ticket_id, target, kind, round),
	FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.ticket (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.sla_event IS
	'Every SLA warning and breach, fired once by the dispatcher (unique per ticket, target, kind and round).';
COMMENT ON COLUMN helpdesk.sla_event.due IS 'When it was due (the warning or breach instant).';
COMMENT ON COLUMN helpdesk.sla_event.at IS 'When the dispatcher fired it.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.sla_event', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.sla_event_id_seq', '');

-- tenants whose open tickets need their SLA recomputed (a policy or calendar
-- changed); the dispatcher works through them in batches by ticket id
CREATE TABLE helpdesk.sla_recompute (
	tenant_id    bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	after_id     bigint NOT NULL DEFAULT 0,
	requested_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.sla_recompute IS
	'Pending recomputations of a tenant''s open tickets after a policy or calendar edit; after_id is how far the dispatcher got.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.sla_recompute', '');

CREATE FUNCTION helpdesk.upsert_sla_policy(tenant_id bigint, name text, "position" integer,
	first_response interval DEFAULT NULL, next_response interval DEFAULT NULL,
	resolution interval DEFAULT NULL, calendar_id bigint DEFAULT NULL,
	priorities text[] DEFAULT NULL, issue_types text[] DEFAULT NULL,
	min_vip_level integer DEFAULT NULL, channels text[] DEFAULT NULL,
	queue_ids bigint[] DEFAULT NULL, warning_percent integer DEFAULT 80,
	enabled boolean DEFAULT true)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_sla_policy';
COMMENT ON FUNCTION helpdesk.upsert_sla_policy IS
	'Create or update (by name) an SLA policy: its place in the order, conditions (NULL = any), targets (NULL = not measured), calendar (NULL = 24/7) and warning share. The tenant''s open tickets are recomputed by the dispatcher in batches. Returns the policy id.';

CREATE FUNCTION helpdesk.delete_sla_policy(tenant_id bigint, policy_id bigint)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_delete_sla_policy';
COMMENT ON FUNCTION helpdesk.delete_sla_policy IS
	'Delete an SLA policy; its tickets get the next matching policy (recomputed by the dispatcher in batches).';

CREATE FUNCTION helpdesk.ticket_sla(tenant_id bigint, ticket_id bigint)
RETURNS TABLE (target text, round integer, policy_id bigint, goal interval, started_at timestamptz,
	running boolean, elapsed interval, warn_at timestamptz, due_at timestamptz, warned boolean,
	breached boolean, stopped_at timestamptz, outcome text)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_ticket_sla';
COMMENT ON FUNCTION helpdesk.ticket_sla IS
	'The SLA clocks of a ticket: per target and round, the goal, the open time elapsed so far, due and warning times and the outcome.';

-- Chat sessions: a first-response target per queue, from entering the queue
-- (start_session into a queue, or the bot's hand-off) to the first agent
-- message; the dispatcher stage checks each session once, at its due time.
ALTER TABLE helpdesk.queue
	ADD COLUMN chat_first_response interval CHECK (chat_first_response > '0 s');
COMMENT ON COLUMN helpdesk.queue.chat_first_response IS
	'First-response target of chat sessions entering this queue (wall time); NULL = none. Set with set_queue_sla.';
ALTER TABLE helpdesk.session
	ADD COLUMN sla_first_response_due timestamptz,
	ADD COLUMN sla_breached_at timestamptz;
CREATE INDEX session_sla_due ON helpdesk.session (sla_first_response_due)
	WHERE sla_first_response_due IS NOT NULL;
COMMENT ON COLUMN helpdesk.session.sla_first_response_due IS
	'When the queue''s first-response target falls due, set on entering the queue; cleared by the dispatcher at that time (hit when an agent wrote before, else breach).';
COMMENT ON COLUMN helpdesk.session.sla_breached_at IS 'When the dispatcher found the first response late (event session.sla).';

-- copies the queue's target into the session row as it enters its first queue
CREATE FUNCTION helpdesk._session_sla_start() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.sla_first_response_due := NEW.queued_at + (SELECT q.chat_first_response FROM helpdesk.queue q
		WHERE q.tenant_id = NEW.tenant_id AND q.id = NEW.queue_id);
	RETURN NEW;
END $$;
COMMENT ON FUNCTION helpdesk._session_sla_start() IS
	'Trigger: a session entering its first queue gets that queue''s chat first-response due time.';
CREATE TRIGGER session_sla_start_insert BEFORE INSERT ON helpdesk.session
	FOR EACH ROW WHEN (NEW.queued_at IS NOT NULL AND NEW.queue_id IS NOT NULL)
	EXECUTE FUNCTION helpdesk._session_sla_start();
CREATE TRIGGER session_sla_start_update BEFORE UPDATE OF queued_at ON helpdesk.session
	FOR EACH ROW WHEN (OLD.queued_at IS NULL AND NEW.queued_at IS NOT NULL AND NEW.queue_id IS NOT NULL
	                   AND NEW.sla_breached_at IS NULL)
	EXECUTE FUNCTION helpdesk._session_sla_start();

CREATE FUNCTION helpdesk.set_queue_sla(tenant_id bigint, queue_id bigint, chat_first_response interval)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_sla';
COMMENT ON FUNCTION helpdesk.set_queue_sla IS
	'A queue''s first-response target for chat sessions (wall time from entering the queue or the bot hand-off to the first agent message); ''0 s'' clears it. Applies to sessions entering the queue from now on.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA helpdesk FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk.transition_allowed(text, text) TO PUBLIC;

------------------------------------------------------------------------------
-- ticket assignment (extension/tickets/70_ticket_assignment.sql)
------------------------------------------------------------------------------
-- Ticket assignment (ticket_assign*.c): manual (assign_ticket by a
-- supervisor, take_ticket by an agent) and automatic per queue
-- (ticket_strategy round_robin or least_loaded), done by the dispatcher — the
-- single writer of automatic assignments — through its "ticket assignment"
-- stage. An agent's open tickets (new, open, pending) are counted in
-- agent.open_tickets, kept by C: every ticket change reconciles the counter
-- of the agent the ticket counts against (ticket.counted_agent_id), and
-- taking capacity is a guarded UPDATE (open_tickets + n <= max_open_tickets),
-- so nothing over-assigns under concurrency.

ALTER TABLE helpdesk.queue
	ADD COLUMN ticket_strategy text NOT NULL DEFAULT 'manual'
		CHECK (ticket_strategy IN ('manual', 'round_robin', 'least_loaded')),
	ADD COLUMN ticket_rr_cursor bigint NOT NULL DEFAULT 0;
CREATE INDEX queue_ticket_auto ON helpdesk.queue (tenant_id, id)
	WHERE ticket_strategy <> 'manual';
COMMENT ON COLUMN helpdesk.queue.ticket_strategy IS
	'How unassigned tickets of this queue get an assignee: manual (taken or given), or by the dispatcher: round_robin, least_loaded (over max_open_tickets).';
COMMENT ON COLUMN helpdesk.queue.ticket_rr_cursor IS
	'ticket_strategy round_robin: id of the agent given a ticket last (dispatcher state).';

ALTER TABLE helpdesk.agent
	ADD COLUMN max_open_tickets integer NOT NULL DEFAULT 20
		CHECK (max_open_tickets BETWEEN 0 AND 10000),
	ADD COLUMN open_tickets integer NOT NULL DEFAULT 0 CHECK (open_tickets >= 0),
	ADD COLUMN last_ticket_at timestamptz;
-- the dispatcher's look for open tickets of disabled agents (usually empty)
CREATE INDEX agent_disabled_with_tickets ON helpdesk.agent (tenant_id)
	WHERE NOT enabled AND open_tickets > 0;
COMMENT ON COLUMN helpdesk.agent.max_open_tickets IS
	'Ticket capacity: the most open (new, open, pending) tickets the dispatcher or take_ticket gives the agent; assign_ticket(force => true) may go beyond it.';
COMMENT ON COLUMN helpdesk.agent.open_tickets IS
	'Open (new, open, pending) tickets assigned to the agent. Kept by the C API; capacity checks compare it with max_open_tickets in the same UPDATE. A disabled agent''s open tickets are unassigned by the dispatcher.';
COMMENT ON COLUMN helpdesk.agent.last_ticket_at IS
	'When the agent was last given a ticket (least_loaded prefers the one waiting longest among equals).';

ALTER TABLE helpdesk.ticket
	ADD COLUMN counted_agent_id bigint,
	ADD COLUMN assigned_at timestamptz,
	ADD COLUMN assign_wait_reason text,
	ADD COLUMN assign_error text;
-- the dispatcher's work: unassigned open tickets, per queue
CREATE INDEX ticket_unassigned ON helpdesk.ticket (tenant_id, queue_id, id)
	WHERE assignee_id IS NULL AND status IN ('new', 'open', 'pending');
COMMENT ON COLUMN helpdesk.ticket.counted_agent_id IS
	'The agent whose open_tickets counts this ticket: the assignee while the ticket is new, open or pending, else NULL (C keeps it).';
COMMENT ON COLUMN helpdesk.ticket.assigned_at IS 'When the current assignee got the ticket.';
COMMENT ON COLUMN helpdesk.ticket.assign_wait_reason IS
	'Why the dispatcher could not assign the ticket at its last look (auto queues; NULL once assigned).';
COMMENT ON COLUMN helpdesk.ticket.assign_error IS
	'Set when assigning this ticket failed in the dispatcher; it is skipped until its next change clears the column.';

-- Every change of a ticket's assignee, and every wait reason the dispatcher
-- gave, in the transaction that made it.
CREATE TABLE helpdesk.ticket_assignment_audit (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	ticket_id   bigint NOT NULL,
	queue_id    bigint,
	agent_id    bigint,
	previous_agent_id bigint,
	action      text NOT NULL CHECK (action IN ('assign', 'unassign', 'take', 'auto', 'wait')),
	actor_kind  text NOT NULL CHECK (actor_kind IN ('supervisor', 'agent', 'system', 'api', 'dispatcher')),
	actor_id    bigint,
	strategy    text CHECK (strategy IN ('manual', 'round_robin', 'least_loaded')),
	candidates  integer CHECK (candidates >= 0),
	reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
	agent_open_tickets integer,
	agent_capacity integer,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.ticket (tenant_id, id) ON DELETE CASCADE,
	CHECK (action NOT IN ('assign', 'take', 'auto') OR agent_id IS NOT NULL)
);
CREATE INDEX ticket_assignment_audit_by_ticket ON helpdesk.ticket_assignment_audit
	(tenant_id, ticket_id, id);
COMMENT ON TABLE helpdesk.ticket_assignment_audit IS
	'Why each ticket assignment was made: given or taken (assign, take), removed (unassign), by the dispatcher (auto, with strategy and candidates), or why an auto queue''s ticket waits (wait, written when the reason changes).';
COMMENT ON COLUMN helpdesk.ticket_assignment_audit.candidates IS
	'auto and wait: online, enabled agents serving the queue with a free ticket slot at the decision.';
COMMENT ON COLUMN helpdesk.ticket_assignment_audit.agent_open_tickets IS
	'The new assignee''s open tickets after the decision, and its max_open_tickets as read in the same transaction.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_assignment_audit', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.ticket_assignment_audit_id_seq', '');

CREATE FUNCTION helpdesk.assign_ticket(tenant_id bigint, ticket_id bigint, agent_id bigint,
	actor_kind text, actor_id bigint DEFAULT NULL, force boolean DEFAULT false,
	reason text DEFAULT NULL)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_assign_ticket';
COMMENT ON FUNCTION helpdesk.assign_ticket IS
	'Give a ticket to an agent, or unassign it (agent_id NULL). actor_kind supervisor, system or api may give any ticket; an agent only its own ticket (to a colleague or back to nobody) or an unassigned one to itself. Capacity (max_open_tickets) is enforced unless force. Returns false when the assignee was already that agent.';

CREATE FUNCTION helpdesk.take_ticket(tenant_id bigint, agent_id bigint, ticket_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_take_ticket';
COMMENT ON FUNCTION helpdesk.take_ticket IS
	'An agent takes an unassigned open ticket of a queue it serves (skills, languages, enabled; capacity enforced). Returns false when it already had it.';

CREATE FUNCTION helpdesk.set_queue_ticket_strategy(tenant_id bigint, queue_id bigint,
	ticket_strategy text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_ticket_strategy';
COMMENT ON FUNCTION helpdesk.set_queue_ticket_strategy IS
	'How the queue''s unassigned tickets get an assignee: manual, round_robin or least_loaded (the dispatcher assigns them).';

CREATE FUNCTION helpdesk.set_agent_ticket_capacity(tenant_id bigint, agent_id bigint,
	max_open_tickets integer)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_agent_ticket_capacity';
COMMENT ON FUNCTION helpdesk.set_agent_ticket_capacity IS
	'The most open tickets (0..10000) the dispatcher and take_ticket give the agent. Lowering it below its current open tickets takes none away.';

CREATE VIEW helpdesk.ticket_assignment_why AS
	SELECT a.tenant_id, a.ticket_id, t.number, a.at, a.action, a.agent_id, a.previous_agent_id,
	       a.actor_kind, a.actor_id, a.strategy, a.candidates, a.reason,
	       a.agent_open_tickets, a.agent_capacity
	FROM helpdesk.ticket_assignment_audit a
	JOIN helpdesk.ticket t ON t.tenant_id = a.tenant_id AND t.id = a.ticket_id;
COMMENT ON VIEW helpdesk.ticket_assignment_why IS
	'The assignment history of each ticket, with its number: who gave it to whom, and why.';
REVOKE ALL ON FUNCTION helpdesk.assign_ticket, helpdesk.take_ticket,
	helpdesk.set_queue_ticket_strategy, helpdesk.set_agent_ticket_capacity FROM PUBLIC;

-- 0.2.0: the console's reads through helpdesk-bridge (extension/bridge_api/10_console_reads.sql)
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
REVOKE ALL ON FUNCTION helpdesk.bridge_console_sessions, helpdesk.bridge_console_customer,
	helpdesk.bridge_console_directory FROM PUBLIC;

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
-- the bridge's HTTP routes: CORS origins, uploads, player_call (extension/security/40_http_api.sql, 41_player_routes.sql)
-- The bridge's HTTP routes, database side: CORS origins per tenant, uploads,
-- and player_call, which verifies a signed player request, counts it against
-- the rate limits and does what its route asks, in one round trip.

CREATE TABLE helpdesk.cors_origin (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	origin     text NOT NULL CHECK (origin ~ '^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$'),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, origin)
);
COMMENT ON TABLE helpdesk.cors_origin IS
	'Web origins (scheme://host[:port], as browsers send them) whose pages may call the bridge''s HTTP API for the tenant (CORS). The bridge re-reads them every 5 s.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.cors_origin', '');

CREATE FUNCTION helpdesk.set_cors_origins(tenant_id bigint, origins text[])
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_cors_origins';
COMMENT ON FUNCTION helpdesk.set_cors_origins(bigint, text[]) IS
	'Replaces the tenant''s allowed CORS origins (each scheme://host[:port]); returns how many it has now. An empty array allows none.';

CREATE FUNCTION helpdesk.cors_origins()
RETURNS TABLE (tenant_id bigint, origin text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT c.tenant_id, c.origin FROM helpdesk.cors_origin c WHERE helpdesk._require_tenant(NULL) $$;
COMMENT ON FUNCTION helpdesk.cors_origins() IS
	'Every tenant''s allowed CORS origins, for helpdesk-bridge''s cache (the caller must act for every tenant).';

CREATE TABLE helpdesk.upload (
	tenant_id     bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id            bigint GENERATED BY DEFAULT AS IDENTITY,
	uploader_kind text NOT NULL CHECK (uploader_kind IN ('customer', 'agent', 'supervisor')),
	uploader_id   bigint NOT NULL,
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200 AND name !~ '[/\\]'),
	mime          text NOT NULL CHECK (mime IN ('image/png', 'image/jpeg', 'image/gif',
	              'image/webp', 'application/pdf', 'video/mp4', 'text/plain')),
	size          bigint NOT NULL CHECK (size > 0),
	sha256        bytea NOT NULL CHECK (length(sha256) = 32),
	content       bytea NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	CHECK (length(content) = size)
);
ALTER TABLE helpdesk.upload ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX upload_created ON helpdesk.upload (created_at);
COMMENT ON TABLE helpdesk.upload IS
	'Files attached to messages (store_upload). Served by helpdesk-bridge at signed, expiring URLs, read in ranges (upload_chunk).';
COMMENT ON COLUMN helpdesk.upload.name IS
	'The uploader''s file name cleaned: last path component, no control characters, quotes or separators.';
COMMENT ON COLUMN helpdesk.upload.mime IS
	'The type sniffed from the bytes (never the declared one).';
COMMENT ON COLUMN helpdesk.upload.content IS
	'Stored EXTERNAL (uncompressed TOAST), so substring reads only the chunks of a range.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.upload', '');


CREATE FUNCTION helpdesk.store_upload(tenant_id bigint, uploader_kind text, uploader_id bigint,
	name text, declared_type text, content bytea,
	OUT upload_id bigint, OUT mime text, OUT size bigint, OUT sha256 text)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_store_upload';
COMMENT ON FUNCTION helpdesk.store_upload IS
	'Stores a file of at most helpdesk.max_upload_bytes (else 54000). Its type is sniffed from the bytes: PNG, JPEG, GIF, WebP, PDF, MP4 or plain text; anything else, or a name or declared type that says another type, is HD415 unsupported_type. Returns the id, type, size and hex SHA-256.';

CREATE FUNCTION helpdesk.upload_info(tenant_id bigint, upload_id bigint,
	OUT name text, OUT mime text, OUT size bigint, OUT sha256 text)
RETURNS record LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upload_info';
COMMENT ON FUNCTION helpdesk.upload_info(bigint, bigint) IS
	'An upload''s name, type, size and SHA-256 (a row of NULLs when there is none).';

CREATE FUNCTION helpdesk.upload_chunk(tenant_id bigint, upload_id bigint, "offset" bigint,
	length integer)
RETURNS bytea LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upload_chunk';
COMMENT ON FUNCTION helpdesk.upload_chunk(bigint, bigint, bigint, integer) IS
	'length bytes of an upload from offset (0-based): reads only those TOAST chunks.';

CREATE FUNCTION helpdesk.prune_uploads(keep interval DEFAULT '90 days', grace interval DEFAULT '1 day')
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_uploads';
COMMENT ON FUNCTION helpdesk.prune_uploads(interval, interval) IS
	'Deletes uploads older than keep, and those older than grace that no session or ticket message references any more (their messages were pruned by retention, or they were never sent). Returns how many. Call it after message retention.';

-- A message's attachment that names an upload must name one of its tenant;
-- name, type and size are taken from the upload.
CREATE FUNCTION helpdesk._attachment_upload() RETURNS trigger LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_attachment_upload';
COMMENT ON FUNCTION helpdesk._attachment_upload() IS
	'Trigger on UPDATE OF attachment: an attachment {"upload_id": …} must reference an upload of the message''s tenant (HD404); mime and size come from the upload. New messages get the same check from the C paths that write them.';
CREATE TRIGGER attachment_upload BEFORE UPDATE OF attachment ON helpdesk.message
	FOR EACH ROW WHEN (NEW.attachment ? 'upload_id') EXECUTE FUNCTION helpdesk._attachment_upload();
CREATE TRIGGER attachment_upload BEFORE UPDATE OF attachment ON helpdesk.ticket_message
	FOR EACH ROW WHEN (NEW.attachment ? 'upload_id') EXECUTE FUNCTION helpdesk._attachment_upload();

-- player_call: one signed player API request in one round trip. The bridge
-- forwards method, path with query, headers, raw body, the {} of the path
-- and the query arguments; this verifies the signature (verify_signed_request),
-- counts the request per app and per player (rate_limit_hit: a refusal is an
-- answer, 429, so the counters and the nonce commit), then does the route's
-- action with the existing API functions. Errors of the action raise with
-- their SQLSTATE (the bridge maps them to HTTP). In C: player_call.c,
-- player_routes.c, upload_attachment.c.

CREATE FUNCTION helpdesk._upload_attachment(tenant_id bigint, attachment jsonb, base_url text)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upload_attachment_sql';
COMMENT ON FUNCTION helpdesk._upload_attachment(bigint, jsonb, text) IS
	'An attachment {"upload_id": …} completed from the upload of the tenant (HD404 if none): url (the bridge''s stable /api/v1/uploads/<id>, which redirects a token holder to a signed URL), name, mime, size. Other attachments unchanged.';

CREATE FUNCTION helpdesk.player_call(route text, method text, path_with_query text,
	headers jsonb, body bytea, id bigint DEFAULT NULL, args jsonb DEFAULT '{}',
	OUT status integer, OUT answer jsonb, OUT retry_after integer, OUT tenant_id bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_player_call';
COMMENT ON FUNCTION helpdesk.player_call(text, text, text, jsonb, bytea, bigint, jsonb) IS
	'One signed player API request (helpdesk-bridge''s /api/v1/player/*): verify_signed_request, rate_limit_hit per app and player (status 429 and retry_after, not an error), then the route (ws-token, session-start, session-get, message, upload, ticket-create, ticket-list, ticket-reply, csat) for the player named by player_id (query or body), who may only see and post to their own sessions and tickets. Returns the HTTP status and JSON answer; other refusals raise (HDA00-HDA04, HD404, 22023, HD415, 54000).';

-- verify_signed_request's per-backend app cache (extension/security/42_app_cache.sql)
-- verify_signed_request caches apps per backend (app_cache.c); any change to
-- api_app tells every backend to forget them.
CREATE FUNCTION helpdesk._api_app_changed() RETURNS trigger LANGUAGE c
AS 'MODULE_PATHNAME', 'hd_api_app_changed';
COMMENT ON FUNCTION helpdesk._api_app_changed() IS
	'Statement trigger on api_app: queues a relcache invalidation of api_app, so every backend empties its cache of apps (verify_signed_request) at its next transaction.';
CREATE TRIGGER api_app_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON helpdesk.api_app
	FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._api_app_changed();
REVOKE ALL ON FUNCTION helpdesk.set_cors_origins(bigint, text[]), helpdesk.cors_origins(),
	helpdesk.store_upload(bigint, text, bigint, text, text, bytea), helpdesk.upload_info(bigint, bigint),
	helpdesk.upload_chunk(bigint, bigint, bigint, integer), helpdesk.prune_uploads(interval, interval),
	helpdesk._attachment_upload(), helpdesk._upload_attachment(bigint, jsonb, text),
	helpdesk.player_call(text, text, text, jsonb, bytea, bigint, jsonb), helpdesk._api_app_changed()
	FROM PUBLIC;
-- trigger tasks (extension/automation/00_task_schema.sql, 10_task_api.sql)
-- Trigger tasks (seed 003's task API inside the database): "when customer X
-- says 好的, send them this file". The caller's task JSON is kept as it came
-- (body, for idempotency); the columns are what matching and the state
-- machine need (task_*.c). Writes go through the C API only.

CREATE TABLE helpdesk.automation_settings (
	tenant_id        bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	payment_phrases  text[] CHECK (cardinality(payment_phrases) BETWEEN 1 AND 200),
	time_zone        text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64),
	callback_secret  bytea CHECK (octet_length(callback_secret) BETWEEN 30 AND 512),
	updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.automation_settings IS
	'Per-tenant settings of trigger tasks: the default payment phrases, the zone time_reach times are read in, the callback signing secret.';
COMMENT ON COLUMN helpdesk.automation_settings.payment_phrases IS
	'What a customer_payment task without keywords of its own listens for (contains match); NULL: the built-in list 已付款, 拍下了, 已拍下, 付款了, 已支付, 已下单, 付过款了 (task_match.c).';
COMMENT ON COLUMN helpdesk.automation_settings.time_zone IS
	'IANA zone in which a time_reach trigger''s "YYYY-MM-DD HH:MM:SS" is read.';
COMMENT ON COLUMN helpdesk.automation_settings.callback_secret IS
	'The whsec_ secret that signs task callbacks (Standard Webhooks headers, like webhooks), sealed with AES-256-GCM under helpdesk.encryption_key_file like webhook secrets (task_callback_secret() and the HTTP worker open it); NULL: callbacks go unsigned.';

CREATE TABLE helpdesk.trigger_task (
	tenant_id        bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id               bigint GENERATED BY DEFAULT AS IDENTITY,
	task_id          text NOT NULL CHECK (length(task_id) BETWEEN 1 AND 200),
	body             jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
	type             text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
	customer_ext_id  text CHECK (length(customer_ext_id) <= 200),
	customer_name    text CHECK (length(customer_name) <= 200),
	trigger_type     text NOT NULL CHECK (trigger_type IN ('specified_customer_reply',
	                 'customer_reply', 'customer_keyword', 'customer_payment', 'time_reach')),
	trigger_customer_id   text CHECK (length(trigger_customer_id) <= 200),
	trigger_customer_name text CHECK (length(trigger_customer_name) <= 200),
	keywords         text[] NOT NULL DEFAULT '{}' CHECK (cardinality(keywords) <= 100),
	exact_match      boolean NOT NULL DEFAULT false,
	trigger_at       timestamptz,
	action_type      text NOT NULL CHECK (action_type IN ('send_message', 'send_file')),
	action           jsonb NOT NULL CHECK (jsonb_typeof(action) = 'object'),
	priority         text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
	timeout_hours    integer NOT NULL DEFAULT 24 CHECK (timeout_hours BETWEEN 1 AND 8760),
	created_by       text CHECK (length(created_by) <= 200),
	callback_url     text CHECK (callback_url ~ '^https?://' AND length(callback_url) <= 2048),
	status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'waiting',
	                 'running', 'completed', 'failed', 'cancelled', 'expired')),
	retry_count      integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
	max_retry        integer NOT NULL DEFAULT 3 CHECK (max_retry BETWEEN 0 AND 20),
	created_at       timestamptz NOT NULL DEFAULT now(),
	expires_at       timestamptz NOT NULL,
	due_at           timestamptz,
	triggered_at     timestamptz,
	completed_at     timestamptz,
	error_message    text CHECK (length(error_message) <= 1000),
	result           jsonb,
	cancel_reason    text CHECK (length(cancel_reason) <= 500),
	session_id       bigint,
	customer_id      bigint,
	message_id       bigint,
	callback_state   text NOT NULL DEFAULT 'none'
	                 CHECK (callback_state IN ('none', 'due', 'sending', 'sent', 'failed')),
	callback_due_at  timestamptz,
	callback_attempts integer NOT NULL DEFAULT 0 CHECK (callback_attempts >= 0),
	callback_error   text CHECK (length(callback_error) <= 1000),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, task_id),
	CHECK ((trigger_type = 'time_reach') = (trigger_at IS NOT NULL)),
	CHECK (trigger_type = 'time_reach' OR trigger_type = 'customer_payment' OR cardinality(keywords) >= 1),
	CHECK (trigger_type <> 'specified_customer_reply' OR trigger_customer_id IS NOT NULL),
	CHECK ((status IN ('pending', 'waiting', 'running')) = (due_at IS NOT NULL)),
	CHECK ((callback_state = 'due') = (callback_due_at IS NOT NULL)),
	CHECK (status NOT IN ('running', 'completed', 'failed') OR triggered_at IS NOT NULL)
);
-- the matcher's per-backend index is loaded from the live keyword tasks of a tenant
CREATE INDEX trigger_task_live ON helpdesk.trigger_task (tenant_id)
	WHERE status IN ('pending', 'waiting') AND trigger_type <> 'time_reach';
-- the dispatcher stage: arming, time_reach, expiry and running actions by due time
CREATE INDEX trigger_task_due ON helpdesk.trigger_task (due_at) WHERE due_at IS NOT NULL;
-- the HTTP worker's callback source
CREATE INDEX trigger_task_callback_due ON helpdesk.trigger_task (callback_due_at)
	WHERE callback_due_at IS NOT NULL;
CREATE INDEX trigger_task_by_customer ON helpdesk.trigger_task (tenant_id, customer_ext_id, created_at);
CREATE INDEX trigger_task_by_status ON helpdesk.trigger_task (tenant_id, status, created_at);
COMMENT ON TABLE helpdesk.trigger_task IS
	'A trigger task (seed 003): a trigger (a customer''s words or a time) and an action (send a message or a file) with its status pending -> waiting -> running -> completed | failed, or cancelled, expired.';
COMMENT ON COLUMN helpdesk.trigger_task.task_id IS 'The caller''s key; receive_task is idempotent on it.';
COMMENT ON COLUMN helpdesk.trigger_task.body IS 'The task JSON as received (a repeat must be equal).';
COMMENT ON COLUMN helpdesk.trigger_task.customer_ext_id IS 'customer.id of the task JSON: the customer''s external_id.';
COMMENT ON COLUMN helpdesk.trigger_task.keywords IS
	'keyword or keywords of the trigger, trimmed; empty for time_reach and for customer_payment on the tenant''s default phrases.';
COMMENT ON COLUMN helpdesk.trigger_task.due_at IS
	'When the dispatcher stage looks at the task next: arming (pending), the time or the expiry (waiting), the next attempt (running).';
COMMENT ON COLUMN helpdesk.trigger_task.message_id IS 'The customer message that fired the task.';
COMMENT ON COLUMN helpdesk.trigger_task.result IS '{"session_id", "message_id"} of the action''s message once completed.';
COMMENT ON COLUMN helpdesk.trigger_task.callback_state IS
	'none (no callback_url or not finished), due, sending (claimed by the HTTP worker), sent, failed (attempts exhausted).';

SELECT pg_catalog.pg_extension_config_dump('helpdesk.automation_settings', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.trigger_task', '');

-- Trigger tasks SQL API: thin declarations of the C functions in task_*.c.
-- Each runs as the extension owner (SECURITY DEFINER) with a pinned search_path.

CREATE FUNCTION helpdesk.receive_task(tenant_id bigint, task jsonb)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_receive_task';
COMMENT ON FUNCTION helpdesk.receive_task IS
	'Stores a trigger task (seed 003''s JSON) and answers {"task_id", "status"}. Idempotent on task_id: the same body answers the stored task, a different one is HD409.';

CREATE FUNCTION helpdesk.task_status(tenant_id bigint, task_id text)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_status';
COMMENT ON FUNCTION helpdesk.task_status IS
	'The task JSON: the fields received plus status, retry_count, max_retry, triggered_at, completed_at, error_message, result. HD404 when unknown.';

CREATE FUNCTION helpdesk.cancel_task(tenant_id bigint, task_id text, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_cancel_task';
COMMENT ON FUNCTION helpdesk.cancel_task IS
	'Cancels a pending or waiting task (HD422 once it fired or finished, HD404 when unknown); answers the task JSON.';

CREATE FUNCTION helpdesk.list_tasks(tenant_id bigint, customer_id text DEFAULT NULL,
	status text DEFAULT NULL, page integer DEFAULT 1, page_size integer DEFAULT 20)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_list_tasks';
COMMENT ON FUNCTION helpdesk.list_tasks IS
	'A page of the tenant''s tasks, newest first: {"total", "page", "page_size", "tasks": [task JSON]}; customer_id is the customer''s external id; page_size 1..100.';

CREATE FUNCTION helpdesk.set_task_settings(tenant_id bigint, payment_phrases text[] DEFAULT NULL,
	time_zone text DEFAULT NULL, default_payment_phrases boolean DEFAULT false)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_task_settings';
COMMENT ON FUNCTION helpdesk.set_task_settings IS
	'The tenant''s default payment phrases (customer_payment tasks without keywords) and the zone of time_reach times; NULL keeps a value, default_payment_phrases => true restores the built-in list.';

CREATE FUNCTION helpdesk.task_callback_secret(tenant_id bigint, rotate boolean DEFAULT false)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_callback_secret';
COMMENT ON FUNCTION helpdesk.task_callback_secret IS
	'The whsec_ secret that signs the tenant''s task callbacks (made on the first call; rotate => true makes a new one).';

CREATE FUNCTION helpdesk._task_pass(now timestamptz DEFAULT NULL, max_rows integer DEFAULT 200)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_task_pass_sql';
COMMENT ON FUNCTION helpdesk._task_pass IS
	'One pass of the trigger-task dispatcher stage (arm, time_reach, expiry, actions) as the dispatcher runs it; for tests.';

REVOKE ALL ON FUNCTION helpdesk.receive_task, helpdesk.task_status, helpdesk.cancel_task,
	helpdesk.list_tasks, helpdesk.set_task_settings, helpdesk.task_callback_secret,
	helpdesk._task_pass FROM PUBLIC;

-- automation rules (extension/automation/20_rule_schema.sql)
-- Automation rules (issue 18): on an event of the log, conditions over the
-- event's object, actions through the SQL API people use (rule_*.c). The
-- rules worker follows the log with a cursor of its own (rule_cursor) and
-- audits every rule that matched (rule_run). Writes go through the C API.

CREATE TABLE helpdesk.automation_rule (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	event       text NOT NULL CHECK (event IN ('message.created', 'session.created', 'session.queued',
	            'session.closed', 'ticket.created', 'ticket.updated', 'sla.warning', 'sla.breached',
	            'csat.submitted', 'time.no_agent_reply', 'time.queued', 'time.pending', 'time.no_customer_reply')),
	wait_for    interval CHECK (wait_for > interval '0' AND wait_for <= interval '90 days'),
	conditions  jsonb NOT NULL DEFAULT '{"all": []}' CHECK (jsonb_typeof(conditions) = 'object'),
	actions     jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
	position    integer NOT NULL DEFAULT 0 CHECK (position BETWEEN 0 AND 1000000),
	enabled     boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name),
	CHECK ((event LIKE 'time.%') = (wait_for IS NOT NULL))
);
CREATE INDEX automation_rule_by_event ON helpdesk.automation_rule (tenant_id, event, position, id) WHERE enabled;
COMMENT ON TABLE helpdesk.automation_rule IS
	'An automation rule: on event, when conditions hold, do actions; a tenant''s rules run in (position, id) order.';
COMMENT ON COLUMN helpdesk.automation_rule.conditions IS
	'{"all": [...]}, {"any": [...]}, {"not": c} or {"field", "op", "value"} (rule_cond.c).';
COMMENT ON COLUMN helpdesk.automation_rule.wait_for IS
	'For the time rules (event time.*): how long the condition must hold (no agent reply, queued, pending, no customer reply) before the rule fires.';
COMMENT ON COLUMN helpdesk.automation_rule.actions IS
	'Array of {"type": send_message | close | add_note | set_priority | add_tags | set_status | assign | unassign | transfer | set_queue | set_issue_type | resolve | pending | send_webhook | ask_csat, ...} (rule_action.c).';

CREATE TABLE helpdesk.automation_rule_run (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	rule_id     bigint NOT NULL,
	event_pos   bigint NOT NULL,
	event       text NOT NULL,
	session_id  bigint,
	ticket_id   bigint,
	conditions  jsonb NOT NULL,
	actions     jsonb NOT NULL,
	errors      integer NOT NULL DEFAULT 0 CHECK (errors >= 0),
	at          timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, rule_id) REFERENCES helpdesk.automation_rule (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX automation_rule_run_by_rule ON helpdesk.automation_rule_run (tenant_id, rule_id, at);
CREATE INDEX automation_rule_run_by_session ON helpdesk.automation_rule_run (tenant_id, session_id) WHERE session_id IS NOT NULL;
COMMENT ON TABLE helpdesk.automation_rule_run IS
	'The audit of rule firings: the rule, the event and its object, each condition''s result, each action done or its error.';
COMMENT ON COLUMN helpdesk.automation_rule_run.conditions IS
	'[{"field", "op", "value", "actual", "result"}] for every test of the rule.';
COMMENT ON COLUMN helpdesk.automation_rule_run.actions IS
	'[{"type", "done": description} | {"type", "error": message}] in order; a failing action does not stop the rest.';

-- the loop guard: the (sub)transaction ids that wrote a rule's actions; events
-- they logged are not evaluated again
CREATE TABLE helpdesk.automation_rule_xid (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	xid         bigint NOT NULL,
	at          timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, xid)
);
CREATE INDEX automation_rule_xid_xid ON helpdesk.automation_rule_xid (xid);
CREATE INDEX automation_rule_xid_at ON helpdesk.automation_rule_xid (at);
COMMENT ON TABLE helpdesk.automation_rule_xid IS
	'Transaction ids (32-bit, as xmin shows them) of rule actions: events written by them do not trigger rules (loop guard). Kept one day.';

-- the due-time index of the time rules (rule_time.c): one row per (rule,
-- object) whose condition started at anchor; the rules worker fires it at due_at
-- after checking the condition still holds, then deletes it (once per occurrence)
CREATE TABLE helpdesk.automation_rule_due (
	tenant_id   bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	rule_id     bigint NOT NULL,
	object_kind text NOT NULL DEFAULT 'session' CHECK (object_kind IN ('session', 'ticket')),
	object_id   bigint NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('time.no_agent_reply', 'time.queued', 'time.pending',
	            'time.no_customer_reply')),
	id          bigint GENERATED BY DEFAULT AS IDENTITY,
	anchor      timestamptz NOT NULL,
	due_at      timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, rule_id, object_kind, object_id),
	UNIQUE (tenant_id, id),
	CHECK (due_at > anchor),
	CHECK (object_kind = 'ticket' OR kind <> 'time.pending'),
	FOREIGN KEY (tenant_id, rule_id) REFERENCES helpdesk.automation_rule (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX automation_rule_due_at ON helpdesk.automation_rule_due (due_at);
-- the follower's ends of conditions: the rows of one session or ticket
CREATE INDEX automation_rule_due_by_object ON helpdesk.automation_rule_due (tenant_id, object_id);
COMMENT ON TABLE helpdesk.automation_rule_due IS
	'Time rules waiting: the condition of rule on object (a session, or a ticket: time.pending, and the reply rules on a ticket''s own thread) holds since anchor; fires at due_at unless it ended.';
COMMENT ON COLUMN helpdesk.automation_rule_due.object_kind IS
	'session (object_id is a session: its chat messages, its queueing) or ticket (a ticket: its thread, its pending status).';
COMMENT ON COLUMN helpdesk.automation_rule_due.anchor IS
	'When the condition began: the first unanswered customer (or agent) message, queued_at, the change to pending.';
COMMENT ON COLUMN helpdesk.automation_rule_due.id IS
	'The occurrence: audited as event_pos and part of message actions'' client_msg_id, so a new occurrence sends again.';

CREATE TABLE helpdesk.automation_rule_cursor (
	id        boolean PRIMARY KEY DEFAULT true CHECK (id),
	position  bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
	log_id    uuid
);
INSERT INTO helpdesk.automation_rule_cursor DEFAULT VALUES;
COMMENT ON TABLE helpdesk.automation_rule_cursor IS
	'The rules worker''s position in the event log for automation rules: every event up to it was evaluated.';

SELECT pg_catalog.pg_extension_config_dump('helpdesk.automation_rule', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.automation_rule_run', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.automation_rule_due', '');

CREATE FUNCTION helpdesk.upsert_rule(tenant_id bigint, name text, event text, conditions jsonb,
	actions jsonb, "position" integer DEFAULT 0, enabled boolean DEFAULT true, wait_for interval DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_rule';
COMMENT ON FUNCTION helpdesk.upsert_rule IS
	'Creates or replaces the tenant''s rule of that name (conditions and actions checked); returns its id. Time rules (event time.no_agent_reply, time.queued, time.pending, time.no_customer_reply) need wait_for.';

CREATE FUNCTION helpdesk.delete_rule(tenant_id bigint, name text)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_delete_rule';
COMMENT ON FUNCTION helpdesk.delete_rule IS 'Deletes the rule (and its audit); false when there was none.';

CREATE FUNCTION helpdesk.test_rule(tenant_id bigint, rule jsonb, object jsonb)
RETURNS jsonb LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_test_rule';
COMMENT ON FUNCTION helpdesk.test_rule IS
	'Dry run: {"matched", "conditions": [each test with its actual value and result], "actions": [what would be done]} for rule {"conditions", "actions"} on object {event, message, session, customer, ticket}; changes nothing.';

REVOKE ALL ON FUNCTION helpdesk.upsert_rule, helpdesk.delete_rule, helpdesk.test_rule FROM PUBLIC;
-- ---- issue 20, operations (extension/reports/ files 40-79): metrics(), CSV import, search, retention
-- After the update, key the existing history once: SELECT helpdesk.rebuild_search_index(id) FROM helpdesk.tenant;

-- from extension/reports/40_metrics.sql
-- Prometheus metrics (metrics.c): every series of this database as rows; the
-- bridge's /metrics renders them (bridge/metrics.c).

CREATE FUNCTION helpdesk.metrics()
RETURNS TABLE (metric text, type text, help text, labels jsonb, value double precision)
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_metrics';
COMMENT ON FUNCTION helpdesk.metrics() IS
	'Gauges and counters for Prometheus, one row per series: metric name (helpdesk_ prefix, base units), type (gauge or counter), HELP text, labels (tenant slug, queue external id, state, kind...) and value. Read by helpdesk-bridge at most once per --metrics-interval.';

-- from extension/reports/50_import.sql
-- Bulk import (import.c, import_customer.c, import_rows.c): begin_import()
-- opens an import; the client COPYs its CSV into the kind's staging table
-- (tenant, import id and line number filled in by the column defaults); then
-- run_import() validates every row, records the errors with their line
-- numbers, and upserts by external id: all or nothing, or skipping the
-- invalid rows. Staging rows are removed by run_import; the staging tables
-- are UNLOGGED (a crash empties them: COPY the file again).

CREATE TABLE helpdesk.import (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id           bigint GENERATED BY DEFAULT AS IDENTITY,
	kind         text NOT NULL CHECK (kind IN ('customers', 'agents', 'queues', 'quick_replies')),
	state        text NOT NULL DEFAULT 'loading' CHECK (state IN ('loading', 'applied', 'rejected')),
	skip_invalid boolean,
	rows         bigint CHECK (rows >= 0),
	inserted     bigint CHECK (inserted >= 0),
	updated      bigint CHECK (updated >= 0),
	skipped      bigint CHECK (skipped >= 0),
	created_at   timestamptz NOT NULL DEFAULT now(),
	finished_at  timestamptz,
	PRIMARY KEY (tenant_id, id),
	CHECK ((state = 'loading') = (finished_at IS NULL))
);
COMMENT ON TABLE helpdesk.import IS
	'One CSV bulk import: opened by begin_import, loaded by COPY into the kind''s staging table, finished by run_import.';
COMMENT ON COLUMN helpdesk.import.state IS
	'loading (begun, rows may be COPYed), applied (valid rows upserted), rejected (errors and all-or-nothing: nothing written).';
COMMENT ON COLUMN helpdesk.import.skipped IS 'Invalid rows left out (skip_invalid), or all rows of a rejected import.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.import', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.import_id_seq', '');

CREATE TABLE helpdesk.import_error (
	tenant_id  bigint NOT NULL,
	import_id  bigint NOT NULL,
	line       bigint NOT NULL CHECK (line >= 1),
	field      text,
	message    text NOT NULL CHECK (length(message) BETWEEN 1 AND 1000),
	PRIMARY KEY (tenant_id, import_id, line),
	FOREIGN KEY (tenant_id, import_id) REFERENCES helpdesk.import (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.import_error IS
	'The first error of each invalid row of an import, by line of the CSV (the header is line 1).';
COMMENT ON COLUMN helpdesk.import_error.line IS
	'CSV record number counting the header as 1: the line in the file unless a quoted field spans lines.';
COMMENT ON COLUMN helpdesk.import_error.field IS 'The column at fault, NULL for the row as a whole.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.import_error', '');

-- the staging tables' defaults: the import begun in this session
CREATE FUNCTION helpdesk._import_tenant(kind text) RETURNS bigint
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'hd_import_tenant';
COMMENT ON FUNCTION helpdesk._import_tenant(text) IS
	'Internal (staging column default): the tenant of the import begun in this session; 55000 when none of that kind was begun.';
CREATE FUNCTION helpdesk._import_id(kind text) RETURNS bigint
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'hd_import_id';
COMMENT ON FUNCTION helpdesk._import_id(text) IS
	'Internal (staging column default): the id of the import begun in this session.';
CREATE FUNCTION helpdesk._import_line() RETURNS bigint
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'hd_import_line';
COMMENT ON FUNCTION helpdesk._import_line() IS
	'Internal (staging column default): the next CSV line of the import begun in this session (the first data row is line 2).';

CREATE UNLOGGED TABLE helpdesk.import_customer (
	tenant_id    bigint NOT NULL DEFAULT helpdesk._import_tenant('customers'),
	import_id    bigint NOT NULL DEFAULT helpdesk._import_id('customers'),
	line         bigint NOT NULL DEFAULT helpdesk._import_line() CHECK (line >= 2),
	external_id  text,
	display_name text,
	vip_level    text,
	language     text,
	attributes   text,
	PRIMARY KEY (tenant_id, import_id, line)
);
COMMENT ON TABLE helpdesk.import_customer IS
	'Staging for a customers import: COPY helpdesk.import_customer (external_id, display_name, vip_level, language, attributes) FROM STDIN (FORMAT csv, HEADER) after begin_import. Every column text: run_import validates.';
COMMENT ON COLUMN helpdesk.import_customer.attributes IS 'A JSON object, merged key by key into the stored attributes (null removes a key).';

CREATE UNLOGGED TABLE helpdesk.import_agent (
	tenant_id    bigint NOT NULL DEFAULT helpdesk._import_tenant('agents'),
	import_id    bigint NOT NULL DEFAULT helpdesk._import_id('agents'),
	line         bigint NOT NULL DEFAULT helpdesk._import_line() CHECK (line >= 2),
	external_id  text,
	display_name text,
	skills       text,
	languages    text,
	max_sessions text,
	enabled      text,
	PRIMARY KEY (tenant_id, import_id, line)
);
COMMENT ON TABLE helpdesk.import_agent IS
	'Staging for an agents import: columns as upsert_agent''s (skills a JSON object, languages separated by ;).';

CREATE UNLOGGED TABLE helpdesk.import_queue (
	tenant_id    bigint NOT NULL DEFAULT helpdesk._import_tenant('queues'),
	import_id    bigint NOT NULL DEFAULT helpdesk._import_id('queues'),
	line         bigint NOT NULL DEFAULT helpdesk._import_line() CHECK (line >= 2),
	external_id  text,
	name         text,
	required_skills    text,
	required_languages text,
	strategy     text,
	offer_timeout text,
	max_wait     text,
	is_default   text,
	PRIMARY KEY (tenant_id, import_id, line)
);
COMMENT ON TABLE helpdesk.import_queue IS
	'Staging for a queues import: columns as upsert_queue''s (lists separated by ;, intervals as PostgreSQL reads them, e.g. 30 s).';

CREATE UNLOGGED TABLE helpdesk.import_quick_reply (
	tenant_id    bigint NOT NULL DEFAULT helpdesk._import_tenant('quick_replies'),
	import_id    bigint NOT NULL DEFAULT helpdesk._import_id('quick_replies'),
	line         bigint NOT NULL DEFAULT helpdesk._import_line() CHECK (line >= 2),
	shortcode    text,
	title        text,
	body         text,
	category     text,
	language     text,
	agent_external_id text,
	PRIMARY KEY (tenant_id, import_id, line)
);
COMMENT ON TABLE helpdesk.import_quick_reply IS
	'Staging for a quick replies import: columns as upsert_quick_reply''s; agent_external_id empty for a shared one.';

CREATE FUNCTION helpdesk.begin_import(tenant_id bigint, kind text)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_begin_import';
COMMENT ON FUNCTION helpdesk.begin_import IS
	'Opens an import of customers, agents, queues or quick_replies and makes it this session''s: the next COPY into the kind''s staging table fills tenant, import id and line numbers. Returns the import id.';

CREATE FUNCTION helpdesk.run_import(tenant_id bigint, import_id bigint, skip_invalid boolean DEFAULT false)
RETURNS TABLE (state text, rows bigint, inserted bigint, updated bigint, skipped bigint, errors bigint)
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_run_import';
COMMENT ON FUNCTION helpdesk.run_import IS
	'Validates every staged row of the import (errors by line in import_error), then upserts by external id: all or nothing (state rejected when any row is invalid), or with skip_invalid the valid rows only. Removes the staged rows.';

CREATE FUNCTION helpdesk.import_errors(tenant_id bigint, import_id bigint)
RETURNS TABLE (line bigint, field text, message text)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_import_errors';
COMMENT ON FUNCTION helpdesk.import_errors IS 'The errors of an import by line.';

-- from extension/reports/60_search.sql
-- Message search (search_tokens.c, search.c): the keys of every chat and
-- ticket message in a GIN index beside the messages, filled from the event
-- log by index_messages() (run by pg_cron every minute: docs/operations.md).

CREATE TABLE helpdesk.message_search (
	tenant_id   bigint NOT NULL,
	source      text NOT NULL CHECK (source IN ('chat', 'ticket')),
	message_id  bigint NOT NULL,
	customer_id bigint NOT NULL,
	created_at  timestamptz NOT NULL,
	keys        text[] NOT NULL,
	PRIMARY KEY (tenant_id, source, message_id)
);
CREATE INDEX message_search_keys ON helpdesk.message_search USING gin (keys);
CREATE INDEX message_search_recent ON helpdesk.message_search (tenant_id, created_at DESC, message_id DESC);
-- one customer's history (search_messages with customer_id): newest first without the GIN
CREATE INDEX message_search_by_customer ON helpdesk.message_search (tenant_id, customer_id, created_at DESC);
COMMENT ON TABLE helpdesk.message_search IS
	'Search keys of chat (message) and ticket (ticket_message) messages, kept by index_messages() from the event log; removed with their messages by retention.';
COMMENT ON COLUMN helpdesk.message_search.keys IS
	'search_tokens(tenant_id, body): <tenant>w<word> for words, <tenant>u<c> and <tenant>b<c1c2> for CJK characters and neighbour pairs.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.message_search', '');

-- Not dumped and without a tenant (like webhook_cursor): the index job's place in the log.
CREATE TABLE helpdesk.search_cursor (
	id        boolean PRIMARY KEY DEFAULT true CHECK (id),
	position  bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
	log_id    uuid NOT NULL
);
COMMENT ON TABLE helpdesk.search_cursor IS
	'The event log position up to which index_messages() has keyed messages (one row).';
INSERT INTO helpdesk.search_cursor (position, log_id)
	SELECT helpdesk.event_position(), helpdesk.event_log_id();

CREATE FUNCTION helpdesk.search_tokens(tenant_id bigint, body text)
RETURNS text[] LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hd_search_tokens';
COMMENT ON FUNCTION helpdesk.search_tokens(bigint, text) IS
	'The search keys of a text for a tenant: lowercased words, and every character and neighbour pair of CJK runs.';

CREATE FUNCTION helpdesk.index_messages(max_events integer DEFAULT 100000)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_index_messages';
COMMENT ON FUNCTION helpdesk.index_messages(integer) IS
	'Keys the messages of up to max_events events after the search cursor into message_search (batches of 1,000). Scheduled by pg_cron; returns the messages keyed.';

CREATE FUNCTION helpdesk.rebuild_search_index(tenant_id bigint)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_rebuild_search_index';
COMMENT ON FUNCTION helpdesk.rebuild_search_index(bigint) IS
	'Keys every chat and ticket message of the tenant again (after an upgrade or a lost log position). One transaction.';

CREATE FUNCTION helpdesk.search_messages(tenant_id bigint, query text,
	customer_id bigint DEFAULT NULL, "from" timestamptz DEFAULT NULL,
	"to" timestamptz DEFAULT NULL, max_rows integer DEFAULT 50)
RETURNS TABLE (source text, message_id bigint, parent_id bigint, customer_id bigint,
	sender_kind text, created_at timestamptz, body text)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_search_messages';
COMMENT ON FUNCTION helpdesk.search_messages IS
	'A tenant''s chat and ticket messages containing every word (English: whole words, any case) and every CJK run (as written) of the query, newest first; optionally one customer''s, within [from, to). parent_id: the session (chat) or ticket. Sees messages once index_messages() has passed them.';

-- from extension/reports/70_retention.sql
-- Message retention (retention.c): a tenant's chat and ticket messages older
-- than its setting are deleted in short batches by run_retention(), a
-- procedure that commits after each batch, scheduled with pg_cron
-- (docs/operations.md). Tenants without a setting keep everything.

CREATE TABLE helpdesk.retention_setting (
	tenant_id     bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	keep_messages interval NOT NULL
	              CHECK (keep_messages >= '1 day' AND keep_messages <= '100 years'),
	events_done   bigint NOT NULL DEFAULT 0 CHECK (events_done >= 0),
	updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.retention_setting IS
	'How long a tenant keeps its chat and ticket messages (seed 001''s deployments: 7 days); no row: forever.';
COMMENT ON COLUMN helpdesk.retention_setting.events_done IS
	'Event id up to which this tenant''s events older than its retention had their message text removed.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.retention_setting', '');

CREATE TABLE helpdesk.retention_run (
	tenant_id       bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	id              bigint GENERATED BY DEFAULT AS IDENTITY,
	started_at      timestamptz NOT NULL,
	finished_at     timestamptz NOT NULL,
	cutoff          timestamptz NOT NULL,
	batches         integer NOT NULL CHECK (batches >= 0),
	chat_messages   bigint NOT NULL CHECK (chat_messages >= 0),
	ticket_messages bigint NOT NULL CHECK (ticket_messages >= 0),
	events          bigint NOT NULL CHECK (events >= 0),
	uploads         bigint NOT NULL CHECK (uploads >= 0),
	complete        boolean NOT NULL,
	PRIMARY KEY (tenant_id, id),
	CHECK (finished_at >= started_at)
);
CREATE INDEX retention_run_by_time ON helpdesk.retention_run (finished_at);
COMMENT ON TABLE helpdesk.retention_run IS
	'What each retention run deleted for a tenant, in how many batches (one transaction each).';
COMMENT ON COLUMN helpdesk.retention_run.complete IS
	'false: the run stopped at max_batches before all expired rows were gone; the next run goes on.';
COMMENT ON COLUMN helpdesk.retention_run.uploads IS
	'Uploads (helpdesk.upload, where the uploads subsystem is installed) deleted with the messages that referenced them, unless another message still does.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.retention_run', '');
SELECT pg_catalog.pg_extension_config_dump('helpdesk.retention_run_id_seq', '');

CREATE FUNCTION helpdesk.set_message_retention(tenant_id bigint, keep interval)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_message_retention';
COMMENT ON FUNCTION helpdesk.set_message_retention(bigint, interval) IS
	'Keep the tenant''s chat and ticket messages for keep (1 day .. 100 years); NULL: forever (the default).';

CREATE FUNCTION helpdesk.retention_batch(tenant_id bigint, batch_size integer DEFAULT 5000,
	chat_after bigint DEFAULT 0, ticket_after bigint DEFAULT 0)
RETURNS TABLE (chat_messages bigint, ticket_messages bigint, events bigint, uploads bigint, more boolean,
	chat_last bigint, ticket_last bigint)
LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_retention_batch';
COMMENT ON FUNCTION helpdesk.retention_batch(bigint, integer, bigint, bigint) IS
	'One batch of retention for a tenant: the next batch_size of its chat and ticket messages by primary key after chat_after and ticket_after (so the cost does not grow with the table), those past the retention deleted with their search keys and uploads, and the message text of as many of its old events. more: the batch was full and had expired rows; chat_last and ticket_last: where the next batch starts.';

CREATE PROCEDURE helpdesk.run_retention(batch_size integer DEFAULT 5000, max_batches integer DEFAULT 1000)
LANGUAGE c
AS 'MODULE_PATHNAME', 'hd_run_retention';
COMMENT ON PROCEDURE helpdesk.run_retention(integer, integer) IS
	'Retention for every tenant with a setting: retention_batch() until done or max_batches, committing after each batch (CALL it outside a transaction block: pg_cron does). Each tenant''s run is logged in retention_run.';
REVOKE ALL ON FUNCTION helpdesk.metrics(), helpdesk._import_tenant(text), helpdesk._import_id(text),
	helpdesk._import_line(), helpdesk.begin_import(bigint, text), helpdesk.run_import(bigint, bigint, boolean),
	helpdesk.import_errors(bigint, bigint), helpdesk.search_tokens(bigint, text),
	helpdesk.index_messages(integer), helpdesk.rebuild_search_index(bigint),
	helpdesk.search_messages(bigint, text, bigint, timestamptz, timestamptz, integer),
	helpdesk.set_message_retention(bigint, interval),
	helpdesk.retention_batch(bigint, integer, bigint, bigint) FROM PUBLIC;
-- reports/ (issue 20, P1): rollups, report functions, dashboard views (extension/reports/00..30).

-- extension/reports/00_rollup_schema.sql
-- Reports (P1 part, files 00..39): the settings the definitions need, the
-- rollup tables the rollup worker keeps from the event log, and its cursor.
-- Definitions: docs/reports.md. Buckets are quarter hours in UTC
-- (helpdesk._bucket): every time zone in use today is offset from UTC by a
-- multiple of 15 minutes, so a day or an hour in any tenant's zone is a
-- whole number of buckets.

ALTER TABLE helpdesk.tenant
	ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);
COMMENT ON COLUMN helpdesk.tenant.time_zone IS
	'IANA time zone the tenant''s reports count hours and days in (set_report_settings checks it).';

ALTER TABLE helpdesk.queue
	ADD COLUMN short_abandon interval NOT NULL DEFAULT '10 seconds'
		CHECK (short_abandon >= '0 seconds' AND short_abandon <= '1 hour'),
	ADD COLUMN service_level_threshold interval NOT NULL DEFAULT '60 seconds'
		CHECK (service_level_threshold > '0 seconds' AND service_level_threshold <= '1 day');
COMMENT ON COLUMN helpdesk.queue.short_abandon IS
	'Reports: a customer who leaves the queue within this long is a short abandon, left out of abandonment and service level.';
COMMENT ON COLUMN helpdesk.queue.service_level_threshold IS
	'Reports: a session answered (held by an agent) within this long after entering the queue meets the service level.';

-- the first time a session entered a queue (born queued: its creation; from
-- the bot: the hand-off); queued_at is overwritten by every requeue
ALTER TABLE helpdesk.session ADD COLUMN first_queued_at timestamptz;
COMMENT ON COLUMN helpdesk.session.first_queued_at IS
	'When the session first entered a queue (creation, or the bot hand-off / request_agent); first response, wait and service level count from here.';

-- what the rollup worker's bucket recomputes and the reports' raw variants read
CREATE INDEX session_by_created ON helpdesk.session (tenant_id, created_at);
CREATE INDEX session_assignment_by_started ON helpdesk.session_assignment (tenant_id, started_at);
CREATE INDEX session_assignment_by_session ON helpdesk.session_assignment (tenant_id, session_id);
CREATE INDEX ticket_by_created ON helpdesk.ticket (tenant_id, created_at);
CREATE INDEX ticket_by_resolved ON helpdesk.ticket (tenant_id, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX ticket_sla_by_stopped ON helpdesk.ticket_sla (tenant_id, stopped_at) WHERE outcome IS NOT NULL;

CREATE FUNCTION helpdesk._bucket(t timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.date_bin('15 minutes', t, '2000-01-01 00:00:00+00');
COMMENT ON FUNCTION helpdesk._bucket IS
	'The rollup bucket of an instant: its quarter hour in UTC.';

-- Session facts: one row per closed session, counted in the bucket of its
-- creation, under the queue and agent it had when it closed.
CREATE TABLE helpdesk.rollup_session (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	sessions     bigint NOT NULL CHECK (sessions > 0),
	bot_sessions bigint NOT NULL,
	bot_resolved bigint NOT NULL,
	bot_handoffs bigint NOT NULL,
	queued       bigint NOT NULL,
	answered     bigint NOT NULL,
	resolved     bigint NOT NULL,
	escalated    bigint NOT NULL,
	abandoned    bigint NOT NULL,
	short_abandoned bigint NOT NULL,
	sl_eligible  bigint NOT NULL,
	sl_met       bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	wait_count   bigint NOT NULL,
	wait_sum_us  bigint NOT NULL,
	handle_count bigint NOT NULL,
	handle_sum_us bigint NOT NULL,
	reply_count  bigint NOT NULL,
	reply_sum_us bigint NOT NULL,
	abandon_wait_sum_us bigint NOT NULL,
	transfers    bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (bot_sessions <= sessions AND queued <= sessions AND answered <= queued
	       AND sl_met <= sl_eligible AND short_abandoned <= abandoned)
);
COMMENT ON TABLE helpdesk.rollup_session IS
	'Additive session figures per quarter hour (UTC) of creation, tenant, queue, agent, issue type and channel; closed sessions only. Kept by the rollup worker, recomputed by rebuild_rollups; definitions in docs/reports.md.';
COMMENT ON COLUMN helpdesk.rollup_session.queue_id IS 'The session''s queue when it closed; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_session.agent_id IS 'The agent holding it when it closed; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_session.issue_type IS 'The session''s issue type; empty: none.';
COMMENT ON COLUMN helpdesk.rollup_session.frt_sum_us IS 'Sum of first response times in microseconds (frt_count sessions).';
COMMENT ON COLUMN helpdesk.rollup_session.sl_eligible IS 'Queued sessions less short abandons: the service level''s denominator.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_session', '');

-- Offer and assignment facts of closed sessions, in the bucket the offer or
-- assignment started, under its agent and queue.
CREATE TABLE helpdesk.rollup_offer (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id > 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	assignments  bigint NOT NULL CHECK (assignments > 0),
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (offers_accepted + offers_declined + offers_timed_out <= offers)
);
COMMENT ON TABLE helpdesk.rollup_offer IS
	'Additive offer and assignment figures of closed sessions per quarter hour (UTC) the offer or assignment started, tenant, queue and agent (the assignment''s), issue type and channel (the session''s at close).';
COMMENT ON COLUMN helpdesk.rollup_offer.issue_type IS 'The session''s issue type when it closed; empty: none.';
COMMENT ON COLUMN helpdesk.rollup_offer.held IS 'Assignments the agent held (accepted offers, direct assignments, claims).';
COMMENT ON COLUMN helpdesk.rollup_offer.held_sum_us IS 'Sum of accepted -> ended of held assignments, microseconds (the agent''s handling time).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_offer', '');

-- Ticket facts: created (and first response) in the bucket of creation,
-- resolved (and resolution times) in the bucket of resolved_at.
CREATE TABLE helpdesk.rollup_ticket (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	created      bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	resolved     bigint NOT NULL,
	resolution_sum_us bigint NOT NULL,
	resolution_business_sum_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, queue_id, agent_id, issue_type, channel),
	CHECK (created > 0 OR resolved > 0)
);
COMMENT ON TABLE helpdesk.rollup_ticket IS
	'Additive ticket figures per quarter hour (UTC): created and first response by creation, resolved and resolution time (calendar and business) by resolved_at; dimensions as the ticket has them now.';
COMMENT ON COLUMN helpdesk.rollup_ticket.agent_id IS 'The assignee; 0: none.';
COMMENT ON COLUMN helpdesk.rollup_ticket.resolution_business_sum_us IS
	'Sum of business_time_between(created, resolved) under the calendar of the ticket''s SLA policy (24/7 without one), microseconds.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket', '');

CREATE TABLE helpdesk.rollup_sla (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	policy_id    bigint NOT NULL CHECK (policy_id >= 0),
	target       text NOT NULL CHECK (target IN ('first_response', 'next_response', 'resolution')),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	hit          bigint NOT NULL,
	missed       bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, policy_id, target, queue_id, agent_id, issue_type, channel),
	CHECK (hit + missed > 0)
);
COMMENT ON TABLE helpdesk.rollup_sla IS
	'SLA targets that stopped with an outcome, per quarter hour (UTC) of stopped_at, policy and target, and the ticket''s queue, assignee, issue type and channel as it has them now.';
COMMENT ON COLUMN helpdesk.rollup_sla.policy_id IS 'The policy of the clock; 0: none (the policy was deleted).';
COMMENT ON COLUMN helpdesk.rollup_sla.agent_id IS 'The ticket''s assignee; 0: none.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_sla', '');

CREATE TABLE helpdesk.rollup_csat (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	target       text NOT NULL CHECK (target IN ('session', 'ticket')),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	agent_id     bigint NOT NULL CHECK (agent_id >= 0),
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	requested    bigint NOT NULL CHECK (requested > 0),
	responded    bigint NOT NULL,
	score_sum    bigint NOT NULL,
	score_1      bigint NOT NULL,
	score_2      bigint NOT NULL,
	score_3      bigint NOT NULL,
	score_4      bigint NOT NULL,
	score_5      bigint NOT NULL,
	PRIMARY KEY (tenant_id, bucket, target, queue_id, agent_id, issue_type, channel),
	CHECK (responded <= requested AND score_1 + score_2 + score_3 + score_4 + score_5 = responded)
);
COMMENT ON TABLE helpdesk.rollup_csat IS
	'Surveys per quarter hour (UTC) they were asked, target, queue and agent (the survey''s), issue type and channel (its session''s or ticket''s): asked, answered, score sum and distribution.';
COMMENT ON COLUMN helpdesk.rollup_csat.issue_type IS 'The issue type of the survey''s session or ticket (a ticket''s as it is now); empty: none.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_csat', '');

-- a ticket's facts move between buckets (a reopen clears resolved_at, an
-- SLA clock stops later): the buckets it was last counted in, so the worker
-- recomputes the old ones too
CREATE TABLE helpdesk.rollup_ticket_seen (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	ticket_id    bigint NOT NULL,
	buckets      timestamptz[] NOT NULL CHECK (cardinality(buckets) BETWEEN 1 AND 10000),
	PRIMARY KEY (tenant_id, ticket_id)
);
COMMENT ON TABLE helpdesk.rollup_ticket_seen IS
	'The buckets each ticket was counted in at its last rollup, so a change that moves a fact (reopen, SLA stop) recomputes the bucket it left.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket_seen', '');

CREATE TABLE helpdesk.rollup_cursor (
	id          boolean PRIMARY KEY DEFAULT true CHECK (id),
	position    bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
	log_id      uuid,
	updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO helpdesk.rollup_cursor DEFAULT VALUES;
COMMENT ON TABLE helpdesk.rollup_cursor IS
	'How far the rollup worker has read the event log (a position of helpdesk.event_log_id()); moved in the transaction that writes the rollups.';

-- Message retention (70_retention.sql) deletes a tenant's old messages, from
-- which the session figures of their buckets were computed: the buckets
-- before the tenant's horizon are kept as they are and never recomputed
-- (_rollup_recompute skips them, rebuild_rollups refuses them). Retention
-- moves it to its cutoff (rounded up to a quarter hour) in the transaction
-- that deletes.
CREATE TABLE helpdesk.rollup_horizon (
	tenant_id    bigint PRIMARY KEY REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	horizon      timestamptz NOT NULL CHECK (horizon = helpdesk._bucket(horizon)),
	updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.rollup_horizon IS
	'Per tenant: rollup buckets before horizon are kept and never recomputed (message retention pruned the raw rows they were computed from). Moved forward only, by retention.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_horizon', '');

-- sessions from before 0.2.0: the bot hand-off, else the queue entry they still show
UPDATE helpdesk.session SET first_queued_at = coalesce(bot_handoff_at, queued_at)
WHERE first_queued_at IS NULL AND (bot_handoff_at IS NOT NULL OR queued_at IS NOT NULL);

-- extension/reports/05_occupancy.sql
-- Occupancy (handling time / time online): the history of agent status the
-- rollup worker records from the event log's agent.status events (not a
-- trigger: a status change's transaction writes nothing more), and the
-- quarter-hour rollup of time online and handling time. Definitions:
-- docs/reports.md "Occupancy".

CREATE TABLE helpdesk.agent_status_interval (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	agent_id     bigint NOT NULL,
	event_id     bigint NOT NULL,
	status       text NOT NULL CHECK (status IN ('online', 'away', 'busy', 'offline')),
	started_at   timestamptz NOT NULL,
	ended_at     timestamptz,
	PRIMARY KEY (tenant_id, agent_id, event_id),
	CHECK (ended_at >= started_at)
);
COMMENT ON TABLE helpdesk.agent_status_interval IS
	'Agent status history: one row per agent.status event (its status from that event until the agent''s next one), written by the rollup worker from the event log. Kept when events are pruned.';
COMMENT ON COLUMN helpdesk.agent_status_interval.event_id IS 'The agent.status event (audience agent) that started the interval.';
COMMENT ON COLUMN helpdesk.agent_status_interval.started_at IS
	'The event''s created_at, or the previous interval''s start when that is later (a transaction that started earlier committed its change later).';
COMMENT ON COLUMN helpdesk.agent_status_interval.ended_at IS 'Start of the agent''s next interval; NULL: the current status.';
CREATE UNIQUE INDEX agent_status_interval_open ON helpdesk.agent_status_interval (tenant_id, agent_id)
	WHERE ended_at IS NULL;
CREATE INDEX agent_status_interval_by_ended ON helpdesk.agent_status_interval (tenant_id, ended_at);
SELECT pg_catalog.pg_extension_config_dump('helpdesk.agent_status_interval', '');

-- what an occupancy bucket recompute reads: held assignments by their end
CREATE INDEX session_assignment_by_ended ON helpdesk.session_assignment (tenant_id, ended_at)
	WHERE accepted_at IS NOT NULL;

-- Per quarter hour (UTC), tenant, agent and queue: the agent's time online
-- in the bucket (on the queue 0 row only) and its handling time in the
-- queue's sessions; queue_online_us repeats the agent's time online on each
-- row where it handled (a queue's occupancy: its handling time over the
-- time online of the agents who handled it, bucket by bucket).
CREATE TABLE helpdesk.rollup_occupancy (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	bucket       timestamptz NOT NULL CHECK (bucket = helpdesk._bucket(bucket)),
	agent_id     bigint NOT NULL CHECK (agent_id > 0),
	queue_id     bigint NOT NULL CHECK (queue_id >= 0),
	online_us    bigint NOT NULL CHECK (online_us BETWEEN 0 AND 900000000),
	handling_us  bigint NOT NULL CHECK (handling_us >= 0),
	queue_online_us bigint NOT NULL CHECK (queue_online_us BETWEEN 0 AND 900000000),
	PRIMARY KEY (tenant_id, bucket, agent_id, queue_id),
	CHECK (queue_id = 0 OR online_us = 0),
	CHECK (online_us > 0 OR handling_us > 0)
);
COMMENT ON TABLE helpdesk.rollup_occupancy IS
	'Occupancy figures per quarter hour (UTC), tenant, agent and queue: time online (status online or busy, ended intervals) and handling time (held assignments of closed sessions), both the part inside the bucket.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.queue_id IS 'The assignments'' queue; 0: none, and the row that carries online_us.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.online_us IS 'The agent''s time online inside the bucket, microseconds (queue 0 row only).';
COMMENT ON COLUMN helpdesk.rollup_occupancy.handling_us IS
	'Sum over the agent''s held assignments in the queue of their time inside the bucket (concurrent chats each count), microseconds.';
COMMENT ON COLUMN helpdesk.rollup_occupancy.queue_online_us IS
	'The agent''s time online inside the bucket when it handled in this queue in the bucket, else 0 (denominator of a queue''s occupancy).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_occupancy', '');

-- extension/reports/10_rollup_facts.sql
-- The raw truth: each rollup table's rows for a tenant and a range of
-- buckets, computed straight from the raw tables (session, message,
-- session_assignment, ticket, ticket_sla, csat). The rollup worker and
-- rebuild_rollups store exactly these rows; the reports' source => 'raw'
-- aggregates them instead of the stored ones. Definitions: docs/reports.md.

-- microseconds from a to b, exactly (NULL when either is)
CREATE FUNCTION helpdesk._us(a timestamptz, b timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (EXTRACT(epoch FROM b - a) * 1000000)::bigint;
COMMENT ON FUNCTION helpdesk._us IS 'Whole microseconds from a to b (reports'' sums).';

-- one row per closed session created in [b0, b1)
CREATE FUNCTION helpdesk._session_facts(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS TABLE (tenant_id bigint, session_id bigint, bucket timestamptz, queue_id bigint,
	agent_id bigint, issue_type text, channel text, bot boolean, bot_resolved boolean,
	bot_handoff boolean, queued boolean, answered boolean, resolved boolean, escalated boolean,
	abandoned boolean, short_abandoned boolean, sl_eligible boolean, sl_met boolean,
	frt_us bigint, wait_us bigint, handle_us bigint, reply_count bigint, reply_sum_us bigint,
	abandon_wait_us bigint, transfers bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT s.tenant_id, s.id, helpdesk._bucket(s.created_at),
	       coalesce(s.queue_id, 0), coalesce(s.agent_id, 0), coalesce(s.issue_type, ''), s.channel,
	       s.first_queued_at IS DISTINCT FROM s.created_at OR s.bot_handoff_at IS NOT NULL,
	       s.first_queued_at IS NULL,
	       s.first_queued_at > s.created_at OR s.bot_handoff_at IS NOT NULL,
	       s.first_queued_at IS NOT NULL,
	       a.first_held IS NOT NULL,
	       a.first_held IS NOT NULL AND NOT esc.e,
	       esc.e,
	       ab.ab,
	       ab.ab AND s.closed_at - s.first_queued_at < coalesce(q.short_abandon, '10 seconds'),
	       s.first_queued_at IS NOT NULL
	         AND NOT (ab.ab AND s.closed_at - s.first_queued_at < coalesce(q.short_abandon, '10 seconds')),
	       a.first_held IS NOT NULL
	         AND a.first_held - s.first_queued_at <= coalesce(q.service_level_threshold, '60 seconds'),
	       helpdesk._us(s.first_queued_at, fr.first_reply),
	       helpdesk._us(s.first_queued_at, a.first_held),
	       helpdesk._us(a.first_held, s.closed_at),
	       rp.n, rp.sum_us,
	       CASE WHEN ab.ab THEN helpdesk._us(s.first_queued_at, s.closed_at) END,
	       a.transfers
	FROM helpdesk.session s
	LEFT JOIN helpdesk.queue q ON q.tenant_id = s.tenant_id AND q.id = s.queue_id
	CROSS JOIN LATERAL (
		SELECT min(sa.accepted_at) AS first_held,
		       count(*) FILTER (WHERE sa.end_reason = 'transferred') AS transfers
		FROM helpdesk.session_assignment sa
		WHERE sa.tenant_id = s.tenant_id AND sa.session_id = s.id) a
	CROSS JOIN LATERAL (
		SELECT min(m.created_at) AS first_reply
		FROM helpdesk.message m
		WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id AND m.sender_kind = 'agent'
		  AND s.first_queued_at IS NOT NULL) fr
	CROSS JOIN LATERAL (
		-- reply pairs: the first customer message after an agent message (or
		-- the queue entry) and the next agent message; g = agent messages before
		SELECT count(*) AS n, coalesce(sum(helpdesk._us(p.customer_at, p.agent_at)), 0) AS sum_us
		FROM (SELECT min(g.created_at) FILTER (WHERE g.sender_kind = 'customer') AS customer_at,
		             min(g.created_at) FILTER (WHERE g.sender_kind = 'agent') AS agent_at
		      FROM (SELECT m.sender_kind, m.created_at,
		                   count(*) FILTER (WHERE m.sender_kind = 'agent')
		                     OVER (ORDER BY m.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS grp
		            FROM helpdesk.message m
		            WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id
		              AND m.sender_kind IN ('customer', 'agent')
		              AND m.created_at >= s.first_queued_at) g
		      GROUP BY g.grp) p
		WHERE p.customer_at IS NOT NULL AND p.agent_at IS NOT NULL) rp
	CROSS JOIN LATERAL (
		SELECT EXISTS (SELECT 1 FROM helpdesk.ticket tk
		               WHERE tk.tenant_id = s.tenant_id AND tk.session_id = s.id) AS e) esc
	CROSS JOIN LATERAL (
		SELECT s.first_queued_at IS NOT NULL AND a.first_held IS NULL
		       AND s.closed_by = 'customer' AS ab) ab
	WHERE s.tenant_id = t AND s.created_at >= b0 AND s.created_at < b1 AND s.state = 'closed';
END;
COMMENT ON FUNCTION helpdesk._session_facts IS
	'Raw truth: the report figures of each closed session created in [b0, b1) (docs/reports.md).';

CREATE FUNCTION helpdesk._fact_session(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_session
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT f.tenant_id, f.bucket, f.queue_id, f.agent_id, f.issue_type, f.channel,
	       count(*), count(*) FILTER (WHERE f.bot), count(*) FILTER (WHERE f.bot_resolved),
	       count(*) FILTER (WHERE f.bot_handoff), count(*) FILTER (WHERE f.queued),
	       count(*) FILTER (WHERE f.answered), count(*) FILTER (WHERE f.resolved),
	       count(*) FILTER (WHERE f.escalated), count(*) FILTER (WHERE f.abandoned),
	       count(*) FILTER (WHERE f.short_abandoned), count(*) FILTER (WHERE f.sl_eligible),
	       count(*) FILTER (WHERE f.sl_met),
	       count(f.frt_us), coalesce(sum(f.frt_us), 0),
	       count(f.wait_us), coalesce(sum(f.wait_us), 0),
	       count(f.handle_us), coalesce(sum(f.handle_us), 0),
	       sum(f.reply_count), sum(f.reply_sum_us),
	       coalesce(sum(f.abandon_wait_us) FILTER (WHERE NOT f.short_abandoned), 0),
	       sum(f.transfers)
	FROM helpdesk._session_facts(t, b0, b1) f
	GROUP BY f.tenant_id, f.bucket, f.queue_id, f.agent_id, f.issue_type, f.channel;
END;
COMMENT ON FUNCTION helpdesk._fact_session IS
	'Raw truth: rollup_session rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_offer(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_offer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT sa.tenant_id, helpdesk._bucket(sa.started_at), coalesce(sa.queue_id, 0), sa.agent_id,
	       coalesce(s.issue_type, ''), s.channel, count(*),
	       count(*) FILTER (WHERE sa.kind = 'offer'),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NOT NULL),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NULL AND sa.end_reason = 'declined'),
	       count(*) FILTER (WHERE sa.kind = 'offer' AND sa.accepted_at IS NULL AND sa.end_reason = 'timeout'),
	       count(*) FILTER (WHERE sa.accepted_at IS NOT NULL),
	       coalesce(sum(helpdesk._us(sa.accepted_at, sa.ended_at)) FILTER (WHERE sa.accepted_at IS NOT NULL), 0),
	       count(*) FILTER (WHERE sa.end_reason = 'transferred')
	FROM helpdesk.session_assignment sa
	JOIN helpdesk.session s ON s.tenant_id = sa.tenant_id AND s.id = sa.session_id
	WHERE sa.tenant_id = t AND sa.started_at >= b0 AND sa.started_at < b1 AND s.state = 'closed'
	GROUP BY 1, 2, 3, 4, 5, 6;
END;
COMMENT ON FUNCTION helpdesk._fact_offer IS
	'Raw truth: rollup_offer rows of a tenant for the buckets in [b0, b1) (assignments of closed sessions).';

CREATE FUNCTION helpdesk._fact_ticket(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_ticket
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT x.tenant_id, x.bucket, x.queue_id, x.agent_id, x.issue_type, x.channel,
	       sum(x.created), sum(x.frt_count), sum(x.frt_sum_us), sum(x.resolved),
	       sum(x.res_us), sum(x.res_business_us)
	FROM (
		SELECT tk.tenant_id, helpdesk._bucket(tk.created_at) AS bucket, coalesce(tk.queue_id, 0) AS queue_id,
		       coalesce(tk.assignee_id, 0) AS agent_id, coalesce(tk.issue_type, '') AS issue_type,
		       tk.channel, 1 AS created, (tk.first_response_at IS NOT NULL)::int AS frt_count,
		       coalesce(helpdesk._us(tk.created_at, tk.first_response_at), 0) AS frt_sum_us,
		       0 AS resolved, 0::bigint AS res_us, 0::bigint AS res_business_us
		FROM helpdesk.ticket tk
		WHERE tk.tenant_id = t AND tk.created_at >= b0 AND tk.created_at < b1
		UNION ALL
		SELECT tk.tenant_id, helpdesk._bucket(tk.resolved_at), coalesce(tk.queue_id, 0),
		       coalesce(tk.assignee_id, 0), coalesce(tk.issue_type, ''), tk.channel,
		       0, 0, 0, 1, helpdesk._us(tk.created_at, tk.resolved_at),
		       (EXTRACT(epoch FROM CASE WHEN p.calendar_id IS NULL THEN greatest(tk.resolved_at - tk.created_at, '0 s')
		                                 ELSE helpdesk.business_time_between(tk.tenant_id, p.calendar_id,
		                                                                     tk.created_at, tk.resolved_at) END)
		        * 1000000)::bigint
		FROM helpdesk.ticket tk
		LEFT JOIN helpdesk.sla_policy p ON p.tenant_id = tk.tenant_id AND p.id = tk.sla_policy_id
		WHERE tk.tenant_id = t AND tk.resolved_at >= b0 AND tk.resolved_at < b1) x
	GROUP BY 1, 2, 3, 4, 5, 6;
END;
COMMENT ON FUNCTION helpdesk._fact_ticket IS
	'Raw truth: rollup_ticket rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_sla(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_sla
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT ts.tenant_id, helpdesk._bucket(ts.stopped_at), coalesce(ts.policy_id, 0), ts.target,
	       coalesce(tk.queue_id, 0), coalesce(tk.assignee_id, 0), coalesce(tk.issue_type, ''), tk.channel,
	       count(*) FILTER (WHERE ts.outcome = 'hit'), count(*) FILTER (WHERE ts.outcome = 'missed')
	FROM helpdesk.ticket_sla ts
	JOIN helpdesk.ticket tk ON tk.tenant_id = ts.tenant_id AND tk.id = ts.ticket_id
	WHERE ts.tenant_id = t AND ts.stopped_at >= b0 AND ts.stopped_at < b1 AND ts.outcome IS NOT NULL
	GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
END;
COMMENT ON FUNCTION helpdesk._fact_sla IS
	'Raw truth: rollup_sla rows of a tenant for the buckets in [b0, b1).';

CREATE FUNCTION helpdesk._fact_csat(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_csat
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT c.tenant_id, helpdesk._bucket(c.requested_at), c.target, coalesce(c.queue_id, 0),
	       coalesce(c.agent_id, 0), coalesce(s.issue_type, tk.issue_type, ''), coalesce(s.channel, tk.channel),
	       count(*), count(c.score), coalesce(sum(c.score), 0),
	       count(*) FILTER (WHERE c.score = 1), count(*) FILTER (WHERE c.score = 2),
	       count(*) FILTER (WHERE c.score = 3), count(*) FILTER (WHERE c.score = 4),
	       count(*) FILTER (WHERE c.score = 5)
	FROM helpdesk.csat c
	LEFT JOIN helpdesk.session s ON c.target = 'session' AND s.tenant_id = c.tenant_id AND s.id = c.session_id
	LEFT JOIN helpdesk.ticket tk ON c.target = 'ticket' AND tk.tenant_id = c.tenant_id AND tk.id = c.ticket_id
	WHERE c.tenant_id = t AND c.requested_at >= b0 AND c.requested_at < b1
	GROUP BY 1, 2, 3, 4, 5, 6, 7;
END;
COMMENT ON FUNCTION helpdesk._fact_csat IS
	'Raw truth: rollup_csat rows of a tenant for the buckets in [b0, b1).';

-- The raw truth of rollup_occupancy for a tenant's buckets in [b0, b1):
-- ended status intervals (online, busy) and held assignments of closed
-- sessions, each cut to the quarter hours it overlaps.
CREATE FUNCTION helpdesk._fact_occupancy(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS SETOF helpdesk.rollup_occupancy
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH onl AS (
		SELECT i.agent_id, g.b,
		       sum(helpdesk._us(greatest(i.started_at, g.b), least(i.ended_at, g.b + interval '15 minutes'))) AS us
		FROM helpdesk.agent_status_interval i,
		     generate_series(greatest(helpdesk._bucket(i.started_at), b0),
		                     least(helpdesk._bucket(i.ended_at), b1 - interval '15 minutes'),
		                     interval '15 minutes') g(b)
		WHERE i.tenant_id = t AND i.ended_at > b0 AND i.started_at < b1
		  AND i.status IN ('online', 'busy') AND i.ended_at > i.started_at
		  AND i.ended_at > g.b AND i.started_at < g.b + interval '15 minutes'
		GROUP BY 1, 2),
	hold AS (
		SELECT sa.agent_id, coalesce(sa.queue_id, 0) AS queue_id, g.b,
		       sum(helpdesk._us(greatest(sa.accepted_at, g.b), least(sa.ended_at, g.b + interval '15 minutes'))) AS us
		FROM helpdesk.session_assignment sa
		JOIN helpdesk.session s ON s.tenant_id = sa.tenant_id AND s.id = sa.session_id,
		     generate_series(greatest(helpdesk._bucket(sa.accepted_at), b0),
		                     least(helpdesk._bucket(sa.ended_at), b1 - interval '15 minutes'),
		                     interval '15 minutes') g(b)
		WHERE sa.tenant_id = t AND sa.accepted_at IS NOT NULL AND sa.ended_at > b0 AND sa.accepted_at < b1
		  AND sa.ended_at > sa.accepted_at AND s.state = 'closed'
		  AND sa.ended_at > g.b AND sa.accepted_at < g.b + interval '15 minutes'
		GROUP BY 1, 2, 3),
	k AS (SELECT agent_id, 0::bigint AS queue_id, b FROM onl UNION SELECT agent_id, queue_id, b FROM hold)
	SELECT t, k.b, k.agent_id, k.queue_id,
	       CASE WHEN k.queue_id = 0 THEN coalesce(onl.us, 0) ELSE 0 END,
	       coalesce(hold.us, 0),
	       CASE WHEN hold.us > 0 THEN coalesce(onl.us, 0) ELSE 0 END
	FROM k
	LEFT JOIN onl ON onl.agent_id = k.agent_id AND onl.b = k.b
	LEFT JOIN hold ON hold.agent_id = k.agent_id AND hold.queue_id = k.queue_id AND hold.b = k.b
	WHERE (k.queue_id = 0 AND onl.us > 0) OR hold.us > 0;
END;
COMMENT ON FUNCTION helpdesk._fact_occupancy IS
	'Raw truth: rollup_occupancy rows of a tenant for the buckets in [b0, b1) (ended status intervals, held assignments of closed sessions).';

-- the buckets a ticket's facts fall in now
CREATE FUNCTION helpdesk._ticket_buckets(t bigint, ticket bigint)
RETURNS timestamptz[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT array_agg(DISTINCT b ORDER BY b) FROM (
		SELECT helpdesk._bucket(tk.created_at) FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.id = ticket
		UNION ALL
		SELECT helpdesk._bucket(tk.resolved_at) FROM helpdesk.ticket tk
		WHERE tk.tenant_id = t AND tk.id = ticket AND tk.resolved_at IS NOT NULL
		UNION ALL
		SELECT helpdesk._bucket(ts.stopped_at) FROM helpdesk.ticket_sla ts
		WHERE ts.tenant_id = t AND ts.ticket_id = ticket AND ts.outcome IS NOT NULL
		UNION ALL
		SELECT helpdesk._bucket(c.requested_at) FROM helpdesk.csat c
		WHERE c.tenant_id = t AND c.ticket_id = ticket) x(b);
END;
COMMENT ON FUNCTION helpdesk._ticket_buckets IS
	'The rollup buckets a ticket is counted in now (creation, resolution, SLA stops, surveys).';

-- where a recompute of a tenant's buckets from b0 on may start: not before
-- its horizon (rollup_horizon)
CREATE FUNCTION helpdesk._rollup_from(t bigint, b0 timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN greatest(b0, (SELECT h.horizon FROM helpdesk.rollup_horizon h WHERE h.tenant_id = t));
COMMENT ON FUNCTION helpdesk._rollup_from IS
	'Internal: b0, or the tenant''s rollup horizon when that is later (buckets before it are kept, never recomputed).';

-- Replace the stored rollups of a tenant's buckets in [b0, b1) by the raw
-- truth, except those before its horizon (kept). The worker runs it per
-- dirty bucket, rebuild_rollups per range.
CREATE FUNCTION helpdesk._rollup_recompute(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	DELETE FROM helpdesk.rollup_session r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_session SELECT * FROM helpdesk._fact_session(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_offer r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_offer SELECT * FROM helpdesk._fact_offer(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_ticket r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_ticket SELECT * FROM helpdesk._fact_ticket(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_sla r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_sla SELECT * FROM helpdesk._fact_sla(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_csat r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_csat SELECT * FROM helpdesk._fact_csat(t, helpdesk._rollup_from(t, b0), b1);
	DELETE FROM helpdesk.rollup_occupancy r WHERE r.tenant_id = t AND r.bucket >= helpdesk._rollup_from(t, b0) AND r.bucket < b1;
	INSERT INTO helpdesk.rollup_occupancy SELECT * FROM helpdesk._fact_occupancy(t, helpdesk._rollup_from(t, b0), b1);
END;
COMMENT ON FUNCTION helpdesk._rollup_recompute IS
	'Internal: replaces a tenant''s rollup rows of the buckets in [b0, b1) by the raw truth (_fact_*), from its rollup horizon on (earlier buckets are kept).';

-- tickets counted in a range get their seen buckets from the raw rows again
CREATE FUNCTION helpdesk._rollup_reseen(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	WITH ids AS (
		SELECT tk.id FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.created_at >= b0 AND tk.created_at < b1
		UNION SELECT tk.id FROM helpdesk.ticket tk WHERE tk.tenant_id = t AND tk.resolved_at >= b0 AND tk.resolved_at < b1
		UNION SELECT ts.ticket_id FROM helpdesk.ticket_sla ts
		      WHERE ts.tenant_id = t AND ts.stopped_at >= b0 AND ts.stopped_at < b1 AND ts.outcome IS NOT NULL
		UNION SELECT c.ticket_id FROM helpdesk.csat c
		      WHERE c.tenant_id = t AND c.requested_at >= b0 AND c.requested_at < b1 AND c.ticket_id IS NOT NULL)
	INSERT INTO helpdesk.rollup_ticket_seen (tenant_id, ticket_id, buckets)
	SELECT t, ids.id, helpdesk._ticket_buckets(t, ids.id) FROM ids
	ON CONFLICT (tenant_id, ticket_id) DO UPDATE
	SET buckets = (SELECT array_agg(DISTINCT x ORDER BY x)
	               FROM unnest(helpdesk.rollup_ticket_seen.buckets || excluded.buckets) x);
END;
COMMENT ON FUNCTION helpdesk._rollup_reseen IS
	'Internal: adds the buckets each ticket counted in [b0, b1) is in now to its rollup_ticket_seen row (after those buckets were recomputed, so the row covers every bucket that counts the ticket).';

CREATE FUNCTION helpdesk.rebuild_rollups(tenant_id bigint, "from" timestamptz, "to" timestamptz)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_rebuild_rollups';
COMMENT ON FUNCTION helpdesk.rebuild_rollups IS
	'Recompute a tenant''s rollups for [from, to) (widened to whole quarter hours) from the raw rows; returns the buckets recomputed. At most 400 days per call.';

CREATE FUNCTION helpdesk.set_report_settings(tenant_id bigint, time_zone text)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_report_settings';
COMMENT ON FUNCTION helpdesk.set_report_settings IS
	'The IANA time zone a tenant''s reports count hours and days in (default UTC). Zones whose offset is not a multiple of 15 minutes are refused.';

CREATE FUNCTION helpdesk.set_queue_report_settings(tenant_id bigint, queue_id bigint,
	short_abandon interval DEFAULT NULL, service_level_threshold interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_queue_report_settings';
COMMENT ON FUNCTION helpdesk.set_queue_report_settings IS
	'A queue''s short_abandon (0 s .. 1 h, default 10 s) and service_level_threshold (1 s .. 1 day, default 60 s); NULL keeps the value. Applies to sessions closed afterwards (rebuild_rollups applies it to the past).';

-- extension/reports/15_rollup_days.sql
-- The day tier: each rollup table summed per day in the tenant's time zone
-- (tenant.time_zone), so a 30-day report reads 30 days of rows instead of
-- 2,880 quarter hours. Kept from the quarter-hour rows by the same step that
-- writes them (_rollup_days after the buckets of a step), rebuilt for the
-- whole tenant when its zone changes (set_report_settings). Reports use it
-- for bucket day or total when from and to are local midnights and the
-- dimensions asked for are in it; otherwise they read the quarter hours.

CREATE TABLE helpdesk.rollup_session_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	sessions     bigint NOT NULL,
	bot_sessions bigint NOT NULL,
	bot_resolved bigint NOT NULL,
	bot_handoffs bigint NOT NULL,
	queued       bigint NOT NULL,
	answered     bigint NOT NULL,
	resolved     bigint NOT NULL,
	escalated    bigint NOT NULL,
	abandoned    bigint NOT NULL,
	short_abandoned bigint NOT NULL,
	sl_eligible  bigint NOT NULL,
	sl_met       bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	wait_count   bigint NOT NULL,
	wait_sum_us  bigint NOT NULL,
	handle_count bigint NOT NULL,
	handle_sum_us bigint NOT NULL,
	reply_count  bigint NOT NULL,
	reply_sum_us bigint NOT NULL,
	abandon_wait_sum_us bigint NOT NULL,
	transfers    bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, queue_id, issue_type, channel),
	CHECK (sessions >= 0)
);
COMMENT ON TABLE helpdesk.rollup_session_day IS
	'helpdesk.rollup_session summed per day in the tenant''s time zone, the agent dimension left out (report_sessions and report_funnel without agent).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_session_day', '');

CREATE TABLE helpdesk.rollup_offer_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, queue_id, agent_id),
	CHECK (assignments >= 0)
);
COMMENT ON TABLE helpdesk.rollup_offer_day IS
	'helpdesk.rollup_offer summed per day in the tenant''s time zone, the issue type and channel dimensions left out (report_agents by agent and queue).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_offer_day', '');

CREATE TABLE helpdesk.rollup_ticket_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	issue_type   text NOT NULL,
	channel      text NOT NULL,
	created      bigint NOT NULL,
	frt_count    bigint NOT NULL,
	frt_sum_us   bigint NOT NULL,
	resolved     bigint NOT NULL,
	resolution_sum_us bigint NOT NULL,
	resolution_business_sum_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, queue_id, agent_id, issue_type, channel),
	CHECK (created >= 0)
);
COMMENT ON TABLE helpdesk.rollup_ticket_day IS
	'helpdesk.rollup_ticket summed per day in the tenant''s time zone, all its dimensions.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_ticket_day', '');

CREATE TABLE helpdesk.rollup_csat_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	target       text NOT NULL,
	queue_id     bigint NOT NULL,
	agent_id     bigint NOT NULL,
	requested    bigint NOT NULL,
	responded    bigint NOT NULL,
	score_sum    bigint NOT NULL,
	score_1      bigint NOT NULL,
	score_2      bigint NOT NULL,
	score_3      bigint NOT NULL,
	score_4      bigint NOT NULL,
	score_5      bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, target, queue_id, agent_id),
	CHECK (requested >= 0)
);
COMMENT ON TABLE helpdesk.rollup_csat_day IS
	'helpdesk.rollup_csat summed per day in the tenant''s time zone, the issue type and channel dimensions left out.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_csat_day', '');

CREATE TABLE helpdesk.rollup_occupancy_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	queue_id     bigint NOT NULL,
	online_us    bigint NOT NULL,
	handling_us  bigint NOT NULL,
	queue_online_us bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id, queue_id),
	CHECK (online_us >= 0 AND handling_us >= 0 AND queue_online_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_occupancy_day IS
	'helpdesk.rollup_occupancy summed per day in the tenant''s time zone, all its dimensions.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_occupancy_day', '');

CREATE TABLE helpdesk.rollup_sla_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	policy_id    bigint NOT NULL,
	target       text NOT NULL,
	hit          bigint NOT NULL,
	missed       bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, policy_id, target),
	CHECK (hit >= 0 AND missed >= 0)
);
COMMENT ON TABLE helpdesk.rollup_sla_day IS
	'helpdesk.rollup_sla summed per day in the tenant''s time zone, by policy and target only (report_sla''s default grouping).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_sla_day', '');

-- report_agents by agent (or for the tenant) and day: offers and occupancy
-- per agent and day, queues summed, in one row (the report reads one table
-- of 30 x agents rows instead of aggregating and full-joining both day
-- tables: EXPLAIN ANALYZE in docs/reports.md "The day tier")
CREATE TABLE helpdesk.rollup_agent_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	online_us    bigint NOT NULL,
	handling_us  bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id),
	CHECK (assignments >= 0 AND online_us >= 0 AND handling_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_agent_day IS
	'helpdesk.rollup_offer_day and helpdesk.rollup_occupancy_day summed per day and agent, the queue dimension left out (report_agents by agent or for the tenant, by day or total).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_agent_day', '');

-- the same by agent and queue (report_agents by queue: a queue's occupancy
-- is its handling time over queue_online_us, rollup_occupancy's)
CREATE TABLE helpdesk.rollup_agent_queue_day (
	tenant_id    bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	day          date NOT NULL,
	agent_id     bigint NOT NULL,
	queue_id     bigint NOT NULL,
	assignments  bigint NOT NULL,
	offers       bigint NOT NULL,
	offers_accepted bigint NOT NULL,
	offers_declined bigint NOT NULL,
	offers_timed_out bigint NOT NULL,
	held         bigint NOT NULL,
	held_sum_us  bigint NOT NULL,
	transfers_out bigint NOT NULL,
	queue_online_us bigint NOT NULL,
	handling_us  bigint NOT NULL,
	PRIMARY KEY (tenant_id, day, agent_id, queue_id),
	CHECK (assignments >= 0 AND queue_online_us >= 0 AND handling_us >= 0)
);
COMMENT ON TABLE helpdesk.rollup_agent_queue_day IS
	'helpdesk.rollup_offer_day and helpdesk.rollup_occupancy_day (its queue_online_us) in one row per day, agent and queue (report_agents by queue, by day or total).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.rollup_agent_queue_day', '');

-- Replace the day rows of the given local days of a tenant by the sums of
-- its quarter-hour rows.
CREATE FUNCTION helpdesk._rollup_days(t bigint, days date[])
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	DELETE FROM helpdesk.rollup_session_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_session_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.issue_type, r.channel, sum(r.sessions), sum(r.bot_sessions), sum(r.bot_resolved), sum(r.bot_handoffs), sum(r.queued), sum(r.answered), sum(r.resolved), sum(r.escalated), sum(r.abandoned), sum(r.short_abandoned), sum(r.sl_eligible), sum(r.sl_met), sum(r.frt_count), sum(r.frt_sum_us), sum(r.wait_count), sum(r.wait_sum_us), sum(r.handle_count), sum(r.handle_sum_us), sum(r.reply_count), sum(r.reply_sum_us), sum(r.abandon_wait_sum_us), sum(r.transfers)
	FROM helpdesk.rollup_session r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5;
	DELETE FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_offer_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.agent_id, sum(r.assignments), sum(r.offers), sum(r.offers_accepted), sum(r.offers_declined), sum(r.offers_timed_out), sum(r.held), sum(r.held_sum_us), sum(r.transfers_out)
	FROM helpdesk.rollup_offer r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_ticket_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_ticket_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.queue_id, r.agent_id, r.issue_type, r.channel, sum(r.created), sum(r.frt_count), sum(r.frt_sum_us), sum(r.resolved), sum(r.resolution_sum_us), sum(r.resolution_business_sum_us)
	FROM helpdesk.rollup_ticket r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5, 6;
	DELETE FROM helpdesk.rollup_csat_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_csat_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.target, r.queue_id, r.agent_id, sum(r.requested), sum(r.responded), sum(r.score_sum), sum(r.score_1), sum(r.score_2), sum(r.score_3), sum(r.score_4), sum(r.score_5)
	FROM helpdesk.rollup_csat r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4, 5;
	DELETE FROM helpdesk.rollup_sla_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_sla_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.policy_id, r.target, sum(r.hit), sum(r.missed)
	FROM helpdesk.rollup_sla r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_occupancy_day
	SELECT r.tenant_id, (r.bucket AT TIME ZONE tz.z)::date, r.agent_id, r.queue_id, sum(r.online_us), sum(r.handling_us), sum(r.queue_online_us)
	FROM helpdesk.rollup_occupancy r, (SELECT time_zone AS z FROM helpdesk.tenant WHERE id = t) tz
	WHERE r.tenant_id = t AND (r.bucket AT TIME ZONE tz.z)::date = ANY (days)
	  AND r.bucket >= (SELECT min(x) FROM unnest(days) x)::timestamp AT TIME ZONE tz.z
	  AND r.bucket < ((SELECT max(x) FROM unnest(days) x) + 1)::timestamp AT TIME ZONE tz.z
	GROUP BY 1, 2, 3, 4;
	DELETE FROM helpdesk.rollup_agent_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_agent_day
	SELECT x.tenant_id, x.day, x.agent_id, sum(x.assignments), sum(x.offers), sum(x.offers_accepted), sum(x.offers_declined), sum(x.offers_timed_out), sum(x.held), sum(x.held_sum_us), sum(x.transfers_out), sum(x.online_us), sum(x.handling_us)
	FROM (SELECT r.tenant_id, r.day, r.agent_id, r.assignments, r.offers, r.offers_accepted, r.offers_declined, r.offers_timed_out, r.held, r.held_sum_us, r.transfers_out, 0 AS online_us, 0 AS handling_us
	      FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days)
	      UNION ALL
	      SELECT r.tenant_id, r.day, r.agent_id, 0, 0, 0, 0, 0, 0, 0, 0, r.online_us, r.handling_us
	      FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days)) x
	GROUP BY 1, 2, 3;
	DELETE FROM helpdesk.rollup_agent_queue_day r WHERE r.tenant_id = t AND r.day = ANY (days);
	INSERT INTO helpdesk.rollup_agent_queue_day
	SELECT x.tenant_id, x.day, x.agent_id, x.queue_id, sum(x.assignments), sum(x.offers), sum(x.offers_accepted), sum(x.offers_declined), sum(x.offers_timed_out), sum(x.held), sum(x.held_sum_us), sum(x.transfers_out), sum(x.queue_online_us), sum(x.handling_us)
	FROM (SELECT r.tenant_id, r.day, r.agent_id, r.queue_id, r.assignments, r.offers, r.offers_accepted, r.offers_declined, r.offers_timed_out, r.held, r.held_sum_us, r.transfers_out, 0 AS queue_online_us, 0 AS handling_us
	      FROM helpdesk.rollup_offer_day r WHERE r.tenant_id = t AND r.day = ANY (days)
	      UNION ALL
	      SELECT r.tenant_id, r.day, r.agent_id, r.queue_id, 0, 0, 0, 0, 0, 0, 0, 0, r.queue_online_us, r.handling_us
	      FROM helpdesk.rollup_occupancy_day r WHERE r.tenant_id = t AND r.day = ANY (days)) x
	GROUP BY 1, 2, 3, 4;
END;
COMMENT ON FUNCTION helpdesk._rollup_days IS
	'Internal: the day tier of a tenant''s given local days, summed from the quarter-hour rollups.';

-- the local days that [b0, b1) touches in the tenant's zone
CREATE FUNCTION helpdesk._local_days(t bigint, b0 timestamptz, b1 timestamptz)
RETURNS date[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT array_agg(d::date ORDER BY d)
	FROM helpdesk.tenant tn,
	     generate_series((b0 AT TIME ZONE tn.time_zone)::date::timestamp,
	                     ((b1 - interval '1 microsecond') AT TIME ZONE tn.time_zone)::date::timestamp,
	                     interval '1 day') d
	WHERE tn.id = t;
END;
COMMENT ON FUNCTION helpdesk._local_days IS
	'Internal: the days in the tenant''s time zone that the instants of [b0, b1) fall on.';

-- extension/reports/20_reports.sql
-- Report functions: SQL over the rollup tables (source => 'rollup', the
-- default) or over the same rows computed from the raw tables (source =>
-- 'raw': the _fact_* functions; for checks and the benchmark). Each
-- function checks its arguments in C first (_report_check: tenant access,
-- quarter-hour range, bucket, group_by) and returns one row per bucket
-- ('hour' or 'day' in the tenant's time zone, or 'total') and group;
-- dimensions not grouped by are NULL. Definitions: docs/reports.md.

CREATE FUNCTION helpdesk._report_check(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[], bucket text, allowed text[])
RETURNS text LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_report_check';
COMMENT ON FUNCTION helpdesk._report_check IS
	'Internal: checks a report''s arguments (tenant, whole quarter hours, at most 400 days, bucket hour/day/total, group_by among allowed) and returns the tenant''s time zone.';

-- The statement of a report: $1 tenant, $2 from, $3 to, $4 time zone.
-- dims: pairs of (group_by name, column); the column is NULL unless grouped.
-- null_when: per dimension the stored value meaning none ('0': a bigint id,
-- '': a text), returned as NULL. The day tier (day_table, which has the
-- dimensions day_dims) answers bucket day or total over whole local days.
CREATE FUNCTION helpdesk._report_query(rollup_table text, fact_function text, dims text[],
	null_when text[], measures text, group_by text[], bucket text, source text,
	day_table text, day_dims text[], tz text, "from" timestamptz, "to" timestamptz)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sel text;
	grp text := '1';
	i int;
	use_day boolean;
BEGIN
	IF source IS NULL OR source NOT IN ('rollup', 'raw') THEN
		RAISE EXCEPTION 'invalid source %', coalesce('"' || left(source, 64) || '"', 'NULL')
			USING ERRCODE = '22023', HINT = 'Use one of: rollup, raw.';
	END IF;
	use_day := source = 'rollup' AND day_table IS NOT NULL AND bucket IN ('day', 'total')
		AND group_by <@ day_dims
		AND "from" = date_trunc('day', "from" AT TIME ZONE tz) AT TIME ZONE tz
		AND "to" = date_trunc('day', "to" AT TIME ZONE tz) AT TIME ZONE tz;
	sel := CASE
		WHEN bucket = 'total' THEN '$2'
		WHEN use_day THEN '(r.day::timestamp AT TIME ZONE $4)'
		ELSE format('(date_trunc(%L, r.bucket AT TIME ZONE $4) AT TIME ZONE $4)', bucket) END;
	-- the day tier groups by its date and converts each group's day to an
	-- instant once, not each row's (a 30-day report reads thousands of rows)
	IF use_day AND bucket = 'day' THEN
		grp := 'r.day';
	END IF;
	FOR i IN 1 .. array_length(dims, 1) / 2 LOOP
		IF dims[2 * i - 1] = ANY (group_by) THEN
			sel := sel || format(', nullif(r.%I, %L)', dims[2 * i], null_when[i]);
			grp := grp || ', ' || (i + 1);
		ELSE
			sel := sel || CASE null_when[i] WHEN '0' THEN ', NULL::bigint' ELSE ', NULL::text' END;
		END IF;
	END LOOP;
	RETURN format('SELECT %s, %s FROM %s GROUP BY %s ORDER BY %s', sel, measures,
		CASE
			WHEN use_day THEN format('helpdesk.%I r WHERE r.tenant_id = $1 AND r.day >= ($2 AT TIME ZONE $4)::date '
			                         'AND r.day < ($3 AT TIME ZONE $4)::date', day_table)
			WHEN source = 'rollup' THEN format('helpdesk.%I r WHERE r.tenant_id = $1 AND r.bucket >= $2 AND r.bucket < $3',
			                          rollup_table)
			ELSE format('helpdesk.%I($1, $2, $3) r', fact_function) END,
		grp, grp);
END $$;
COMMENT ON FUNCTION helpdesk._report_query IS
	'Internal: the SQL of a report over a rollup table (its day tier when that answers it) or its raw twin, grouped by bucket and the dimensions asked for.';

CREATE FUNCTION helpdesk.report_sessions(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, agent_id bigint, issue_type text,
	channel text, sessions bigint, bot_sessions bigint, bot_resolved bigint, bot_handoffs bigint,
	queued bigint, answered bigint, resolved bigint, escalated bigint, abandoned bigint,
	short_abandoned bigint, sl_eligible bigint, sl_met bigint, service_level numeric,
	abandonment_rate numeric, bot_resolution_rate numeric, bot_handoff_rate numeric,
	first_response_count bigint, first_response_avg_s numeric, wait_count bigint, wait_avg_s numeric,
	handle_count bigint, handle_avg_s numeric, reply_count bigint, reply_avg_s numeric,
	abandon_wait_avg_s numeric, transfers bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_session', '_fact_session',
		'{queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{0,0,"",""}',
		$m$sum(r.sessions)::bigint, sum(r.bot_sessions)::bigint, sum(r.bot_resolved)::bigint,
		   sum(r.bot_handoffs)::bigint, sum(r.queued)::bigint, sum(r.answered)::bigint,
		   sum(r.resolved)::bigint, sum(r.escalated)::bigint, sum(r.abandoned)::bigint,
		   sum(r.short_abandoned)::bigint, sum(r.sl_eligible)::bigint, sum(r.sl_met)::bigint,
		   round(sum(r.sl_met) / nullif(sum(r.sl_eligible), 0), 6),
		   round((sum(r.abandoned) - sum(r.short_abandoned)) / nullif(sum(r.queued) - sum(r.short_abandoned), 0), 6),
		   round(sum(r.bot_resolved) / nullif(sum(r.bot_sessions), 0), 6),
		   round(sum(r.bot_handoffs) / nullif(sum(r.bot_sessions), 0), 6),
		   sum(r.frt_count)::bigint, round(sum(r.frt_sum_us) / nullif(sum(r.frt_count), 0) / 1e6, 3),
		   sum(r.wait_count)::bigint, round(sum(r.wait_sum_us) / nullif(sum(r.wait_count), 0) / 1e6, 3),
		   sum(r.handle_count)::bigint, round(sum(r.handle_sum_us) / nullif(sum(r.handle_count), 0) / 1e6, 3),
		   sum(r.reply_count)::bigint, round(sum(r.reply_sum_us) / nullif(sum(r.reply_count), 0) / 1e6, 3),
		   round(sum(r.abandon_wait_sum_us) / nullif(sum(r.abandoned) - sum(r.short_abandoned), 0) / 1e6, 3),
		   sum(r.transfers)::bigint$m$,
		group_by, bucket, source, 'rollup_session_day', '{queue,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_sessions IS
	'Chat figures of a tenant''s sessions created in [from, to) (whole quarter hours, closed sessions only): volume, bot, abandonment, service level, first response, wait, handle and reply times, transfers; by hour or day in the tenant''s zone (or total) and by queue, agent, issue_type, channel. source => ''raw'' computes the same from the raw tables.';

CREATE FUNCTION helpdesk.report_agents(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{agent}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, agent_id bigint, queue_id bigint, issue_type text,
	channel text, assignments bigint,
	offers bigint, offers_accepted bigint, offers_declined bigint, offers_timed_out bigint,
	acceptance_rate numeric, held bigint, handle_time_s numeric, handle_avg_s numeric,
	transfers_out bigint, online_s numeric, occupancy_handling_s numeric, occupancy numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{agent,queue,issue_type,channel}');
	dims text[] := '{agent,agent_id,queue,queue_id,issue_type,issue_type,channel,channel}';
	-- by queue: the time online of the agents who handled in it (queue_online_us)
	online text := CASE WHEN 'queue' = ANY (group_by) THEN 'r.queue_online_us' ELSE 'r.online_us' END;
	m_offers text := $m$sum(r.assignments)::bigint, sum(r.offers)::bigint, sum(r.offers_accepted)::bigint,
			   sum(r.offers_declined)::bigint, sum(r.offers_timed_out)::bigint,
			   round(sum(r.offers_accepted) / nullif(sum(r.offers), 0), 6),
			   sum(r.held)::bigint, round(sum(r.held_sum_us) / 1e6, 3),
			   round(sum(r.held_sum_us) / nullif(sum(r.held), 0) / 1e6, 3),
			   sum(r.transfers_out)::bigint$m$;
	m_occupancy text := format('round(sum(%1$s) / 1e6, 3), round(sum(r.handling_us) / 1e6, 3), '
	                         'round(sum(r.handling_us) / nullif(sum(%1$s), 0), 6)', online);
BEGIN
	-- by issue type or channel: offers only (time online is not by channel);
	-- rollup_offer has them, its day tier not
	IF 'issue_type' = ANY (group_by) OR 'channel' = ANY (group_by) THEN
		RETURN QUERY EXECUTE format(
			'SELECT a.*, NULL::numeric, NULL::numeric, NULL::numeric FROM (%s) a',
			helpdesk._report_query('rollup_offer', '_fact_offer', dims, '{0,0,"",""}', m_offers,
				group_by, bucket, source, 'rollup_offer_day', '{agent,queue}', tz, "from", "to"))
		USING tenant_id, "from", "to", tz;
		RETURN;
	END IF;
	-- by day or total over whole local days: the agent day tiers hold both
	-- figures per agent (and queue) and day, one table to read and no join
	IF source = 'rollup' AND bucket IN ('day', 'total')
	   AND "from" = date_trunc('day', "from" AT TIME ZONE tz) AT TIME ZONE tz
	   AND "to" = date_trunc('day', "to" AT TIME ZONE tz) AT TIME ZONE tz THEN
		RETURN QUERY EXECUTE helpdesk._report_query('rollup_agent_day', '_fact_offer',
			dims, '{0,0,"",""}', m_offers || ', ' || m_occupancy,
			group_by, bucket, source,
			CASE WHEN 'queue' = ANY (group_by) THEN 'rollup_agent_queue_day' ELSE 'rollup_agent_day' END,
			'{agent,queue}', tz, "from", "to")
		USING tenant_id, "from", "to", tz;
		RETURN;
	END IF;
	-- offers (rollup_offer) and occupancy (rollup_occupancy) grouped alike, joined by group
	RETURN QUERY EXECUTE format(
		'SELECT coalesce(a.b, o.b), coalesce(a.ag, o.ag), coalesce(a.qu, o.qu), NULL::text, NULL::text, coalesce(a.n, 0), '
		'coalesce(a.offers, 0), coalesce(a.acc, 0), coalesce(a.dec, 0), coalesce(a.tmo, 0), a.rate, '
		'coalesce(a.held, 0), coalesce(a.hts, 0), a.havg, coalesce(a.tr, 0), '
		'coalesce(o.online_s, 0), coalesce(o.handling_s, 0), o.occ '
		'FROM (%s) a(b, ag, qu, it, ch, n, offers, acc, dec, tmo, rate, held, hts, havg, tr) '
		'FULL JOIN (%s) o(b, ag, qu, it, ch, online_s, handling_s, occ) '
		'ON o.b = a.b AND coalesce(o.ag, -1) = coalesce(a.ag, -1) AND coalesce(o.qu, -1) = coalesce(a.qu, -1) '
		'ORDER BY 1, 2, 3',
		helpdesk._report_query('rollup_offer', '_fact_offer',
			dims, '{0,0,"",""}', m_offers,
			group_by, bucket, source, 'rollup_offer_day', '{agent,queue}', tz, "from", "to"),
		helpdesk._report_query('rollup_occupancy', '_fact_occupancy',
			dims, '{0,0,"",""}', m_occupancy,
			group_by, bucket, source, 'rollup_occupancy_day', '{agent,queue}', tz, "from", "to"))
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_agents IS
	'Offers and assignments of closed sessions started in [from, to), by agent (default), queue, issue_type and channel (the session''s at close): offers accepted, declined, timed out, held assignments and their handling time, transfers out; and occupancy: time online (online or busy), handling time inside the buckets, and their ratio (by queue: over the time online of the agents who handled in it; NULL by issue_type or channel).';

CREATE FUNCTION helpdesk.report_tickets(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, agent_id bigint, issue_type text,
	channel text, created bigint, resolved bigint, backlog_change bigint,
	first_response_count bigint, first_response_avg_s numeric, resolution_avg_s numeric,
	resolution_business_avg_s numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_ticket', '_fact_ticket',
		'{queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{0,0,"",""}',
		$m$sum(r.created)::bigint, sum(r.resolved)::bigint, (sum(r.created) - sum(r.resolved))::bigint,
		   sum(r.frt_count)::bigint, round(sum(r.frt_sum_us) / nullif(sum(r.frt_count), 0) / 1e6, 3),
		   round(sum(r.resolution_sum_us) / nullif(sum(r.resolved), 0) / 1e6, 3),
		   round(sum(r.resolution_business_sum_us) / nullif(sum(r.resolved), 0) / 1e6, 3)$m$,
		group_by, bucket, source, 'rollup_ticket_day', '{queue,agent,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_tickets IS
	'Tickets created in [from, to) (with their first response) and resolved in it (resolution time in calendar and business time); by bucket and queue, agent (assignee), issue_type, channel.';

CREATE FUNCTION helpdesk.report_sla(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{policy,target}', bucket text DEFAULT 'total', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, policy_id bigint, target text, queue_id bigint, agent_id bigint,
	issue_type text, channel text, hit bigint, missed bigint, attainment numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{policy,target,queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_sla', '_fact_sla',
		'{policy,policy_id,target,target,queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}',
		'{0,"",0,0,"",""}',
		$m$sum(r.hit)::bigint, sum(r.missed)::bigint,
		   round(sum(r.hit) / nullif(sum(r.hit) + sum(r.missed), 0), 6)$m$,
		group_by, bucket, source, 'rollup_sla_day', '{policy,target}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_sla IS
	'SLA targets that stopped in [from, to): hit, missed and attainment by policy and target, and by the ticket''s queue, agent (assignee), issue_type and channel as it has them now.';

CREATE FUNCTION helpdesk.report_csat(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'day', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, target text, queue_id bigint, agent_id bigint,
	issue_type text, channel text, requested bigint, responded bigint, response_rate numeric, score_avg numeric,
	score_1 bigint, score_2 bigint, score_3 bigint, score_4 bigint, score_5 bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{target,queue,agent,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_csat', '_fact_csat',
		'{target,target,queue,queue_id,agent,agent_id,issue_type,issue_type,channel,channel}', '{"",0,0,"",""}',
		$m$sum(r.requested)::bigint, sum(r.responded)::bigint,
		   round(sum(r.responded) / nullif(sum(r.requested), 0), 6),
		   round(sum(r.score_sum) / nullif(sum(r.responded), 0), 4),
		   sum(r.score_1)::bigint, sum(r.score_2)::bigint, sum(r.score_3)::bigint,
		   sum(r.score_4)::bigint, sum(r.score_5)::bigint$m$,
		group_by, bucket, source, 'rollup_csat_day', '{target,queue,agent}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_csat IS
	'Surveys asked in [from, to): asked, answered, response rate, average score and the distribution 1..5, by target (session, ticket), queue and agent, issue_type and channel (of the survey''s session or ticket).';

CREATE FUNCTION helpdesk.report_funnel(tenant_id bigint, "from" timestamptz, "to" timestamptz,
	group_by text[] DEFAULT '{}', bucket text DEFAULT 'total', source text DEFAULT 'rollup')
RETURNS TABLE (bucket_start timestamptz, queue_id bigint, issue_type text, channel text,
	sessions bigint, bot bigint, queued bigint, answered bigint, resolved bigint, escalated bigint,
	abandoned bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tz text := helpdesk._report_check(tenant_id, "from", "to", group_by, bucket,
	                                  '{queue,issue_type,channel}');
BEGIN
	RETURN QUERY EXECUTE helpdesk._report_query('rollup_session', '_fact_session',
		'{queue,queue_id,issue_type,issue_type,channel,channel}', '{0,"",""}',
		$m$sum(r.sessions)::bigint, sum(r.bot_sessions)::bigint, sum(r.queued)::bigint,
		   sum(r.answered)::bigint, sum(r.resolved)::bigint, sum(r.escalated)::bigint,
		   (sum(r.abandoned) - sum(r.short_abandoned))::bigint$m$,
		group_by, bucket, source, 'rollup_session_day', '{queue,issue_type,channel}', tz, "from", "to")
	USING tenant_id, "from", "to", tz;
END $$;
COMMENT ON FUNCTION helpdesk.report_funnel IS
	'The funnel of sessions created in [from, to): all, through the bot, queued, answered (held by an agent), resolved in chat (answered, not escalated), escalated to a ticket, abandoned (not short).';

-- extension/reports/30_dashboard.sql
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

REVOKE ALL ON FUNCTION helpdesk._bucket, helpdesk._us(timestamptz, timestamptz), helpdesk._session_facts, helpdesk._fact_session,
	helpdesk._fact_offer, helpdesk._fact_ticket, helpdesk._fact_sla, helpdesk._fact_csat, helpdesk._fact_occupancy,
	helpdesk._ticket_buckets, helpdesk._rollup_recompute, helpdesk._rollup_reseen,
	helpdesk._rollup_days, helpdesk._local_days,
	helpdesk.rebuild_rollups, helpdesk.set_report_settings, helpdesk.set_queue_report_settings,
	helpdesk._report_check, helpdesk._report_query, helpdesk.report_sessions, helpdesk.report_agents,
	helpdesk.report_tickets, helpdesk.report_sla, helpdesk.report_csat, helpdesk.report_funnel FROM PUBLIC;
-- >>> extension/security/30_access.sql (copied verbatim)
-- Roles and tenant access (access.c, access_grant.c): the extension's group
-- roles, the binding of roles to tenants, and the predicates that
-- extension/access.sql's row level security policies use.

-- Group roles (NOLOGIN; grant them to your login roles). Roles belong to the
-- cluster, not to a database: a second database with the extension finds
-- them there, and DROP EXTENSION leaves them (docs/security.md).
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['helpdesk_admin', 'helpdesk_supervisor', 'helpdesk_agent',
		'helpdesk_qa', 'helpdesk_api', 'helpdesk_bridge', 'helpdesk_reader']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$$;

CREATE TABLE helpdesk.tenant_grant (
	tenant_id  bigint NOT NULL CHECK (tenant_id >= 0),
	grantee    regrole NOT NULL,
	granted_by regrole NOT NULL,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, grantee)
);
COMMENT ON TABLE helpdesk.tenant_grant IS
	'Which roles may act for which tenants (grant_tenant, revoke_tenant). A role acts for the tenants bound to it and to the roles whose privileges it has; superusers and the extension''s owner act for all.';
COMMENT ON COLUMN helpdesk.tenant_grant.tenant_id IS
	'The tenant, or 0 for every tenant (grant_tenant(role, NULL)), current and future.';
COMMENT ON COLUMN helpdesk.tenant_grant.grantee IS
	'The role bound (regrole: dumped and restored by name; a dropped role''s rows bind no one and are not shown by tenant_grants).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant_grant', '');

CREATE FUNCTION helpdesk._tenant_grant_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'hd_tenant_grant_changed';
COMMENT ON FUNCTION helpdesk._tenant_grant_changed() IS
	'Statement trigger on tenant_grant: invalidates every backend''s cached tenant access at commit.';
CREATE TRIGGER tenant_grant_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON helpdesk.tenant_grant
	FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._tenant_grant_changed();

CREATE FUNCTION helpdesk.grant_tenant(role regrole, tenant_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_grant_tenant';
COMMENT ON FUNCTION helpdesk.grant_tenant(regrole, bigint) IS
	'Let role (and the roles that have its privileges) act for tenant_id; NULL: for every tenant. The caller must act for that tenant (NULL: for every tenant). True when the binding is new.';

CREATE FUNCTION helpdesk.revoke_tenant(role regrole, tenant_id bigint)
RETURNS boolean LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_revoke_tenant';
COMMENT ON FUNCTION helpdesk.revoke_tenant(regrole, bigint) IS
	'Remove the binding of role to tenant_id (NULL: the every-tenant binding); takes effect in other sessions from their next transaction. True when there was one.';

CREATE FUNCTION helpdesk.may_read_tenant(tenant_id bigint)
RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hd_may_read_tenant';
COMMENT ON FUNCTION helpdesk.may_read_tenant(bigint) IS
	'Row level security predicate: may the current role act for tenant_id (cached per backend)?';

CREATE FUNCTION helpdesk.acts_for_all_tenants()
RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hd_acts_for_all_tenants';
COMMENT ON FUNCTION helpdesk.acts_for_all_tenants() IS
	'Row level security predicate of the tables without a tenant (event batches, cursors): may the current role act for every tenant?';

CREATE VIEW helpdesk.tenant_grants WITH (security_invoker = true) AS
	SELECT r.rolname AS role, nullif(g.tenant_id, 0) AS tenant_id, t.slug AS tenant_slug,
	       b.rolname AS granted_by, g.granted_at
	FROM helpdesk.tenant_grant g
	JOIN pg_catalog.pg_roles r ON r.oid = g.grantee
	LEFT JOIN helpdesk.tenant t ON t.id = g.tenant_id
	LEFT JOIN pg_catalog.pg_roles b ON b.oid = g.granted_by;
COMMENT ON VIEW helpdesk.tenant_grants IS
	'The tenant bindings by role name; tenant_id NULL: every tenant.';

-- Which roles get EXECUTE on each function of schema helpdesk (filled and
-- applied by extension/access.sql, which runs after every subsystem).
CREATE TABLE helpdesk.function_grant (
	function_name text PRIMARY KEY CHECK (function_name ~ '^[a-z_][a-z0-9_]*$'),
	roles         text[] NOT NULL,
	why           text NOT NULL CHECK (length(why) > 0)
);
COMMENT ON TABLE helpdesk.function_grant IS
	'The grant matrix: the roles given EXECUTE on every function of schema helpdesk of that name (all overloads); an empty array is the decision "no one" (internal and trigger functions). docs/security.md is generated from it; a test fails when a function has no row or its ACL differs.';
-- <<< extension/security/30_access.sql

-- >>> extension/security/35_config_audit.sql (copied verbatim)
-- The audit log of configuration changes (audit.c): a row trigger on each
-- configuration table (created by extension/access.sql, after every
-- subsystem, so direct writes by a DBA are logged too) records who (the
-- outer role, and the agent the client declared in helpdesk.actor_agent_id),
-- when, which object, and the row before and after; sealed columns (bytea:
-- secrets, hashes) appear only as "[sealed]" / "[sealed, changed]".

CREATE TABLE helpdesk.config_audit (
	tenant_id      bigint NOT NULL CHECK (tenant_id >= 0),
	id             bigint GENERATED ALWAYS AS IDENTITY,
	at             timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	actor_role     text NOT NULL,
	actor_agent_id bigint CHECK (actor_agent_id > 0),
	object_type    text NOT NULL CHECK (object_type ~ '^[a-z_]{1,40}$'),
	object_table   text NOT NULL,
	object_key     text NOT NULL,
	action         text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
	before         jsonb,
	after          jsonb,
	PRIMARY KEY (tenant_id, id),
	CHECK ((action = 'insert') = (before IS NULL)),
	CHECK ((action = 'delete') = (after IS NULL))
);
CREATE INDEX config_audit_at ON helpdesk.config_audit (tenant_id, at);
COMMENT ON TABLE helpdesk.config_audit IS
	'Who changed which configuration when, with the row before and after (configuration tables'' row triggers, extension/access.sql). Secrets never appear in plain.';
COMMENT ON COLUMN helpdesk.config_audit.tenant_id IS
	'The tenant of the changed row; 0 for a binding to every tenant (tenant_grant).';
COMMENT ON COLUMN helpdesk.config_audit.actor_role IS
	'The role outside the SECURITY DEFINER functions (the session''s role or the one SET ROLE chose).';
COMMENT ON COLUMN helpdesk.config_audit.actor_agent_id IS
	'The agent the client declared with SET helpdesk.actor_agent_id (the bridge does for logged-in agents); NULL when none. Declared by the client, not verified.';
COMMENT ON COLUMN helpdesk.config_audit.object_type IS
	'tenant, agent, queue, routing, calendar, sla, autoclose, system_text, webhook, bot, app, tenant_grant (and later kinds).';
COMMENT ON COLUMN helpdesk.config_audit.object_key IS
	'The changed row''s key within its tenant (its id, or its key columns joined by /).';
COMMENT ON COLUMN helpdesk.config_audit.before IS
	'The row before the change, without the columns the workers keep (load, cursors, timestamps); bytea columns as "[sealed]". NULL for an insert.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.config_audit', '');

CREATE FUNCTION helpdesk._config_audit() RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_config_audit';
COMMENT ON FUNCTION helpdesk._config_audit() IS
	'Row trigger of the configuration tables: arguments object type, key columns (comma-separated), tenant column, then the columns that are state, not configuration.';

CREATE FUNCTION helpdesk.config_audit_log(tenant_id bigint, from_at timestamptz DEFAULT NULL,
	to_at timestamptz DEFAULT NULL, object_type text DEFAULT NULL)
RETURNS SETOF helpdesk.config_audit
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.* FROM helpdesk.config_audit a
	WHERE helpdesk._require_tenant($1)	-- a one-time filter: 42501 before any row
	  AND ($1 IS NULL OR a.tenant_id = $1)
	  AND ($2 IS NULL OR a.at >= $2) AND ($3 IS NULL OR a.at < $3)
	  AND ($4 IS NULL OR a.object_type = $4)
	ORDER BY a.at, a.id
$$;
COMMENT ON FUNCTION helpdesk.config_audit_log(bigint, timestamptz, timestamptz, text) IS
	'The configuration changes of a tenant (NULL: of every tenant, for a role acting for all) in [from_at, to_at), of one object type or all, oldest first.';
-- <<< extension/security/35_config_audit.sql

-- routing/00_schema.sql and security/10_agent_login.sql: the dispatcher's
-- view of agents across passes hears of changed agents from these triggers.
CREATE FUNCTION helpdesk._agent_routing_changed() RETURNS trigger LANGUAGE c
AS 'MODULE_PATHNAME', 'hd_agent_routing_changed';
COMMENT ON FUNCTION helpdesk._agent_routing_changed() IS
	'Row trigger on agent: hands the agent to the dispatcher at COMMIT, which then reads it again instead of every agent (helpdesk.dispatch_verify_interval bounds what it could miss).';
CREATE TRIGGER agent_routing_changed AFTER INSERT OR DELETE ON helpdesk.agent
	FOR EACH ROW EXECUTE FUNCTION helpdesk._agent_routing_changed();
CREATE TRIGGER agent_routing_updated AFTER UPDATE ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
		OR OLD.enabled IS DISTINCT FROM NEW.enabled
		OR OLD.load IS DISTINCT FROM NEW.load
		OR OLD.max_sessions IS DISTINCT FROM NEW.max_sessions
		OR OLD.skills IS DISTINCT FROM NEW.skills
		OR OLD.languages IS DISTINCT FROM NEW.languages
		OR OLD.last_activity_at IS DISTINCT FROM NEW.last_activity_at
		OR OLD.status_changed_at IS DISTINCT FROM NEW.status_changed_at
		OR OLD.dispatch_error IS DISTINCT FROM NEW.dispatch_error)
	EXECUTE FUNCTION helpdesk._agent_routing_changed();
CREATE TRIGGER agent_routing_role AFTER UPDATE OF role ON helpdesk.agent
	FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
	EXECUTE FUNCTION helpdesk._agent_routing_changed();

-- >>> extension/security/31_tenant_fence.sql (copied verbatim)
-- Tenants that are moving to another node, have moved, or are arriving from
-- one (tenant_fence.c, scripts/move-tenant, docs/scale-out-move.md).
-- Node-local: a move never copies this table.
CREATE TABLE helpdesk.tenant_fence (
	tenant_id bigint PRIMARY KEY CHECK (tenant_id > 0),
	state     text NOT NULL CHECK (state IN ('fenced', 'moved_out', 'incoming')),
	since     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE helpdesk.tenant_fence IS
	'Tenants whose calls this node refuses with 55000 and whose rows its workers leave alone: fenced for the last seconds of a move to another node, moved_out once the proxy''s directory names the new node, incoming while a move from another node brings its rows here. No tenant foreign key: a moved-out tenant''s rows are purged and its fence stays; an incoming tenant''s rows arrive after its fence.';
COMMENT ON COLUMN helpdesk.tenant_fence.state IS
	'fenced (a move to another node is switching: retry shortly), moved_out (the tenant lives on another node now) or incoming (a move from another node is bringing the tenant here: it is served there until the switch).';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.tenant_fence', '');
-- every change drops the backends' cached fence list (the trigger only
-- sends a relcache invalidation of the table it fires on)
COMMENT ON FUNCTION helpdesk._tenant_grant_changed() IS
	'Statement trigger on tenant_grant and tenant_fence: invalidates every backend''s cached tenant access (and fence list) at commit.';
CREATE TRIGGER tenant_fence_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON helpdesk.tenant_fence FOR EACH STATEMENT EXECUTE FUNCTION helpdesk._tenant_grant_changed();

CREATE FUNCTION helpdesk.set_tenant_fence(tenant_id bigint, state text)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_set_tenant_fence';
COMMENT ON FUNCTION helpdesk.set_tenant_fence(bigint, text) IS
	'Fence a tenant on this node (''fenced'': its calls get 55000 for a move''s last seconds), mark it ''moved_out'' (the directory names its new node) or ''incoming'' (a move''s target, before the tenant''s rows arrive), or NULL to lift the fence (a move called off, or switched to this node). Returns the previous state (NULL: none). Needs every tenant (the move''s operator); a moved-out tenant cannot be unfenced, only come back once its rows are gone.';

CREATE FUNCTION helpdesk._tenant_placed_support(internal) RETURNS internal
LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'hd_tenant_placed_support';
COMMENT ON FUNCTION helpdesk._tenant_placed_support(internal) IS
	'Internal: the planner''s support of _tenant_placed (a selectivity of 1: fences are rare and few).';
CREATE FUNCTION helpdesk._tenant_placed(tenant_id bigint) RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL SAFE SUPPORT helpdesk._tenant_placed_support
AS 'MODULE_PATHNAME', 'hd_tenant_placed';
COMMENT ON FUNCTION helpdesk._tenant_placed(bigint) IS
	'Internal (the workers'' due-work statements): false while the tenant is fenced, incoming or moved out on this node. Reads the backend''s cached fence list; one compare when no fence exists.';

CREATE FUNCTION helpdesk._announce_tenant_move(tenant_id bigint, bridge_url text, target_position bigint)
RETURNS integer LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_announce_tenant_move';
COMMENT ON FUNCTION helpdesk._announce_tenant_move(bigint, text, bigint) IS
	'Internal (scripts/move-tenant, on the source once the directory names the new node): a tenant.moved event {tenant_id, position, bridge_url} to every customer with an open session and every enabled agent of the tenant, after all its events here; its clients continue at bridge_url from position. Returns the number of events.';

-- >>> extension/bridge_api/20_moved_log.sql (copied verbatim)
-- A moved tenant's events from the log of the node it left (scripts/move-tenant,
-- docs/scale-out-move.md), kept on the node it moved to so that a client that
-- was offline during the move resumes from a position of the old log: the
-- bridge replays the rest of the old log from here, then continues in this
-- node's log from next_pos. Written by the move script only.

CREATE TABLE helpdesk.moved_log (
	tenant_id  bigint NOT NULL REFERENCES helpdesk.tenant (id) ON DELETE CASCADE,
	log_id     uuid NOT NULL,
	last_pos   bigint NOT NULL CHECK (last_pos >= 0),
	next_pos   bigint NOT NULL CHECK (next_pos >= 0),
	arrived_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, log_id)
);
COMMENT ON TABLE helpdesk.moved_log IS
	'A tenant that moved here from another node''s event log: last_pos is the last position of that log copied into moved_event, next_pos the position of this node''s log before the tenant''s first event here.';
COMMENT ON COLUMN helpdesk.moved_log.log_id IS 'The other node''s helpdesk.event_log_id().';
COMMENT ON COLUMN helpdesk.moved_log.next_pos IS
	'Where a client continues in this node''s log once it has read the old log to last_pos: every event of the tenant here comes after it.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.moved_log', '');

CREATE TABLE helpdesk.moved_event (
	tenant_id   bigint NOT NULL,
	log_id      uuid NOT NULL,
	pos         bigint NOT NULL CHECK (pos > 0),
	audience    text NOT NULL CHECK (audience IN ('session', 'session_staff', 'agent', 'queue', 'customer', 'tenant')),
	audience_id bigint,
	session_id  bigint,
	message_id  bigint,
	type        text NOT NULL CHECK (type <> ''),
	payload     jsonb NOT NULL DEFAULT '{}',
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, log_id, pos),
	FOREIGN KEY (tenant_id, log_id) REFERENCES helpdesk.moved_log ON DELETE CASCADE
);
COMMENT ON TABLE helpdesk.moved_event IS
	'The events a moved tenant had in its old node''s log (positions of that log), for clients resuming from there; aged out by prune_events like the log itself.';
SELECT pg_catalog.pg_extension_config_dump('helpdesk.moved_event', '');

CREATE FUNCTION helpdesk.bridge_moved_log(tenant_id bigint, log_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	l helpdesk.moved_log;
BEGIN
	PERFORM helpdesk._require_tenant($1);	-- 42501 before anything
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION 'tenant_id and log_id must not be NULL' USING ERRCODE = '22004';
	END IF;
	IF $2 = helpdesk.event_log_id() THEN
		RETURN NULL;
	END IF;
	SELECT * INTO l FROM helpdesk.moved_log m WHERE m.tenant_id = $1 AND m.log_id = $2;
	IF NOT FOUND THEN
		RETURN jsonb_build_object('known', false);
	END IF;
	RETURN jsonb_build_object('known', true, 'log_id', l.log_id, 'last_pos', l.last_pos,
		'next_pos', l.next_pos,
		'oldest', coalesce((SELECT min(e.pos) - 1 FROM helpdesk.moved_event e
		                    WHERE e.tenant_id = $1 AND e.log_id = $2), l.last_pos));
END
$$;
COMMENT ON FUNCTION helpdesk.bridge_moved_log(bigint, uuid) IS
	'For helpdesk-bridge at connect, when a client names the log of its position (?log=): NULL for this node''s log; {"known": false} for a log the tenant did not move here from; else the old log''s last copied position, where to continue in this log (next_pos, a position of event_log_id) and the oldest position still replayable.';

-- bridge_moved_events's argument checks (a SQL function cannot raise; a
-- PL/pgSQL one cannot have tenant_id both as an argument and a column)
CREATE FUNCTION helpdesk._moved_events_args(after_pos bigint, max_rows integer, tenant_id bigint, log_id uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM helpdesk._require_tenant($3);	-- 42501 before anything
	IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL THEN
		RAISE EXCEPTION 'after_pos, max_rows, tenant_id and log_id must not be NULL'
			USING ERRCODE = '22004';
	END IF;
	IF $2 NOT BETWEEN 1 AND 100000 THEN
		RAISE EXCEPTION 'max_rows must be between 1 and 100000, got %', $2 USING ERRCODE = '22023';
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION helpdesk._moved_events_args(bigint, integer, bigint, uuid) IS
	'Internal: bridge_moved_events''s checks (42501, 22004, 22023), as its one-time filter.';

CREATE FUNCTION helpdesk.bridge_moved_events(
	after_pos bigint, max_rows integer, tenant_id bigint, log_id uuid)
RETURNS TABLE (pos bigint, tenant_id bigint, type text, audience text, audience_id bigint,
	session_id bigint, customer_id bigint, payload jsonb, message jsonb, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	-- the same columns as bridge_events; sessions and messages were moved
	-- with the tenant, under the same ids
	SELECT e.pos, e.tenant_id, e.type, e.audience, e.audience_id, e.session_id,
	       (SELECT s.customer_id FROM helpdesk.session s
	        WHERE s.tenant_id = e.tenant_id AND s.id = e.session_id),
	       e.payload,
	       (SELECT jsonb_build_object(
	         'id', m.id, 'session_id', m.session_id, 'sender_kind', m.sender_kind,
	         'sender_id', m.sender_id, 'type', m.type, 'body', m.body,
	         'attachment', m.attachment, 'options', m.options,
	         'client_msg_id', m.client_msg_id, 'created_at', m.created_at)
	        FROM helpdesk.message m WHERE m.tenant_id = e.tenant_id AND m.id = e.message_id),
	       e.created_at
	FROM helpdesk.moved_event e
	WHERE helpdesk._moved_events_args($1, $2, $3, $4)
	  AND e.tenant_id = $3 AND e.log_id = $4 AND e.pos > $1
	ORDER BY e.pos
	LIMIT greatest($2, 1)	-- a LIMIT 0 would skip the checks above
$$;
COMMENT ON FUNCTION helpdesk.bridge_moved_events(bigint, integer, bigint, uuid) IS
	'Like bridge_events, from a moved tenant''s copy of its old node''s log (moved_event): what a client resuming from a position of that log missed there. Read by helpdesk-bridge.';

-- >>> extension/access.sql (copied verbatim)
-- Grants and row level security, decided in one place after every subsystem
-- (Makefile SQL_PARTS: before finish.sql). The same statements end
-- extension/upgrade/pg_helpdesk--0.1.0--0.2.0.sql. docs/security.md is the
-- generated view of this file (scripts/security_matrix); test/pgtap/
-- access_catalog.sql fails on a function without a row here, an ACL that
-- differs from it, a table without row level security or a view without
-- security_invoker.

-- The matrix. Letters: A helpdesk_admin, S helpdesk_supervisor, G
-- helpdesk_agent, Q helpdesk_qa, P helpdesk_api, B helpdesk_bridge, R
-- helpdesk_reader, * PUBLIC; '' no one (internal: triggers, workers, the
-- checks our own functions call).
DELETE FROM helpdesk.function_grant;
INSERT INTO helpdesk.function_grant (function_name, roles, why)
SELECT f, ARRAY(SELECT CASE c WHEN 'A' THEN 'helpdesk_admin' WHEN 'S' THEN 'helpdesk_supervisor'
		WHEN 'G' THEN 'helpdesk_agent' WHEN 'Q' THEN 'helpdesk_qa' WHEN 'P' THEN 'helpdesk_api'
		WHEN 'B' THEN 'helpdesk_bridge' WHEN 'R' THEN 'helpdesk_reader' WHEN '*' THEN 'PUBLIC' END
	FROM unnest(string_to_array(l, NULL)) c ORDER BY 1), w
FROM (VALUES
	-- internal
	('_activate', '', 'starts the workers at CREATE EXTENSION'),
	('_agent_disable_bump', '', 'trigger'),
	('_autoclose_pass', '', 'the dispatcher''s auto-close stage (tests call it as superuser)'),
	('_next_event_id', '', 'column default of event ids'),
	('_session_sla_start', '', 'trigger'),
	('_tenant_grant_changed', '', 'trigger'),
	('_config_audit', '', 'trigger'),
	('_announce_tenant_move', '', 'scripts/move-tenant, as the move''s operator (superuser)'),
	('_tenant_placed', '', 'the workers'' due-work filter (HD_PLACED)'),
	('_tenant_placed_support', '', 'planner support of _tenant_placed'),
	('_require_tenant', '', 'called inside our SECURITY DEFINER SQL functions'),
	('_moved_events_args', '', 'bridge_moved_events''s checks, inside it'),
	-- predicates anyone may evaluate
	('transition_allowed', '*', 'the session state machine, no data'),
	('ticket_transition_allowed', '*', 'the ticket state machine, no data'),
	('may_read_tenant', '*', 'row level security predicate'),
	('acts_for_all_tenants', '*', 'row level security predicate'),
	-- tenants, bindings, maintenance
	('upsert_tenant', 'A', 'creates or changes a tenant (needs every tenant)'),
	('set_tenant_language', 'A', 'tenant configuration'),
	('grant_tenant', 'A', 'binds a role to a tenant the caller acts for'),
	('revoke_tenant', 'A', 'unbinds'),
	('prune_events', 'A', 'maintenance of every tenant (needs every tenant)'),
	('prune_webhook_deliveries', 'A', 'maintenance of every tenant (needs every tenant)'),
	('prune_player_api', 'A', 'maintenance of every tenant (needs every tenant)'),
	('set_tenant_fence', 'A', 'moves a tenant between nodes: fences its calls on this node (needs every tenant)'),
	('worker_status', 'AR', 'workers of this database, no tenant data'),
	('publisher_lag', 'AR', 'a number, no tenant data'),
	('config_audit_log', 'ASR', 'who changed which configuration'),
	-- configuration
	('set_routing', 'A', 'tenant configuration'),
	('upsert_agent', 'A', 'agent directory'),
	('set_agent_role', 'A', 'agent directory'),
	('set_agent_password', 'A', 'agent credentials'),
	('set_agent_queue_limit', 'AS', 'staffing'),
	('set_agent_ticket_capacity', 'AS', 'staffing'),
	('upsert_queue', 'A', 'queue configuration'),
	('set_queue_routing', 'A', 'queue configuration'),
	('set_queue_sla', 'A', 'queue configuration'),
	('set_queue_max_wait_action', 'A', 'queue configuration'),
	('set_queue_ticket_strategy', 'A', 'queue configuration'),
	('upsert_issue_type', 'A', 'ticket configuration'),
	('upsert_urgency_rule', 'A', 'ticket configuration'),
	('set_ticket_settings', 'A', 'ticket configuration'),
	('upsert_calendar', 'A', 'calendars'),
	('upsert_sla_policy', 'A', 'SLA'),
	('delete_sla_policy', 'A', 'SLA'),
	('set_autoclose', 'A', 'auto-close'),
	('autoclose_settings', 'ASR', 'reads auto-close settings'),
	('set_csat', 'A', 'CSAT configuration'),
	('set_system_text', 'AS', 'system texts'),
	('upsert_webhook', 'A', 'webhooks'),
	('webhook_secret', 'A', 'shows a webhook''s signing secret'),
	('redeliver', 'A', 'webhook operations'),
	('replay_webhooks', 'A', 'webhook operations'),
	('upsert_bot', 'A', 'bots'),
	('delete_bot', 'A', 'bots'),
	('issue_bot_token', 'A', 'signs a webhook bot''s bridge token (configuration, like its secret)'),
	('revoke_bot_tokens', 'A', 'revokes a webhook bot''s bridge tokens'),
	('upsert_app', 'A', 'player API apps and their secrets'),
	('revoke_app', 'A', 'player API apps'),
	-- tokens, login, the signed player API
	('issue_token', 'APB', 'signs bridge tokens for customers and agents'),
	('verify_token', 'PB', 'checks a bridge token'),
	('agent_login', 'PB', 'the console''s login, through the bridge'),
	('logout_agent', 'ASGB', 'revokes an agent''s login tokens'),
	('verify_signed_request', 'PB', 'the player API''s signature check'),
	('rate_limit_hit', 'PB', 'the player API''s rate limits'),
	-- customers and sessions (the service side)
	('upsert_customer', 'APB', 'customer directory, from the game backend'),
	('start_session', 'PB', 'a customer starts a chat'),
	('request_agent', 'PB', 'a customer asks for a human'),
	('contact_support', 'PB', 'the offline form'),
	('submit_csat', 'PB', 'a customer''s survey answer'),
	('bot_reply', 'PB', 'an external bot answers'),
	('bot_bridge_answer', 'B', 'a bot token''s answer, through the bridge (checks the token''s bot and version)'),
	('bot_bridge_handoff', 'B', 'a bot token''s hand-off, through the bridge (checks the token''s bot and version)'),
	('handoff_to_agent', 'SPB', 'a bot or supervisor hands a chat to agents'),
	('post_message', 'SGPB', 'a message from a customer or an agent'),
	('close_session', 'SGPB', 'ends a chat'),
	('escalate_session', 'SGPB', 'turns a chat into a ticket'),
	('mark_delivered', 'SGPB', 'receipts'),
	('mark_read', 'SGPB', 'receipts'),
	-- agents at work
	('set_agent_status', 'SGB', 'presence'),
	('agent_heartbeat', 'SGB', 'presence'),
	('presence_timeout_ms', 'B', 'the bridge''s heartbeat period'),
	('accept_offer', 'SGB', 'routing'),
	('decline_offer', 'SGB', 'routing'),
	('claim_session', 'SGB', 'routing'),
	('transfer_session', 'SGB', 'routing'),
	('send_agent_message', 'SGB', 'agent to agent'),
	('queue_position', 'SGPB', 'a waiting customer''s place'),
	-- tickets
	('create_ticket', 'SGPB', 'tickets'),
	('reply_ticket', 'SGPB', 'tickets'),
	('add_ticket_note', 'SGB', 'internal notes'),
	('set_ticket_status', 'SGB', 'tickets'),
	('set_ticket_priority', 'SGB', 'tickets'),
	('set_ticket_tags', 'SGB', 'tickets'),
	('set_ticket_attributes', 'SGB', 'tickets'),
	('set_ticket_queue', 'SGB', 'tickets'),
	('assign_ticket', 'SGB', 'tickets'),
	('take_ticket', 'SGB', 'tickets'),
	('mark_ticket_delivered', 'SGPB', 'receipts'),
	('mark_ticket_read', 'SGPB', 'receipts'),
	('upsert_quick_reply', 'ASGB', 'quick replies'),
	('delete_quick_reply', 'ASGB', 'quick replies'),
	('search_quick_replies', 'SGB', 'quick replies'),
	('render_quick_reply', 'SGB', 'quick replies'),
	-- reads: transcripts, tickets, scores (QA and reporting too)
	('session_messages', 'ASGQPBR', 'transcripts'),
	('session_history', 'ASGQPBR', 'transcripts'),
	('customer_messages', 'ASGQPBR', 'transcripts'),
	('ticket_messages', 'ASGQPBR', 'ticket threads'),
	('get_ticket', 'ASGQPBR', 'tickets'),
	('list_tickets', 'ASGQPBR', 'tickets'),
	('ticket_sla', 'ASGQPBR', 'SLA state'),
	('bot_status', 'ASGQPBR', 'a session''s bot side'),
	('system_text', 'ASGPB', 'texts in a language'),
	('business_time_add', 'ASGPBR', 'calendar arithmetic'),
	('business_time_between', 'ASGPBR', 'calendar arithmetic'),
	-- the event log
	('events_since', 'PB', 'the event log (NULL tenant: needs every tenant)'),
	('bridge_events', 'B', 'the bridge''s read of the event log'),
	('bridge_subscriber', 'B', 'who a connecting bridge client is'),
	('bridge_moved_log', 'B', 'a client resuming from a moved tenant''s old log'),
	('bridge_moved_events', 'B', 'the bridge''s replay of a moved tenant''s old log'),
	('event_position', 'PBR', 'the log''s position'),
	('event_log_id', 'PBR', 'the log''s identity'),
	-- uploads, CORS, the player API's routes (security/40-42)
	('player_call', 'PB', 'one signed player API request'),
	('store_upload', 'PB', 'keeps an uploaded file'),
	('upload_info', 'B', 'the bridge serves an upload'),
	('upload_chunk', 'B', 'the bridge streams an upload'),
	('cors_origins', 'B', 'every tenant''s web origins, for the bridge (needs every tenant)'),
	('set_cors_origins', 'A', 'tenant configuration'),
	('prune_uploads', 'A', 'maintenance of every tenant (needs every tenant)'),
	('_upload_attachment', '', 'completes a player''s attachment inside player_call'),
	('_attachment_upload', '', 'trigger'),
	('_api_app_changed', '', 'trigger'),
	('_agent_routing_changed', '', 'trigger'),
	-- the console's reads through the bridge (bridge_api/10)
	('bridge_console_sessions', 'B', 'the console''s lists; trusts the kind and subject the bridge verified'),
	('bridge_console_customer', 'B', 'the console''s customer panel; trusts the verified subject'),
	('bridge_console_directory', 'B', 'the console''s agent and queue directory'),
	('bridge_history_before', 'B', 'the console''s and widget''s history paged backwards; trusts the verified subject'),
	-- trigger tasks and automation rules (automation/)
	('receive_task', 'APB', 'seed 003''s task API'),
	('cancel_task', 'APB', 'seed 003''s task API'),
	('task_status', 'ASPBR', 'seed 003''s task API'),
	('list_tasks', 'ASPBR', 'seed 003''s task API'),
	('set_task_settings', 'A', 'tenant configuration'),
	('task_callback_secret', 'A', 'shows the callbacks'' signing secret'),
	('upsert_rule', 'A', 'automation rules'),
	('delete_rule', 'A', 'automation rules'),
	('test_rule', 'AS', 'a dry run of a rule'),
	('_task_pass', '', 'the dispatcher''s task stage (tests call it as superuser)'),
	-- reports, rollups, dashboard (reports/00-39)
	('report_sessions', 'ASQPR', 'reports'),
	('report_agents', 'ASQPR', 'reports'),
	('report_tickets', 'ASQPR', 'reports'),
	('report_sla', 'ASQPR', 'reports'),
	('report_csat', 'ASQPR', 'reports'),
	('report_funnel', 'ASQPR', 'reports'),
	('rebuild_rollups', 'A', 'recomputes a range of rollups'),
	('set_report_settings', 'A', 'tenant configuration'),
	('set_queue_report_settings', 'A', 'queue configuration'),
	('_bucket', '', 'reports internals'),
	('_us', '', 'reports internals'),
	('_session_facts', '', 'reports internals'),
	('_fact_session', '', 'reports internals'),
	('_fact_offer', '', 'reports internals'),
	('_fact_ticket', '', 'reports internals'),
	('_fact_sla', '', 'reports internals'),
	('_fact_csat', '', 'reports internals'),
	('_fact_occupancy', '', 'reports internals'),
	('_ticket_buckets', '', 'reports internals'),
	('_rollup_recompute', '', 'reports internals'),
	('_rollup_reseen', '', 'reports internals'),
	('_rollup_days', '', 'reports internals'),
	('_local_days', '', 'reports internals'),
	('_report_check', '', 'reports internals'),
	('_report_query', '', 'reports internals'),
	-- metrics, import, search, retention (reports/40-79)
	('metrics', 'AB', 'every tenant''s Prometheus series (needs every tenant)'),
	('begin_import', 'AP', 'bulk import'),
	('run_import', 'AP', 'bulk import'),
	('import_errors', 'AP', 'bulk import'),
	('_import_tenant', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('_import_id', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('_import_line', 'AP', 'a staging column''s default, evaluated as the COPYing role'),
	('search_messages', 'ASGQPB', 'search over chat and ticket history'),
	('search_tokens', '*', 'the search keys of a text, no data'),
	('index_messages', 'A', 'the search index job of every tenant (needs every tenant)'),
	('rebuild_search_index', 'A', 'search maintenance'),
	('set_message_retention', 'A', 'tenant configuration'),
	('retention_batch', 'A', 'retention maintenance'),
	('run_retention', 'A', 'the retention job of every tenant (needs every tenant)')
) m(f, l, w)
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = 'helpdesk'::regnamespace AND p.proname = m.f);

-- Apply it: nothing for PUBLIC unless the matrix says so, then EXECUTE per row.
DO $$
DECLARE
	p record;
	r text;
BEGIN
	FOR p IN SELECT f.oid::regprocedure AS sig, g.roles
		FROM pg_catalog.pg_proc f
		LEFT JOIN helpdesk.function_grant g ON g.function_name = f.proname
		WHERE f.pronamespace = 'helpdesk'::regnamespace
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', p.sig);
		FOREACH r IN ARRAY coalesce(p.roles, '{}')
		LOOP
			EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %s', p.sig,
				CASE r WHEN 'PUBLIC' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r) END);
		END LOOP;
	END LOOP;
END
$$;

-- The configuration audit (security/35_config_audit.sql, audit.c): a row
-- trigger on each configuration table, firing on the configuration columns
-- only (every column but the state ones listed, which the workers and the
-- presence path keep). Arguments: object type, key columns, tenant column,
-- the state columns. A later subsystem's configuration table (automation
-- rules...) gets a line here.
DO $$
DECLARE
	t record;
	cols text;
BEGIN
	FOR t IN SELECT * FROM (VALUES
		('tenant', 'tenant', 'id', 'id', ARRAY['created_at', 'updated_at', 'dispatch_error']),
		('agent', 'agent', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'status', 'last_seen_at',
			'load', 'status_changed_at', 'capacity_changed_at', 'presence_lost_at', 'status_before_loss',
			'missed_offers', 'last_activity_at', 'dispatch_error', 'open_tickets', 'last_ticket_at',
			'token_version']),
		('agent_credential', 'agent', 'agent_id', 'tenant_id', ARRAY['failed_attempts', 'locked_until',
			'last_failed_at', 'last_login_at']),
		('agent_queue_limit', 'agent', 'agent_id,queue_id', 'tenant_id', ARRAY[]::text[]),
		('queue', 'queue', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'rr_cursor',
			'ticket_rr_cursor', 'dispatch_error']),
		('issue_type', 'routing', 'code', 'tenant_id', ARRAY[]::text[]),
		('urgency_rule', 'routing', 'id', 'tenant_id', ARRAY[]::text[]),
		('calendar', 'calendar', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('sla_policy', 'sla', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('autoclose_setting', 'autoclose', 'rule', 'tenant_id', ARRAY['updated_at']),
		('system_text', 'system_text', 'key,language', 'tenant_id', ARRAY['updated_at']),
		('webhook', 'webhook', 'id', 'tenant_id', ARRAY['created_at', 'updated_at', 'failing_since']),
		('bot', 'bot', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('api_app', 'app', 'app_id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('tenant_grant', 'tenant_grant', 'grantee', 'tenant_id', ARRAY['granted_at']),
		('automation_rule', 'rule', 'id', 'tenant_id', ARRAY['created_at', 'updated_at']),
		('automation_settings', 'task_settings', 'tenant_id', 'tenant_id', ARRAY['updated_at']),
		('cors_origin', 'cors', 'origin', 'tenant_id', ARRAY['created_at']),
		('retention_setting', 'retention', 'tenant_id', 'tenant_id', ARRAY['events_done', 'updated_at'])
	) m(rel, kind, keys, tenant_col, state)
	WHERE pg_catalog.to_regclass('helpdesk.' || m.rel) IS NOT NULL
	LOOP
		-- by name: an upgraded table's column order differs from a fresh one's
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attname) INTO cols
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = ('helpdesk.' || t.rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attname <> ALL (t.state);
		EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS config_audit ON helpdesk.%I', t.rel);
		EXECUTE pg_catalog.format('CREATE TRIGGER config_audit AFTER INSERT OR DELETE OR UPDATE OF %s '
			'ON helpdesk.%I FOR EACH ROW EXECUTE FUNCTION helpdesk._config_audit(%L, %L, %L%s)',
			cols, t.rel, t.kind, t.keys, t.tenant_col,
			(SELECT pg_catalog.string_agg(pg_catalog.format(', %L', c), '') FROM unnest(t.state) c));
	END LOOP;
END
$$;

-- Row level security on every table of schema helpdesk: rows of the tenants
-- the current role may act for (tenant: its own row; the tables without a
-- tenant: only for roles acting for every tenant, except the state machines
-- and the grant matrix, which anyone may read). The owner, which our
-- SECURITY DEFINER functions run as, and superusers are not bound (not
-- FORCEd), so the API pays nothing. Readers (helpdesk_reader, helpdesk_qa, helpdesk_admin)
-- get SELECT on every column except bytea ones (sealed secrets, hashes,
-- uploaded content) and none on agent_credential; views run as the invoker,
-- so the same policies apply through them.
DO $$
DECLARE
	t record;
	cols text;
	pred text;
BEGIN
	FOR t IN SELECT c.oid::regclass AS rel, c.relname, c.relkind
		FROM pg_catalog.pg_class c
		WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
		ORDER BY c.relname
	LOOP
		IF t.relkind = 'v' THEN
			EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', t.rel);
		ELSE
			IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.rel
				AND a.attname = 'tenant_id' AND NOT a.attisdropped) THEN
				pred := 'helpdesk.may_read_tenant(tenant_id)';
			ELSIF t.relname = 'tenant' THEN
				pred := 'helpdesk.may_read_tenant(id)';
			ELSIF t.relname IN ('session_transition', 'ticket_transition', 'function_grant') THEN
				pred := 'true';
			ELSE
				pred := 'helpdesk.acts_for_all_tenants()';
			END IF;
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.rel);
			EXECUTE pg_catalog.format('DROP POLICY IF EXISTS tenant_rows ON %s', t.rel);
			EXECUTE pg_catalog.format('CREATE POLICY tenant_rows ON %s USING (%s) WITH CHECK (%s)',
				t.rel, pred, pred);
		END IF;
		IF t.relname = 'agent_credential' THEN
			CONTINUE;
		END IF;
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
			INTO cols
			FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.atttypid <> 'bytea'::regtype;
		IF cols IS NOT NULL THEN
			EXECUTE pg_catalog.format('GRANT SELECT (%s) ON %s TO helpdesk_reader, helpdesk_qa, helpdesk_admin',
				cols, t.rel);
		END IF;
	END LOOP;
END
$$;
GRANT USAGE ON SCHEMA helpdesk TO helpdesk_admin, helpdesk_supervisor, helpdesk_agent,
	helpdesk_qa, helpdesk_api, helpdesk_bridge, helpdesk_reader;
-- The bulk import's staging tables are the one place a role writes rows
-- itself: COPY ... FROM STDIN after begin_import (reports/50_import.sql); the
-- rows' tenant comes from the session's import, under the tenant policy.
GRANT INSERT ON helpdesk.import_customer, helpdesk.import_agent, helpdesk.import_queue,
	helpdesk.import_quick_reply TO helpdesk_admin, helpdesk_api;
-- <<< extension/access.sql

