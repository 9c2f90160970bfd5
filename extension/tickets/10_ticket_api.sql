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
