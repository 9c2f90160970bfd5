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
