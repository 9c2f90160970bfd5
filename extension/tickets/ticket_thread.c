/*
 * ticket_thread.c — entries of a ticket's thread: checks (attachments as
 * chat messages have them, core's hd_check_attachment), idempotent replays
 * on a client id, and the insert with its event.
 *
 * Callers hold the ticket row FOR UPDATE, so two posts with one client id
 * to one ticket take turns on that lock, and the later one (a new snapshot
 * per statement) finds the earlier's row and replays it.
 */
#include "tickets.h"
#include "message.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

static const char *const sender_kinds[] = {"customer", "agent", "note", "system", "bot", NULL};
static const char *const message_types[] = {"text", "image", "file", "system", "csat", NULL};

void
hd_ticket_check_content(HdTicketPost *m)
{
	int64		bytes = 0;

	hd_check_enum("sender_kind", m->sender_kind, sender_kinds);
	hd_check_enum("message type", m->type, message_types);
	if (strcmp(m->type, "text") == 0 || strcmp(m->type, "system") == 0)
	{
		if (m->body == NULL || m->body[0] == '\0')
			hd_invalid("%s messages need a non-empty body", m->type);
	}
	else if (strcmp(m->type, "image") == 0 || strcmp(m->type, "file") == 0)
	{
		if (m->attachment && hd_attachment_hook)
			m->attachment = hd_attachment_hook(m->tenant_id, m->attachment);
		hd_check_attachment(m->attachment, strcmp(m->type, "image") == 0);
	}
	if (m->attachment && strcmp(m->type, "image") != 0 && strcmp(m->type, "file") != 0)
		hd_invalid("only image and file messages take an attachment, not %s messages", m->type);
	if ((strcmp(m->type, "system") == 0 || strcmp(m->type, "csat") == 0) &&
		strcmp(m->sender_kind, "system") != 0)
		hd_invalid("only the system sender may post %s messages, not %s", m->type, m->sender_kind);
	if (m->client_msg_id)
		hd_check_length("client_msg_id", m->client_msg_id, 1, 100);
	if (m->body)
		bytes += strlen(m->body);
	if (m->attachment)
		bytes += VARSIZE(m->attachment);
	hd_check_message_bytes(bytes);
}

/*
 * The ticket's own entry with this client id, or (with_follow_ups) one in a
 * follow-up of it: a customer's reply to a closed ticket lands in a
 * follow-up, and its retry, addressed to the old ticket, must find it there.
 */
static HdPlan find_replay = {
	"SELECT m.id, m.ticket_id, m.type = $5 AND m.body IS NOT DISTINCT FROM $6 "
	"       AND m.sender_id IS NOT DISTINCT FROM $7 AND m.attachment IS NOT DISTINCT FROM $8 "
	"FROM helpdesk.ticket_message m "
	"WHERE m.tenant_id = $1 AND m.sender_kind = $3 AND m.client_msg_id = $4 "
	"  AND (m.ticket_id = $2 OR ($9 AND m.ticket_id IN ("
	"       SELECT f.id FROM helpdesk.ticket f WHERE f.tenant_id = $1 AND f.follow_up_of = $2))) "
	"ORDER BY m.id LIMIT 1",
	9, {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, JSONBOID, BOOLOID}
};

/*
 * A client message id seen before: the stored message's id if it is the
 * same message (found), HD409 if the id was used for different content.
 */
int64
hd_ticket_find_replay(HdTicketPost *m, bool with_follow_ups, bool *found, int64 *in_ticket)
{
	Datum		v[9];
	char		n[10] = "         ";
	int64		id = 0;

	*found = false;
	if (m->client_msg_id == NULL)
		return 0;
	v[0] = Int64GetDatum(m->tenant_id);
	v[1] = Int64GetDatum(m->ticket_id);
	v[2] = CStringGetTextDatum(m->sender_kind);
	v[3] = CStringGetTextDatum(m->client_msg_id);
	v[4] = CStringGetTextDatum(m->type);
	v[5] = m->body ? CStringGetTextDatum(m->body) : (Datum) 0;
	n[5] = m->body ? ' ' : 'n';
	v[6] = Int64GetDatum(m->sender_id);
	n[6] = m->has_sender ? ' ' : 'n';
	v[7] = m->attachment ? JsonbPGetDatum(m->attachment) : (Datum) 0;
	n[7] = m->attachment ? ' ' : 'n';
	v[8] = BoolGetDatum(with_follow_ups);
	hd_exec(&find_replay, v, n, false, 1);
	if (SPI_processed == 0)
		return 0;
	*found = true;
	hd_get_int64(1, &id);
	if (in_ticket)
		hd_get_int64(2, in_ticket);
	if (!hd_get_bool(3))
		ereport(ERROR,
				(errcode(ERRCODE_HD_IDEMPOTENCY_CONFLICT),
				 errmsg("client_msg_id %s was already used for a different message in ticket %lld",
						hd_quote(m->client_msg_id), (long long) m->ticket_id),
				 errhint("Use a new client_msg_id for each new message; resend the same content to retry.")));
	return id;
}

/*
 * The row and, for the event, the message as clients render it. A note is
 * the staff's only (ticket.note, not public); everything else is
 * ticket.message, public.
 */
static HdPlan insert_message = {
	"INSERT INTO helpdesk.ticket_message (tenant_id, ticket_id, customer_id, sender_kind, "
	"  sender_id, type, body, attachment, client_msg_id) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
	"RETURNING id, jsonb_build_object('message', jsonb_build_object('id', id, "
	"  'sender_kind', sender_kind, 'sender_id', sender_id, 'type', type, 'body', body, "
	"  'attachment', attachment, 'client_msg_id', client_msg_id, 'created_at', created_at))::text",
	9, {INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID}
};

int64
hd_ticket_insert_message(HdTicketPost *m, HdTicketRow *t)
{
	Datum		v[9];
	char		n[10] = "         ";
	int64		id = 0;
	char	   *payload;
	bool		note = strcmp(m->sender_kind, "note") == 0;

	v[0] = Int64GetDatum(m->tenant_id);
	v[1] = Int64GetDatum(t->id);
	v[2] = Int64GetDatum(t->customer_id);
	v[3] = CStringGetTextDatum(m->sender_kind);
	v[4] = Int64GetDatum(m->sender_id);
	n[4] = m->has_sender ? ' ' : 'n';
	v[5] = CStringGetTextDatum(m->type);
	v[6] = m->body ? CStringGetTextDatum(m->body) : (Datum) 0;
	n[6] = m->body ? ' ' : 'n';
	v[7] = m->attachment ? JsonbPGetDatum(m->attachment) : (Datum) 0;
	n[7] = m->attachment ? ' ' : 'n';
	v[8] = m->client_msg_id ? CStringGetTextDatum(m->client_msg_id) : (Datum) 0;
	n[8] = m->client_msg_id ? ' ' : 'n';
	hd_exec(&insert_message, v, n, false, 1);
	hd_get_int64(1, &id);
	payload = hd_get_text(2);
	hd_ticket_event(m->tenant_id, t->id, note ? "ticket.note" : "ticket.message", payload, !note);
	return id;
}
