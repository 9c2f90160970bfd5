-- SQL API: thin declarations of C functions. Each runs as the extension owner
-- (SECURITY DEFINER) with a pinned search_path; tables are not granted to
-- application roles.

-- the tenant access check (security/access.c) for SQL-language API functions
CREATE FUNCTION helpdesk._require_tenant(tenant_id bigint)
RETURNS boolean LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'hd_sql_require_tenant';
COMMENT ON FUNCTION helpdesk._require_tenant(bigint) IS
	'The tenant access check for SQL-language API functions: true, or 42501 when the calling role (outside SECURITY DEFINER) may not act for tenant_id (NULL: for every tenant).';

CREATE FUNCTION helpdesk.upsert_tenant(
	slug text, name text, bot_enabled boolean DEFAULT NULL,
	heartbeat_interval interval DEFAULT NULL, heartbeat_misses integer DEFAULT NULL,
	settings jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_tenant';
COMMENT ON FUNCTION helpdesk.upsert_tenant IS
	'Create or update a tenant by slug; NULL arguments keep stored values. Returns the tenant id.';

CREATE FUNCTION helpdesk.upsert_agent(
	tenant_id bigint, external_id text, display_name text, skills jsonb DEFAULT NULL,
	languages text[] DEFAULT NULL, max_sessions integer DEFAULT NULL,
	enabled boolean DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_agent';
COMMENT ON FUNCTION helpdesk.upsert_agent IS
	'Create or update an agent by external id: skills {"name": level 1..10}, languages, capacity. Returns the agent id.';

CREATE FUNCTION helpdesk.upsert_queue(
	tenant_id bigint, external_id text, name text, required_skills text[] DEFAULT NULL,
	required_languages text[] DEFAULT NULL, strategy text DEFAULT NULL,
	offer_timeout interval DEFAULT NULL, max_wait interval DEFAULT NULL,
	overflow_queue_id bigint DEFAULT NULL, is_default boolean DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_queue';
COMMENT ON FUNCTION helpdesk.upsert_queue IS
	'Create or update a queue by external id. max_wait ''0 s'' and overflow_queue_id 0 clear those settings. Returns the queue id.';

CREATE FUNCTION helpdesk.upsert_customer(
	tenant_id bigint, external_id text, display_name text DEFAULT NULL,
	vip_level integer DEFAULT NULL, language text DEFAULT NULL, attributes jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_upsert_customer';
COMMENT ON FUNCTION helpdesk.upsert_customer IS
	'Create or update a customer by external id; attributes merge key by key (null removes a key). Returns the customer id.';

CREATE FUNCTION helpdesk.start_session(
	tenant_id bigint, customer_id bigint, channel text DEFAULT 'web',
	queue_id bigint DEFAULT NULL, issue_type text DEFAULT NULL,
	first_message text DEFAULT NULL, attributes jsonb DEFAULT NULL,
	priority integer DEFAULT 0, client_msg_id text DEFAULT NULL,
	OUT session_id bigint, OUT created boolean, OUT state text, OUT message_id bigint)
RETURNS record LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_start_session';
COMMENT ON FUNCTION helpdesk.start_session IS
	'Open a session for a customer, or return the one already open (created = false). Safe under concurrent calls.';

CREATE FUNCTION helpdesk.request_agent(
	tenant_id bigint, session_id bigint, queue_id bigint DEFAULT NULL,
	priority integer DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_request_agent';
COMMENT ON FUNCTION helpdesk.request_agent IS
	'Hand a session from the bot (or another queue, or back from an agent) to a queue of human agents; the queue comes from the argument, the session, its issue type or the tenant default. priority (seconds of head start, -1000..1000) replaces the stored one. Returns the queue id.';

CREATE FUNCTION helpdesk.close_session(
	tenant_id bigint, session_id bigint, reason text DEFAULT NULL,
	closed_by text DEFAULT 'system', actor_id bigint DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_close_session';
COMMENT ON FUNCTION helpdesk.close_session IS
	'Close a session (customer, agent, bot or system; customer/agent need actor_id). Returns the previous state.';

CREATE FUNCTION helpdesk.post_message(
	tenant_id bigint, session_id bigint, sender_kind text, sender_id bigint,
	body text, type text DEFAULT 'text', client_msg_id text DEFAULT NULL,
	attachment jsonb DEFAULT NULL, options jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_post_message_sql';
COMMENT ON FUNCTION helpdesk.post_message IS
	'Store a message once per client_msg_id and log message.created. Returns the message id (the stored one on a retry).';

CREATE FUNCTION helpdesk.mark_delivered(
	tenant_id bigint, session_id bigint, reader_kind text, reader_id bigint,
	up_to_message_id bigint)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_mark_delivered';
COMMENT ON FUNCTION helpdesk.mark_delivered IS
	'Receipt: the reader''s client received the other side''s messages up to an id. Returns how many were marked.';

CREATE FUNCTION helpdesk.mark_read(
	tenant_id bigint, session_id bigint, reader_kind text, reader_id bigint,
	up_to_message_id bigint)
RETURNS integer LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_mark_read';
COMMENT ON FUNCTION helpdesk.mark_read IS
	'Receipt: the reader has read the other side''s messages up to an id (implies delivered). Returns how many were marked.';

CREATE FUNCTION helpdesk.session_messages(
	tenant_id bigint, session_id bigint, after_id bigint DEFAULT 0,
	max_rows integer DEFAULT 50, include_notes boolean DEFAULT false)
RETURNS TABLE (id bigint, session_id bigint, sender_kind text, sender_id bigint,
	type text, body text, attachment jsonb, options jsonb, client_msg_id text,
	created_at timestamptz, delivered_at timestamptz, read_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_session_messages';
COMMENT ON FUNCTION helpdesk.session_messages IS
	'A session''s messages oldest first, after a message id (page with the last id you got).';

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

CREATE FUNCTION helpdesk.customer_messages(
	tenant_id bigint, customer_id bigint, before_id bigint DEFAULT NULL,
	max_rows integer DEFAULT 50, include_notes boolean DEFAULT false)
RETURNS TABLE (id bigint, session_id bigint, sender_kind text, sender_id bigint,
	type text, body text, attachment jsonb, options jsonb, client_msg_id text,
	created_at timestamptz, delivered_at timestamptz, read_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_customer_messages';
COMMENT ON FUNCTION helpdesk.customer_messages IS
	'A customer''s messages across sessions, newest first, before a message id (NULL: from the newest).';

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

CREATE FUNCTION helpdesk.prune_events(keep interval DEFAULT '7 days')
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'hd_prune_events';
COMMENT ON FUNCTION helpdesk.prune_events(interval) IS
	'Retention: deletes events published longer ago than keep (the newest batch always stays). Returns events deleted. Schedule with pg_cron.';

CREATE FUNCTION helpdesk.event_position()
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

CREATE FUNCTION helpdesk.transition_allowed(from_state text, to_state text)
RETURNS boolean LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'hd_transition_allowed_sql';
COMMENT ON FUNCTION helpdesk.transition_allowed(text, text) IS
	'Whether the C state machine allows a session to go from one state to another.';

CREATE FUNCTION helpdesk.worker_status(
	OUT kind text, OUT state text, OUT pid integer, OUT restarts integer)
RETURNS SETOF record LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'hd_worker_status';
COMMENT ON FUNCTION helpdesk.worker_status() IS
	'This database''s pg_helpdesk background workers as the launcher sees them.';

CREATE FUNCTION helpdesk._next_event_id() RETURNS bigint LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'hd_next_event_id';
COMMENT ON FUNCTION helpdesk._next_event_id() IS
	'Internal: default of event.id. Takes the transaction id before the sequence value, which the publisher relies on to tell a late commit from a rollback.';
ALTER TABLE helpdesk.event ALTER COLUMN id SET DEFAULT helpdesk._next_event_id();

CREATE VIEW helpdesk.event_positions AS
	SELECT b.first_pos - 1 + row_number() OVER (PARTITION BY b.first_pos ORDER BY g.id) AS pos,
	       g.id AS event_id, b.published_at
	FROM helpdesk.event_batch b, unnest(b.ids) AS r, generate_series(lower(r), upper(r) - 1) AS g(id);
COMMENT ON VIEW helpdesk.event_positions IS
	'Every published position and its event id (expands event_batch; for checks and debugging).';

CREATE FUNCTION helpdesk.publisher_lag()
RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT count(*) FROM helpdesk.event e
	WHERE e.id > (SELECT settled_id FROM helpdesk.event_cursor)
	  AND NOT EXISTS (SELECT 1 FROM helpdesk.event_batch b WHERE b.max_id >= e.id AND b.ids @> e.id)
$$;
COMMENT ON FUNCTION helpdesk.publisher_lag() IS
	'Committed events (visible to the caller) that have no position yet; 0 when the publisher has caught up.';

CREATE FUNCTION helpdesk._activate() RETURNS void LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'hd_activate';
COMMENT ON FUNCTION helpdesk._activate() IS
	'Internal: asks the launcher to start this database''s workers when the transaction commits.';
