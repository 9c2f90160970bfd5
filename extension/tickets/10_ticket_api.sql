-- Tickets SQL API: thin declarations of the C functions in ticket_*.c. Each
-- runs as the extension owner (SECURITY DEFINER) with a pinned search_path.

CREATE FUNCTION helpdesk.ticket_transition_allowed(from_status text, to_status text)
RETURNS boolean LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'hd_ticket_transition_allowed_sql';
COMMENT ON FUNCTION helpdesk.ticket_transition_allowed IS
	'Whether the ticket status machine (C) allows from_status -> to_status; helpdesk.ticket_transition documents the same table.';
