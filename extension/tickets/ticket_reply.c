/*
 * ticket_reply.c — public replies and internal notes.
 *
 * A customer's reply moves the ticket: pending -> open; resolved -> open
 * (reopened) within the tenant's reopen_window after the resolve; after it,
 * or when the ticket is closed, the reply opens a follow-up ticket linked by
 * follow_up_of (or lands in the open follow-up made earlier). An agent's
 * reply to a new ticket opens it; agents cannot reply to a closed ticket.
 * Replies keep the ticket's activity timestamps: last_customer_at,
 * last_agent_at, last_public_sender and first_response_at (the first public
 * reply of an agent).
 */
#include "tickets.h"

#include "utils/builtins.h"

static const char *const statuses[] = {"new", "open", "pending", "resolved", "closed", NULL};

static HdPlan customer_activity = {
	"UPDATE helpdesk.ticket SET last_customer_at = now(), last_public_sender = 'customer', "
	"  updated_at = now() WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan agent_activity = {
	"UPDATE helpdesk.ticket SET last_agent_at = now(), last_public_sender = 'agent', "
	"  first_response_at = coalesce(first_response_at, now()), updated_at = now() "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
static HdPlan note_activity = {
	"UPDATE helpdesk.ticket SET updated_at = now() WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};
/* resolved within the tenant's reopen window? */
static HdPlan within_window = {
	"SELECT now() - $2 <= t.reopen_window FROM helpdesk.tenant t WHERE t.id = $1",
	2, {INT8OID, TIMESTAMPTZOID}
};
/* the newest follow-up that is not closed */
static HdPlan open_follow_up = {
	"SELECT id FROM helpdesk.ticket WHERE tenant_id = $1 AND follow_up_of = $2 "
	"  AND status <> 'closed' ORDER BY id DESC LIMIT 1",
	2, {INT8OID, INT8OID}
};
static HdPlan follow_up_source = {
	"SELECT subject, priority, issue_type, queue_id, channel FROM helpdesk.ticket "
	"WHERE tenant_id = $1 AND id = $2",
	2, {INT8OID, INT8OID}
};

/* Does a customer reply to t go to a follow-up (closed, or resolved too long ago)? */
static bool
needs_follow_up(int64 tenant_id, HdTicketRow *t)
{
	Datum		v[2];

	if (strcmp(t->status, "closed") == 0)
		return true;
	if (strcmp(t->status, "resolved") != 0)
		return false;
	if (!t->has_resolved_at)
		return false;
	v[0] = Int64GetDatum(tenant_id);
	v[1] = TimestampTzGetDatum(t->resolved_at);
	hd_exec(&within_window, v, NULL, false, 1);
	return !hd_get_bool(1);
}

/* A follow-up of t carrying the customer's reply as its first message. */
static int64
create_follow_up(HdTicketPost *m, HdTicketRow *t, int64 *ticket_out)
{
	Datum		v[2] = {Int64GetDatum(m->tenant_id), Int64GetDatum(t->id)};
	HdTicketNew n;
	int64		message_id,
				id;
	char	   *channel;

	hd_exec(&follow_up_source, v, NULL, false, 1);
	memset(&n, 0, sizeof(n));
	n.tenant_id = m->tenant_id;
	n.customer_id = t->customer_id;
	n.subject = hd_get_text(1);
	n.priority = hd_get_text(2);
	n.issue_type = hd_get_text(3);
	n.has_queue = hd_get_int64(4, &n.queue_id);
	channel = hd_get_text(5);
	/* the follow-up is written by the customer through the API, whatever the origin */
	n.channel = strcmp(channel, "chat") == 0 ? "api" : channel;
	n.has_follow_up = true;
	n.follow_up_of = t->id;
	n.body = m->body;
	n.type = m->type;
	n.attachment = m->attachment;
	n.client_msg_id = m->client_msg_id;
	id = hd_ticket_create(&n, &message_id);
	hd_ticket_event(m->tenant_id, t->id, "ticket.updated",
					psprintf("{\"change\": \"follow_up\", \"follow_up_id\": %lld}", (long long) id),
					true);
	*ticket_out = id;
	return message_id;
}

/*
 * The reply path shared by reply_ticket (customer, agent) and
 * add_ticket_note (note). new_status (agents only, may be NULL) is set in
 * the same transaction, after the reply. *ticket_out: the ticket the entry
 * landed in (a follow-up for some customer replies).
 */
static int64
post_reply(HdTicketPost *m, const char *new_status, int64 *ticket_out)
{
	HdTicketRow t;
	bool		customer = strcmp(m->sender_kind, "customer") == 0;
	bool		note = strcmp(m->sender_kind, "note") == 0;
	bool		found;
	int64		id,
				in_ticket = m->ticket_id,
				follow_up = 0;
	Datum		v[2];

	hd_ticket_check_content(m);
	if (!m->has_sender)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sender_id must not be NULL for %s messages", m->sender_kind)));
	hd_load_ticket(m->tenant_id, m->ticket_id, HD_LOCK_UPDATE, &t);
	*ticket_out = t.id;
	if (customer && m->sender_id != t.customer_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("customer %lld is not the customer of ticket %lld",
						(long long) m->sender_id, (long long) t.id)));
	if (!customer)
		hd_require_agent_may(m->tenant_id, m->sender_id,
							 note ? "write ticket notes" : "reply to tickets");

	/* a retry of a stored entry succeeds whatever happened to the ticket since */
	id = hd_ticket_find_replay(m, customer, &found, &in_ticket);
	if (found)
	{
		*ticket_out = in_ticket;
		return id;
	}

	if (customer && needs_follow_up(m->tenant_id, &t))
	{
		v[0] = Int64GetDatum(m->tenant_id);
		v[1] = Int64GetDatum(t.id);
		hd_exec(&open_follow_up, v, NULL, false, 1);
		if (SPI_processed == 0 || !hd_get_int64(1, &follow_up))
			return create_follow_up(m, &t, ticket_out);
		/* it lands in the follow-up made earlier, under that ticket's rules */
		m->ticket_id = follow_up;
		return post_reply(m, NULL, ticket_out);
	}
	hd_ticket_require_open(&t);

	id = hd_ticket_insert_message(m, &t);
	v[0] = Int64GetDatum(m->tenant_id);
	v[1] = Int64GetDatum(t.id);
	hd_exec(customer ? &customer_activity : note ? &note_activity : &agent_activity,
			v, NULL, false, 0);

	if (customer)
	{
		if (strcmp(t.status, "pending") == 0)
			(void) hd_ticket_set_status(m->tenant_id, &t, "open", "customer", m->sender_id,
										"customer replied");
		else if (strcmp(t.status, "resolved") == 0)
			(void) hd_ticket_set_status(m->tenant_id, &t, "open", "customer", m->sender_id,
										"reopened by a customer reply");
		hd_ticket_changed(m->tenant_id, t.id, HD_TICKET_CUSTOMER_REPLY);
	}
	else
	{
		if (new_status)
			(void) hd_ticket_set_status(m->tenant_id, &t, new_status, "agent", m->sender_id, NULL);
		else if (!note && strcmp(t.status, "new") == 0)
			(void) hd_ticket_set_status(m->tenant_id, &t, "open", "agent", m->sender_id,
										"agent replied");
		if (!note)
			hd_ticket_changed(m->tenant_id, t.id, HD_TICKET_AGENT_REPLY);
	}
	return id;
}

PG_FUNCTION_INFO_V1(hd_reply_ticket);

/*
 * helpdesk.reply_ticket(tenant_id, ticket_id, sender_kind, sender_id, body,
 *   type, client_msg_id, attachment, new_status): a public reply of the
 *   customer or an agent. Returns the message id.
 */
Datum
hd_reply_ticket(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "ticket_id", "sender_kind", "sender_id"};
	static const char *const kinds[] = {"customer", "agent", NULL};
	HdTicketPost m;
	char	   *new_status;
	int64		id,
				in_ticket;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 4, names);
	memset(&m, 0, sizeof(m));
	m.tenant_id = PG_GETARG_INT64(0);
	m.ticket_id = PG_GETARG_INT64(1);
	m.sender_kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	m.has_sender = true;
	m.sender_id = PG_GETARG_INT64(3);
	m.body = hd_arg_text_or_null(fcinfo, 4);
	m.type = PG_ARGISNULL(5) ? "text" : text_to_cstring(PG_GETARG_TEXT_PP(5));
	m.client_msg_id = hd_arg_text_or_null(fcinfo, 6);
	m.attachment = PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7);
	new_status = hd_arg_text_or_null(fcinfo, 8);
	hd_check_enum("sender_kind", m.sender_kind, kinds);
	if (new_status)
	{
		hd_check_enum("new_status", new_status, statuses);
		if (strcmp(m.sender_kind, "agent") != 0)
			hd_invalid("only an agent's reply can set new_status");
	}

	SPI_connect();
	id = post_reply(&m, new_status, &in_ticket);
	SPI_finish();
	PG_RETURN_INT64(id);
}

PG_FUNCTION_INFO_V1(hd_add_ticket_note);

/*
 * helpdesk.add_ticket_note(tenant_id, ticket_id, agent_id, body,
 *   client_msg_id, type, attachment): an internal note (staff only).
 */
Datum
hd_add_ticket_note(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tenant_id", "ticket_id", "agent_id"};
	HdTicketPost m;
	int64		id,
				in_ticket;

	hd_check_tenant_arg(fcinfo, 0);
	hd_require_args(fcinfo, 3, names);
	memset(&m, 0, sizeof(m));
	m.tenant_id = PG_GETARG_INT64(0);
	m.ticket_id = PG_GETARG_INT64(1);
	m.sender_kind = "note";
	m.has_sender = true;
	m.sender_id = PG_GETARG_INT64(2);
	m.body = hd_arg_text_or_null(fcinfo, 3);
	m.client_msg_id = hd_arg_text_or_null(fcinfo, 4);
	m.type = PG_ARGISNULL(5) ? "text" : text_to_cstring(PG_GETARG_TEXT_PP(5));
	m.attachment = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);

	SPI_connect();
	id = post_reply(&m, NULL, &in_ticket);
	SPI_finish();
	PG_RETURN_INT64(id);
}
